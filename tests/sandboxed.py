"""What the tests that grade a class in the real sandbox share: whether it runs here, their marks,
and grading the class with the course's command."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from pathlib import Path

import pytest

from course_utils.grading import gradebook as gbk
from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.sandbox import SandboxUnavailable, check_bwrap

try:
    check_bwrap()
    PROBLEM: str | None = None
except SandboxUnavailable as exc:
    PROBLEM = str(exc)


def sandboxed_class(group: str) -> list:
    """Marks for a module that grades a class in the sandbox, in an xdist group of its own."""
    return [pytest.mark.notebook, pytest.mark.xdist_group(group),
            pytest.mark.skipif(PROBLEM is not None, reason=f"the sandbox cannot run here: {PROBLEM}")]


GRADER_OUTPUTS = ("autograded", "gradebook.db", "grades.csv", ".canary")
"""What grading writes in the course folder; everything else must come out of it unchanged."""


def tree(course: Path) -> dict[str, str]:
    """sha256 of every file of the course folder but what grading writes."""
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(course.rglob("*"))
            if p.is_file() and p.relative_to(course).parts[0] not in GRADER_OUTPUTS}


def grade_class(course: Path, *, cell_timeout: float, time_limit: float, timeout: float,
                env: dict[str, str] | None = None) -> dict:
    """Grade every submission of ``course`` with the course's command, two workers, the canary
    skipped (it is test_canary's and test_grading's); the rows, the folder's hashes before and after,
    the seconds it took and what it printed."""
    before = tree(course)
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, "-m", "course_utils.grading.grade", "--root", str(course), "--no-progress",
         "--jobs", "2", "--cell-timeout", str(cell_timeout), "--time-limit", str(time_limit),
         "--skip-canary"],
        cwd=COURSE_ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    rows = {r["student_id"]: r for r in gbk.read_csv(course / "grades.csv")}
    return {"course": course, "rows": rows, "before": before, "after": tree(course), "seconds": seconds,
            "stdout": run.stdout}


FORK_BOMB = """import os, time
forks = 0
try:
    while True:
        if os.fork() == 0:
            while True:
                try:
                    os.fork()
                except OSError:
                    time.sleep(0.05)
        forks += 1
except OSError as exc:
    print("FORK STOPPED", forks, exc.errno)"""
"""A cell that forks until the sandbox's process limit stops it, then says after how many forks."""

OWN_GROUP_BOMB = "import signal\nsignal.signal(signal.SIGHUP, signal.SIG_IGN)\n" + FORK_BOMB.replace(
    "if os.fork() == 0:\n", "if os.fork() == 0:\n            os.setpgid(0, 0)\n").replace("FORK", "OWN GROUP FORK")
"""FORK_BOMB with children that lead process groups of their own and ignore SIGHUP. Linux sends
SIGHUP and SIGCONT to a group with stopped members that an exit orphans, which would wake strays
the grader stopped and has yet to kill; the sandbox's init adopts them (a parent in the same
session), so no group is orphaned, and this bomb checks that it stays so."""
