"""A fault of the grader's is never a student's score: preflight, the canary, fault attribution.

The class is one correct submission of 01_probability, graded with the names file made
unreadable for the sandbox's user (root can still read it, so only grading inside the
sandbox shows the fault, as when data/ is not readable by the kernel).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils import data
from course_utils.grading import canary
from course_utils.grading import gradebook as gbk
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.sandbox import SandboxUnavailable, check_bwrap

A = "01_probability"

try:
    check_bwrap()
    _PROBLEM = None
except SandboxUnavailable as exc:
    _PROBLEM = str(exc)


def test_preflight_names_each_missing_piece(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_NAMES_FILE", str(tmp_path / "nowhere" / "names.txt"))
    problems = canary.preflight(COURSE_ROOT, [A])
    assert any(p.startswith("the names data set:") and "COURSE_NAMES_FILE" in p for p in problems), problems


def test_preflight_finds_nothing_missing_when_all_is_there(names_file):
    assert canary.preflight(COURSE_ROOT, [A]) == []


def _fix_command(problem: str) -> str:
    """The first command the problem tells the instructor to run (in backticks)."""
    return re.search(r"fix: `([^`]+)`", problem).group(1)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can read a file as the sandbox's user")
def test_preflight_reads_the_names_as_the_sandboxs_user_and_its_fix_works(names_file, tmp_path, monkeypatch):
    """Root reads a 0600 file; the sandboxed kernel, another user, does not: preflight asks as that user."""
    private = tmp_path / "private" / "names.txt"
    private.parent.mkdir()
    shutil.copy(names_file, private)
    os.chmod(private, 0o600)
    monkeypatch.setenv("COURSE_NAMES_FILE", str(private))
    (problem,) = canary.preflight(COURSE_ROOT, [A])
    assert "names data set is not readable inside the sandbox" in problem and str(private) in problem, problem
    subprocess.run(_fix_command(problem), shell=True, check=True)  # following the fix mends it
    assert canary.preflight(COURSE_ROOT, [A]) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can read a file as the sandbox's user")
def test_a_private_data_names_file_is_mended_by_the_fix_preflight_names(names_file, tmp_path, monkeypatch):
    """The data/names.txt an older `make data` left 0600: the fix named is `make data`, and it works."""
    monkeypatch.delenv("COURSE_NAMES_FILE")
    monkeypatch.setattr(data, "DATA_DIR", tmp_path / "data")
    data.DATA_DIR.mkdir()
    shutil.copy(names_file, data.DATA_DIR / "names.txt")
    os.chmod(data.DATA_DIR / "names.txt", 0o600)
    (problem,) = canary.preflight(COURSE_ROOT, [A])
    assert "names data set is not readable inside the sandbox" in problem and _fix_command(problem) == "make data"
    assert data.main() == 0  # what `make data` runs
    assert canary.preflight(COURSE_ROOT, [A]) == []


@pytest.fixture(scope="module")
def unreadable_names(names_file, tmp_path_factory):
    """A correct class of one, and a copy of the names only root can read."""
    work = tmp_path_factory.mktemp("canary")
    course = syn.make_course(work / "course", [A])
    release, source, name = syn.versions(course, A)
    syn.submit(course, "alice", A, syn.solved(release, source), f"{name}.ipynb")
    private = work / "private-names.txt"
    shutil.copy(names_file, private)
    os.chmod(private, 0o600)
    return course, private


def _grade(course: Path, names: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, COURSE_NAMES_FILE=str(names))
    return subprocess.run([sys.executable, "-m", "course_utils.grading.grade", "--root", str(course),
                           "--no-progress", "--jobs", "1", *extra, A],
                          cwd=COURSE_ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.notebook
@pytest.mark.xdist_group("canary")
@pytest.mark.skipif(_PROBLEM is not None, reason=f"the sandbox cannot run here: {_PROBLEM}")
def test_the_canary_stops_the_run_before_any_student(unreadable_names):
    course, names = unreadable_names
    run = _grade(course, names)
    assert run.returncode != 0
    assert "canary" in run.stderr and "names data set is not readable inside the sandbox" in run.stderr, \
        run.stderr[-2000:]
    rows = gbk.read_csv(course / "grades.csv") if (course / "grades.csv").exists() else []
    assert [r for r in rows if r["student_id"] == "alice"] == []
    assert not (course / "autograded" / "alice").exists()


@pytest.mark.notebook
@pytest.mark.xdist_group("canary")
@pytest.mark.skipif(_PROBLEM is not None, reason=f"the sandbox cannot run here: {_PROBLEM}")
def test_without_the_canary_a_fault_of_the_grader_is_no_score_and_is_graded_once_mended(
        unreadable_names, names_file):
    course, names = unreadable_names
    run = _grade(course, names, "--skip-canary")
    assert "--skip-canary" in run.stderr  # the instructor is warned
    (row,) = [r for r in gbk.read_csv(course / "grades.csv") if r["student_id"] == "alice"]
    assert row["status"] == "failed" and row["score"] == "", row
    assert row["detail"].startswith("grading environment:") and "names" in row["detail"], row
    assert "fault of the grader's" in run.stdout and "run the same command again" in run.stdout, run.stdout

    # The instructor mends the machine (the names readable again) and runs the same command, no --force.
    again = _grade(course, Path(names_file), "--skip-canary")
    assert again.returncode == 0, again.stderr[-2000:]
    (row,) = [r for r in gbk.read_csv(course / "grades.csv") if r["student_id"] == "alice"]
    assert (row["status"], row["score"]) == ("graded", f"{sum(syn.points(A)[0].values()):g}"), row


class _FakeGrading:
    """Stands in for the grading command the canary starts: it 'grades' each solution in turn
    (its autograded notebook, then grades.csv), so the canary's own reporting is tested alone."""

    TimeoutExpired = subprocess.TimeoutExpired
    PIPE = subprocess.PIPE

    def __init__(self):
        self.returncode = None

    def _grade(self, command):
        course = Path(command[command.index("--root") + 1])
        todo = [a for a in command if a[:2].isdigit()]
        rows = ["student_id,assignment,score,max_score,status,detail"]
        for assignment in todo:
            folder = course / "autograded" / canary.STUDENT / assignment
            folder.mkdir(parents=True, exist_ok=True)
            # nbgrader writes the notebook before running it, then again with its outputs
            (folder / "solution.ipynb").write_text('{"cells": [{"cell_type": "code", "execution_count": 3}]}')
            rows.append(f"{canary.STUDENT},{assignment},1000,1000,graded,")
        (course / "grades.csv").write_text("\n".join(rows) + "\n")

    def run(self, command, **kwargs):  # what the canary called before it showed progress
        self._grade(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    def Popen(self, command, **kwargs):  # noqa: N802  (subprocess's name)
        self._grade(command)
        self.returncode = 0
        return self

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


def test_the_canary_shows_its_progress_and_the_summary_its_time(tmp_path, monkeypatch, capsys):
    course = syn.make_course(tmp_path / "course", [A])
    monkeypatch.setattr(canary, "subprocess", _FakeGrading())
    assert canary.check(course, [A], progress=True) == []
    err = capsys.readouterr().err
    assert re.search(r"canary: 100%\|.*\| 1/1 \[", err), err  # tqdm's bar, counting solutions
    assert canary.pending(course, [A]) == {}  # remembered: the next run grades no solution
    # a solution's notebook as nbgrader writes it before running it does not count as graded
    before = tmp_path / "before"
    before.mkdir()
    (before / "solution.ipynb").write_text('{"cells": [{"cell_type": "code", "execution_count": null}]}')
    assert not canary._has_run(before)

    from course_utils.grading.report import Summary

    summary = Summary(rows=[], scope=[("s1", A)], canary_seconds=112.0)
    assert "canary: the instructor's solutions graded first in 1m52s" in summary.describe()
    assert "canary" not in Summary(rows=[], scope=[("s1", A)]).describe()  # not graded in this run
