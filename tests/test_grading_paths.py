"""Every path that writes a score checks the machine first and keeps a grader's fault from being a score.

The grading command's path is tests/test_canary.py. Here: nbgrader's own autograde, on the command
line and through the API the Formgrader's Autograde button calls, with the names file made
unreadable for the sandbox's user (root can still read it: only the sandboxed kernel would fail).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils
from nbgrader.api import Gradebook

from course_utils.grading import canary
from course_utils.grading import gradebook as gbk
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import load_config
from course_utils.grading.sandbox import SandboxUnavailable, check_bwrap

A = "01_probability"
STUDENT = "alice"

try:
    check_bwrap()
    _PROBLEM = None if os.geteuid() == 0 else "grading needs root"
except SandboxUnavailable as exc:
    _PROBLEM = str(exc)

pytestmark = [
    pytest.mark.notebook,
    pytest.mark.xdist_group("grading_paths"),
    pytest.mark.skipif(_PROBLEM is not None, reason=f"the sandbox cannot run here: {_PROBLEM}"),
]


def _nbgrader(course: Path, names: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_NAMES_FILE=str(names))
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)


def _score(course: Path) -> float:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "bigram-course") as gb:
        return float(gb.find_submission(A, STUDENT).score)


def _row(course: Path) -> dict[str, str]:
    (row,) = [r for r in gbk.read_csv(course / "grades.csv") if r["student_id"] == STUDENT]
    return row


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory):
    """A class of one graded by `nbgrader autograde` with the names readable, and a private copy."""
    work = tmp_path_factory.mktemp("paths")
    course = syn.make_course(work / "course", [A])
    release, source, name = syn.versions(course, A)
    syn.submit(course, STUDENT, A, syn.solved(release, source), f"{name}.ipynb")
    assert _nbgrader(course, Path(names_file), "generate_assignment", A, "--force").returncode == 0
    run = _nbgrader(course, Path(names_file), "autograde", A, "--student", STUDENT)
    assert run.returncode == 0, run.stderr[-3000:]
    score = _score(course)
    assert score > 0
    assert _row(course)["score"] == f"{score:g}"  # grades.csv follows the gradebook
    private = work / "private-names.txt"
    shutil.copy(names_file, private)
    os.chmod(private, 0o600)
    return course, private, name, score


def test_nbgrader_autograde_stops_on_a_fault_and_keeps_the_score(graded, names_file):
    course, private, _, score = graded
    run = _nbgrader(course, private, "autograde", A, "--student", STUDENT, "--force")
    output = run.stdout + run.stderr
    assert run.returncode != 0, output[-3000:]
    assert "grading environment" in output and "No score was changed" in output, output[-3000:]
    assert _score(course) == score  # not the 9 of 22 the unreadable names gave
    row = _row(course)
    assert row["status"] == "failed" and row["detail"].startswith("grading environment:"), row
    assert "names data set is not readable inside the sandbox" in row["detail"], row

    # Mended, the same command grades it again, and grades.csv follows.
    again = _nbgrader(course, Path(names_file), "autograde", A, "--student", STUDENT, "--force")
    assert again.returncode == 0, again.stderr[-3000:]
    assert _score(course) == score
    assert _row(course)["score"] == f"{score:g}" and _row(course)["status"] != "failed", _row(course)


def test_the_formgraders_autograde_reports_the_fault_and_keeps_the_score(graded, monkeypatch):
    from nbgrader.apps import NbGraderAPI

    course, private, _, score = graded
    monkeypatch.setenv("COURSE_NAMES_FILE", str(private))
    api = NbGraderAPI(config=load_config(course))
    result = api.autograde(A, STUDENT)  # what the Autograde button runs
    assert result["success"] is False, result.get("log", "")[-3000:]
    assert "grading environment" in result.get("log", "") + result.get("error", "")
    assert _score(course) == score
    assert _row(course)["detail"].startswith("grading environment:"), _row(course)
    # nbgrader's autograde sets it without try/finally; left set, the Formgrader's next kernels
    # would take themselves for autograded and keep their checks silent.
    assert "NBGRADER_EXECUTION" not in os.environ


def test_a_fault_found_after_the_notebook_ran_is_the_graders(graded, names_file, monkeypatch):
    """A lecture cell that failed with an environment error: nothing is saved, the fault is recorded."""
    course, _, name, score = graded
    monkeypatch.setenv("COURSE_NAMES_FILE", names_file)
    assert _nbgrader(course, Path(names_file), "autograde", A, "--student", STUDENT, "--force").returncode == 0
    path = course / "autograded" / STUDENT / A / f"{name}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    release = nbformat.read(str(course / "notebooks" / A / f"{name}.ipynb"), as_version=4)
    lecture = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and not utils.is_solution(c)
                   and not utils.is_grade(c) and any(c.source == r.source for r in release.cells))
    nb.cells[lecture].outputs = [nbformat.v4.new_output(
        "error", ename="PermissionError", evalue="[Errno 13] Permission denied: '/work/data/x'", traceback=[])]
    resources = {"nbgrader": {"assignment": A, "student": STUDENT, "notebook": name,
                              "db_url": f"sqlite:///{course / 'gradebook.db'}"}}
    with pytest.raises(canary.GraderFault, match="No score was changed"):
        canary.AttributeFaults(config=load_config(course)).preprocess(nb, resources)
    assert _score(course) == score
    row = _row(course)
    assert row["status"] == "failed" and row["detail"].startswith(f"grading environment: {name}.ipynb cell"), row
