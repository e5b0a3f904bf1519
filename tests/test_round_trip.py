"""Every assignment survives nbgrader's full cycle: release, submit, autograde, export."""

from __future__ import annotations

import pytest

from course_utils import nbtools
from course_utils.grading.roundtrip import BLANK, SOLVED

from .conftest import per_assignment

pytestmark = pytest.mark.notebook


def _failed_cells(trip, student):
    """grade_id -> error line for the autograded test cells that lost points."""
    failed = {}
    for path in trip.autograded(student):
        nb = nbtools.read(path)
        for index in (i for ex in nbtools.exercises(nb).values() for i in ex.test_indices):
            cell = nb.cells[index]
            grade_id = cell.metadata.nbgrader["grade_id"]
            if trip.cell_scores[student].get(grade_id, 0) < cell.metadata.nbgrader["points"]:
                failed[grade_id] = nbtools.error_summary(cell)
    return failed


@per_assignment("roundtrip")
def test_solution_scores_full_automatic_marks(assignment, round_trip):
    trip = round_trip(assignment)
    assert trip.max_auto_score > 0, "the assignment has no autograded tests"
    assert _failed_cells(trip, SOLVED) == {}
    assert sum(trip.cell_scores[SOLVED].values()) == trip.max_auto_score


@per_assignment("roundtrip")
def test_untouched_release_scores_zero_on_every_test(assignment, round_trip):
    trip = round_trip(assignment)
    passing = {k: v for k, v in trip.cell_scores[BLANK].items() if v != 0}
    assert passing == {}, f"tests that pass on the unfilled student version: {sorted(passing)}"
    assert len(trip.cell_scores[BLANK]) == len(trip.cell_scores[SOLVED])


@per_assignment("roundtrip")
def test_export_reports_the_autograded_scores(assignment, round_trip):
    trip = round_trip(assignment)
    assert float(trip.export[SOLVED]["score"]) == trip.max_auto_score
    assert float(trip.export[BLANK]["score"]) == 0.0
    assert float(trip.export[SOLVED]["max_score"]) >= trip.max_auto_score
