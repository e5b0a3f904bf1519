"""Issue 34.8: on Run All, an exercise not done yet shows one line, not a traceback."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from jupyter_client.manager import KernelManager

from course_utils import kernel, nbtools
from course_utils.grading.course import COURSE_ROOT

pytestmark = pytest.mark.notebook
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _run(client, source: str) -> list[dict]:
    outputs = []
    client.execute_interactive(source, output_hook=lambda msg: outputs.append(msg), timeout=120)
    return [m for m in outputs if m["msg_type"] == "error"]


@pytest.fixture(scope="module")
def lab_kernel(tmp_path_factory):
    """The kernel JupyterLab starts: the installed kernelspec's own command line."""
    prefix = tmp_path_factory.mktemp("prefix")
    spec = json.loads((Path(kernel.install(str(prefix))) / "kernel.json").read_text())
    assert kernel.HINTS_ARGUMENT in spec["argv"]
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager

    class Specs(KernelSpecManager):
        def get_kernel_spec(self, name):
            return KernelSpec(**{**spec, "argv": spec["argv"]})

    env = {k: v for k, v in os.environ.items() if k != "NBGRADER_EXECUTION"}
    manager = KernelManager(kernel_name="bigram-course", kernel_spec_manager=Specs())
    manager.start_kernel(env=env, cwd=str(COURSE_ROOT))
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)
    yield client
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def test_an_untouched_exercise_says_so_in_one_line(lab_kernel):
    nb = nbtools.read(COURSE_ROOT / "notebooks" / "01_probability" / "probability.ipynb")
    found = nbtools.exercises(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not _run(lab_kernel, code[0].source)  # the imports
    assert not _run(lab_kernel, nb.cells[found["first_letter_distribution"].solution_index].source)
    (error,) = _run(lab_kernel, nb.cells[found["first_letter_distribution"].test_indices[0]].source)
    lines = [_ANSI.sub("", line) for line in error["content"]["traceback"]]
    assert lines == ["not attempted yet: write first_letter_distribution above"], lines
    assert error["content"]["ename"] == "NotImplementedError"  # the same failure, shown short

    # the lecture cell after it, and one reading what that cell would have set
    last = found["first_letter_distribution"].test_indices[-1]
    after = next(c.source for c in nb.cells[last + 1:] if c.cell_type == "code")
    (error,) = _run(lab_kernel, after)
    assert [_ANSI.sub("", x) for x in error["content"]["traceback"]] == [
        "needs first_letter_distribution first (an exercise above is not done yet)"]
    (error,) = _run(lab_kernel, "p_first.sum()")
    assert "needs first_letter_distribution first" in _ANSI.sub("", error["content"]["traceback"][0])
    assert error["content"]["ename"] == "NameError"

    # an error of the student's own keeps its traceback; a failed check keeps its short form
    (error,) = _run(lab_kernel, "{}['x']")
    assert error["content"]["ename"] == "KeyError" and len(error["content"]["traceback"]) > 1
    (error,) = _run(lab_kernel, "check(False, 'wrong')")
    assert any("AssertionError: wrong" in _ANSI.sub("", x) for x in error["content"]["traceback"])
