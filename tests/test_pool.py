"""The grading workers (course_utils.grading.pool): a grader's fault is tried once more, then
recorded as the grader's, never as a score; a kernel that never answers is such a fault."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import errors, pool
from course_utils.grading.course import Task
from course_utils.grading.execute import KernelDidNotStart, TrackedExecute

ATTEMPTS_ENV = "TEST_POOL_ATTEMPTS"


def _no_setup(_setup) -> None:
    """Stands for pool._start_worker (module level: pebble pickles it by name)."""


def _kernel_never_starts(task: Task):
    """Stands for pool._grade: counts its calls in a file (each may run in another worker)."""
    with open(os.environ[ATTEMPTS_ENV], "a") as log:
        log.write(f"{task.student}\n")
    raise KernelDidNotStart("the kernel did not start (RuntimeError: Kernel died before replying to kernel_info)")


def test_a_graders_fault_is_tried_once_more_then_failed_without_a_score(tmp_path, monkeypatch):
    attempts = tmp_path / "attempts"
    monkeypatch.setenv(ATTEMPTS_ENV, str(attempts))
    monkeypatch.setattr(pool, "_start_worker", _no_setup)
    monkeypatch.setattr(pool, "_grade", _kernel_never_starts)
    finished, failed = [], []
    done = pool.run([Task("ada", "01_probability", str(tmp_path))], None, jobs=1, time_limit=60,
                    finished=lambda *args: finished.append(args), failed=lambda *args: failed.append(args))
    assert done and finished == []
    assert attempts.read_text().split() == ["ada", "ada"]
    [(task, reason, _seconds)] = failed
    assert task.student == "ada"
    assert reason.grader_fault and isinstance(reason, errors.InternalError), repr(reason)
    assert str(reason).startswith("internal grading error (KernelDidNotStart: the kernel did not start"), reason


def test_a_kernel_that_dies_before_answering_is_not_the_students_fault(tmp_path):
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpec

    class DiesAtStart(AsyncKernelManager):
        @property
        def kernel_spec(self):
            return KernelSpec(argv=[sys.executable, "-c", "raise SystemExit(3)", "{connection_file}"],
                              display_name="dies at start", language="python")

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("answer = 42")])
    executor = TrackedExecute(kernel_manager_class=DiesAtStart, judge=False, check_integrity=False,
                              startup_timeout=20)
    with pytest.raises(KernelDidNotStart, match="the kernel did not start"):
        executor.preprocess(nb, {"metadata": {"path": str(Path(tmp_path))}})
