"""The grading workers: a pebble process pool that grades one submission per task, each within a time limit.

pebble does the pool's work (starting and replacing workers, per-task timeouts, telling a task
whose worker died from one that raised). What is the course's: a worker holds one
:class:`.autograde.Grader` for the run (made by the pool's initializer), dies with the grading
command, and on being stopped takes its kernels and their connection folders with it.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import errors
from .course import SOURCE_DIR, Task
from .settings import Grading


@dataclass(frozen=True)
class WorkerSetup:
    """Everything a worker needs to build its grader, the same for every worker of a run."""

    settings: Grading
    releases: dict[str, dict[str, str]]
    """assignment -> notebook name -> the student version's JSON."""
    stage: Path
    """The repaired copies nbgrader grades live below it, one folder per worker."""
    log_dir: Path
    """Each submission's grading log goes below it (<assignment>/<student>.log)."""
    worker_log: Path
    """The workers' own output (nbgrader's, the kernels', their libraries'), all workers appending."""
    runtime: str
    """The kernels' connection folders (short: Unix socket paths are limited)."""
    parent: int
    threads: int


_grader = None
_setup_failure: str | None = None


def _die_with_parent() -> None:
    """Linux: the worker is killed when the grading command dies (e.g. kill -9)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _remove_boxes(runtime: str, pid: int | None) -> None:
    """The connection folders of a worker's kernels (``sandbox.runtime_dir`` names them after it)."""
    if pid is not None:
        for box in Path(runtime).glob(f"nbsandbox-{pid}-*"):
            shutil.rmtree(box, ignore_errors=True)


def _stopped(runtime: str) -> Callable:
    """The worker's SIGTERM handler (pebble stops a worker whose task ran out of time with SIGTERM):
    its kernels go with it, whichever session they run in."""

    def handler(_signum, _frame) -> None:
        try:
            import psutil

            for child in psutil.Process().children(recursive=True):
                try:
                    child.kill()
                except psutil.NoSuchProcess:
                    pass
        finally:
            _remove_boxes(runtime, os.getpid())
            os._exit(1)

    return handler


def _source(root: Path, assignment: str, name: str) -> nbformat.NotebookNode | None:
    """The instructor's version of a notebook (its test cells with the hidden tests), if readable."""
    try:
        return nbformat.read(str(root / SOURCE_DIR / assignment / f"{name}.ipynb"), as_version=4)
    except Exception:  # noqa: BLE001  (only an optimisation rides on it)
        return None


def _start_worker(setup: WorkerSetup) -> None:
    """pebble's initializer: runs once in each worker before its first task. Never raises (pebble
    would restart the worker forever): a failure is reported by every task of the worker."""
    global _grader, _setup_failure
    _die_with_parent()
    if os.getppid() != setup.parent:  # the command died before the line above
        os._exit(0)
    signal.signal(signal.SIGTERM, _stopped(setup.runtime))
    try:
        setup.log_dir.mkdir(parents=True, exist_ok=True)
        # nbgrader, the kernels and their libraries write to stderr; the terminal keeps the progress bar.
        out = os.open(setup.worker_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        os.dup2(out, 1)
        os.dup2(out, 2)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, str(setup.threads))  # the kernels share the cores

        from .autograde import Grader
        from .sqlite_wait import wait_for_locks

        wait_for_locks(setup.settings.gradebook)
        _grader = Grader(
            settings=setup.settings,
            releases={a: {n: nbformat.reads(t, as_version=4) for n, t in nbs.items()}
                      for a, nbs in setup.releases.items()},
            stage=setup.stage / f"w{os.getpid()}", log_dir=setup.log_dir, runtime_dir=setup.runtime)
        if setup.settings.judge:
            # The judge's modules (torch, scipy.stats: seconds) load while the first kernel starts
            # and runs the notebook's first cells, instead of inside its first test cell.
            import threading

            from .judge.session import preload

            notebooks = [(nb, _source(setup.settings.root, a, name))
                         for a, nbs in _grader.releases.items() for name, nb in nbs.items()]
            threading.Thread(target=preload, args=(notebooks,), name="judge-preload", daemon=True).start()
    except Exception as exc:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        _setup_failure = f"{type(exc).__name__}: {exc}"


def _grade(task: Task):
    if _grader is None:
        raise RuntimeError(f"the grading worker could not start ({_setup_failure})")
    return _grader.grade(task)


def process_pool(jobs: int, *, initializer: Callable | None = None, initargs: tuple = ()):
    """A pebble ``ProcessPool`` of ``jobs`` workers (at least one): the one kind of pool of the
    grading commands (grading here, ``make feedback`` in :mod:`.feedback`).

    Workers are forked where the platform can (one starts at once: nbgrader is imported already),
    spawned elsewhere; each dies with the command, then runs ``initializer(*initargs)``.
    """
    from pebble import ProcessPool

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    return ProcessPool(max_workers=max(1, jobs), initializer=_start_pool_worker,
                       initargs=(initializer, *initargs), context=context)


def _start_pool_worker(initializer: Callable | None, *initargs) -> None:
    _die_with_parent()
    if initializer is not None:
        initializer(*initargs)


def run(todo: list[Task], setup: WorkerSetup, *, jobs: int, time_limit: float,
        finished: Callable[[Task, object, float], None],
        failed: Callable[[Task, errors.GradingFailure, float], None]) -> bool:
    """Grade ``todo`` on ``jobs`` workers; ``finished(task, result, seconds)`` or ``failed(task,
    reason, seconds)`` is called once per task, in the calling thread. A task whose grader raised
    is tried once more before it fails; one still running after ``time_limit`` wall-clock seconds
    (a backstop: the sandbox and the cells' clocks count CPU seconds) fails, its worker killed.
    Returns False when interrupted (Ctrl-C)."""
    from pebble import ProcessExpired

    pool = process_pool(min(jobs, len(todo)), initializer=_start_worker, initargs=(setup,))
    pending: dict = {}

    def schedule(task: Task, attempt: int) -> None:
        pending[pool.schedule(_grade, (task,), timeout=time_limit)] = (task, attempt, time.monotonic())

    try:
        for task in todo:
            schedule(task, 1)
        while pending:
            done, _ = wait(list(pending), timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                task, attempt, queued = pending.pop(future)
                try:
                    result = future.result()
                except TimeoutError:
                    # The limits that grade count CPU seconds (per cell, per notebook); this one is
                    # the wall-clock backstop, for a kernel stuck beyond what those see.
                    failed(task, errors.OverTimeLimit(
                        f"over the time limit: grading took more than {time_limit:g} s of wall "
                        "clock (the backstop per submission: a kernel stuck without using CPU, "
                        "or a grading machine far too busy)"), time_limit)
                except ProcessExpired as exc:
                    _remove_boxes(setup.runtime, exc.pid)
                    failed(task, errors.WorkerDied("the grading process died (out of memory?)"),
                           time.monotonic() - queued)
                except Exception as exc:  # noqa: BLE001  (the grader's own fault: once more, then say so)
                    if attempt == 1:
                        print(f"warning: grading {task.student}/{task.assignment} raised "
                              f"{type(exc).__name__}: {exc}; trying once more", file=sys.stderr)
                        schedule(task, 2)
                    else:
                        failed(task, errors.InternalError(f"({type(exc).__name__}: {exc}); see the "
                                                          "grading log"), time.monotonic() - queued)
                else:
                    finished(task, result, result.seconds)
    except KeyboardInterrupt:
        pool.stop()
        pool.join()
        return False
    pool.close()
    pool.join()
    return True
