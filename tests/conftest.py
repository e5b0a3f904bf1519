"""Shared fixtures: the course's assignments and the expensive per-assignment runs, done once."""

from __future__ import annotations

import os
import sys

import pytest

from course_utils.data import NAMES_ENV_VAR, NamesDataError, names_path
from course_utils.grading.authoring import fidelity, roundtrip
from course_utils.grading.course import assignments, scripts_on_path

ASSIGNMENTS = assignments()

# Tests call what the commands call, outside their main: give them the commands' PATH (make
# test's, or scripts_on_path's), on which nbgrader finds alembic to create a gradebook.
scripts_on_path()

# Plots render off-screen (the test modules import matplotlib after this file).
os.environ.setdefault("MPLBACKEND", "Agg")

# Tests run on every core already (pytest-xdist); BLAS threads in each kernel on top of
# that oversubscribe the machine and made an SVD 50x slower under load.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def per_assignment(group: str):
    """Parametrize over the assignments, keeping each assignment's heavy run on one xdist worker."""
    return pytest.mark.parametrize(
        "assignment",
        [pytest.param(a, marks=pytest.mark.xdist_group(f"{a}-{group}")) for a in ASSIGNMENTS],
    )


@pytest.fixture(autouse=True)
def _close_figures():
    """Each test starts without the figures of the previous one."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.fixture(scope="session")
def names_file() -> str:
    """A verified names.txt, exported to the kernels that execute notebooks."""
    try:
        path = str(names_path())
    except NamesDataError as exc:
        pytest.fail(str(exc))
    os.environ[NAMES_ENV_VAR] = path
    return path


class _Cache:
    def __init__(self, make):
        self._make, self._done = make, {}

    def __call__(self, assignment):
        if assignment not in self._done:
            self._done[assignment] = self._make(assignment)
        return self._done[assignment]


@pytest.fixture(scope="session")
def round_trip(names_file, tmp_path_factory):
    """``round_trip(assignment)``: release, submit solved and blank, autograde, export (once per session)."""
    return _Cache(lambda a: roundtrip.run(a, tmp_path_factory.mktemp(f"course-{a}")))


@pytest.fixture(scope="session")
def fidelity_report(names_file):
    """``fidelity_report(assignment)``: the solution run with every listed answer tried (once per
    session), and what the first wrong answer of each exercise costs the later ones."""
    return _Cache(lambda a: fidelity.run(a, cascade="first"))


def pytest_terminal_summary(terminalreporter):
    """How long each solved notebook took to autograde in the round trip (the 60 s budget)."""
    times = {}
    for report in terminalreporter.stats.get("passed", []) + terminalreporter.stats.get("failed", []):
        for key, value in getattr(report, "user_properties", []):
            if key == "notebook_seconds" and report.when == "call":
                times[report.nodeid.split("[")[-1].split("]")[0]] = value
    if times:
        terminalreporter.write_sep("-", "autograding each solved notebook (nbgrader autograde, sandboxed)")
        for assignment, seconds in sorted(times.items()):
            terminalreporter.write_line(f"{assignment:28} {seconds:5.1f} s")
