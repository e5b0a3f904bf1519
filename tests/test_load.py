"""A grade does not depend on how busy the grading machine is.

One small class of 01_probability (honest, slow but correct, an endless loop, a fork bomb) is
graded twice with the grading command: once as the machine is, once while a CPU hog keeps every
core busy four times over (``bench/load.py``'s, started and stopped here). Both runs must give
the same statuses and scores, and the expected ones. The time limit per cell counts what the
kernel's processes use (CPU seconds), so the slow student, well inside it on any machine, keeps
its points; under wall-clock limits the hog made its cell time out.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from bench.load import cpu_hog
from course_utils.grading import grade
from course_utils.grading.authoring import synthetic as syn

from .sandboxed import FORK_BOMB, sandboxed_class

A = "01_probability"
AUTO = sum(syn.points(A)[0].values())  # automatic points of 01_probability
CELL_LIMIT = 8  # seconds per cell for this class (the course: 60)
SLOW_SECONDS = 3  # CPU seconds the slow student's answer cell burns: well inside CELL_LIMIT

pytestmark = sandboxed_class("load")

EXPECTED = {
    "endless_loop": ("graded", AUTO - syn.points(A)[0]["total_probability_test"]),  # stopped at the limit
    "fork_bomb": ("graded", AUTO),
    "honest": ("graded", AUTO),
    "slow_correct": ("graded", AUTO),
}

BURN = f"""import time as _clock
_start = _clock.process_time()
while _clock.process_time() - _start < {SLOW_SECONDS}:  # as much CPU on any machine
    pass
"""


def build_class(course: Path) -> None:
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)

    def submit(student, nb):
        syn.submit(course, student, A, nb, f"{name}.ipynb")

    submit("honest", solved)
    slow = nbformat.from_dict(solved)
    answer = slow.cells[syn.cell_index(slow, "first_letter_distribution")]
    answer.source = BURN + answer.source  # before the function: a cell cut short loses its test
    submit("slow_correct", slow)
    submit("endless_loop", syn.with_answer(solved, "total_probability", "while True:\n    pass", release))
    bomb = nbformat.from_dict(solved)
    at = syn.cell_index(bomb, "first_letter_distribution") + 1
    bomb.cells.insert(at, nbformat.v4.new_code_cell(FORK_BOMB))
    submit("fork_bomb", bomb)


def grade_class(folder: Path) -> tuple[dict[str, tuple[str, float | None]], dict[str, str]]:
    """(student -> (status, score), student -> detail) of the class graded in a new course in ``folder``."""
    course = syn.make_course(folder, [A], config_lines="c.SandboxProvisioner.max_processes = 64")
    build_class(course)
    summary = grade.grade(course, jobs=2, cell_timeout=CELL_LIMIT, progress=False, skip_canary=True)
    return ({row.student_id: (row.status.value, row.score) for row in summary.rows},
            {row.student_id: row.detail for row in summary.rows})


@pytest.fixture(scope="module")
def grades(names_file, tmp_path_factory) -> dict[str, dict]:
    quiet = grade_class(tmp_path_factory.mktemp("quiet"))
    with cpu_hog(per_core=4) as hogs:
        busy = grade_class(tmp_path_factory.mktemp("busy"))
        assert all(hog.poll() is None for hog in hogs), "the hog stopped before the class was graded"
    return {"quiet": quiet, "busy": busy}


def test_a_busy_machine_gives_the_same_statuses_and_scores(grades):
    (quiet, quiet_details), (busy, busy_details) = grades["quiet"], grades["busy"]
    assert busy == quiet, (busy_details, quiet_details)


def test_each_student_gets_the_expected_grade(grades):
    quiet, details = grades["quiet"]
    assert quiet == EXPECTED, details


# ------------------------------------------------------------------ fast checks, no kernel

def test_the_cell_clock_leaves_out_only_the_wait_for_a_cpu(monkeypatch):
    from course_utils.grading import execute
    from course_utils.grading.sandbox.provisioner import Usage

    now = [100.0]
    monkeypatch.setattr(execute.time, "monotonic", lambda: now[0])
    readings = iter([
        Usage(1.0, {7: 0}),
        Usage(1.0, {7: 0}),  # 2 s asleep: 2 s
        Usage(1.5, {7: int(1.5e9)}),  # 2 s on a busy machine: 0.5 s of CPU, 1.5 s waiting for one
        Usage(5.5, {7: int(1.5e9), 8: 0}),  # 2 s on two cores: 4 CPU seconds
    ])
    clock = execute.CellClock(lambda: next(readings))
    used = []
    for _ in range(3):
        now[0] += 2
        used.append(clock.read())
    assert used == [2.0, 2.5, 6.5]
    readings = iter([Usage(1.0, {7: 0}), Usage(1.0, {7: 0})])
    clock = execute.CellClock(lambda: next(readings), cpu_only=True)  # a kernel waiting for the judge
    now[0] += 2
    assert clock.read() == 0.0


def test_a_process_trees_cpu_includes_the_children_it_reaped():
    import subprocess
    import sys
    import time

    from course_utils.grading.sandbox.provisioner import tree_usage

    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass"
    parent = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys, time\n"
                               f"subprocess.run([sys.executable, '-c', {burn!r}])\n"
                               "print('reaped', flush=True)\ntime.sleep(30)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "reaped"
        usage = tree_usage(parent.pid)
        assert usage is not None and usage.cpu >= 0.5, usage
    finally:
        parent.kill()
        parent.wait()
    time.sleep(0.1)
    assert tree_usage(parent.pid) is None


def test_an_interrupt_the_client_did_not_mark_is_stray():
    from course_utils.grading.judge.cell import _stray_interrupt
    from course_utils.grading.judge.session import Outcome

    def serve(*enames):
        return nbformat.v4.new_code_cell("serve()", outputs=[
            nbformat.v4.new_output("error", ename=e, evalue="", traceback=[]) for e in enames])

    lost = Outcome(False, "TimeoutError", "the kernel stopped answering")
    assert _stray_interrupt(lost, serve("KeyboardInterrupt"))
    assert not _stray_interrupt(lost, serve("KeyboardInterrupt", "CellTimeoutError"))  # stopped at its limit
    assert not _stray_interrupt(Outcome(False, "AssertionError", "wrong"), serve("KeyboardInterrupt"))
