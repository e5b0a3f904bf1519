"""Every assignment survives nbgrader's full cycle: release, submit, autograde, feedback, export.

These are nbgrader's own commands (what the Formgrader's buttons run), so they also show
that ``nbgrader_config.py`` routes them through the course's judge and feedback redaction.
"""

from __future__ import annotations

import html
import re

import pytest

from course_utils import nbtools
from course_utils.grading.authoring.roundtrip import BLANK, SOLVED
from course_utils.grading.course import source_notebooks
from course_utils.grading.feedback import hidden_regions

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
def test_solution_scores_full_automatic_marks(assignment, round_trip, record_property):
    trip = round_trip(assignment)
    # issue 17's budget (60 s a notebook) is a figure to read, printed at the end of the run
    record_property("notebook_seconds", round(trip.solved_seconds, 1))
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


def _hidden_lines(assignment: str) -> set[str]:
    """Lines of the hidden tests that appear nowhere else in the instructor's notebook."""
    secret, public = set(), set()
    for path in source_notebooks(assignment):
        for cell in nbtools.read(path).cells:
            regions = hidden_regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
            hidden = {n for first, last, _ in regions for n in range(first + 2, last)}
            for n, line in enumerate(cell.source.splitlines(), start=1):
                (secret if n in hidden else public).add(" ".join(line.split()))
                if n not in hidden:  # the code of a commented line is shown to students too
                    public.add(" ".join(line.split("#")[0].split()))
    return {line for line in secret - public if len(line) > 12}


@per_assignment("roundtrip")
def test_nbgraders_own_feedback_shows_no_hidden_test(assignment, round_trip):
    trip = round_trip(assignment)
    secret = _hidden_lines(assignment)
    assert secret, "the assignment has no hidden tests"
    for student in (SOLVED, BLANK):
        pages = trip.feedback(student)
        assert pages, f"nbgrader generate_feedback wrote nothing for {student}"
        for page in pages:
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())
            leaked = sorted(line for line in secret if line in text)
            assert leaked == [], f"{page.name} of {student} shows hidden test lines: {leaked[:3]}"


@per_assignment("roundtrip")
def test_nbgraders_own_feedback_names_each_test_after_its_exercise(assignment, round_trip):
    trip = round_trip(assignment)
    source = nbtools.read(source_notebooks(assignment)[0])
    exercises = list(nbtools.exercises(source))
    for page in trip.feedback(BLANK)[:1]:
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page.read_text())).split())
        contents = text[:text.index("¶")]  # the page's list of graded cells, before the notebook
        assert "Test cell" not in contents, contents[:500]
        assert f"Tests of {exercises[0]}" in contents, contents[:500]
        # an unfilled exercise is reported once, in words, not as the tests' failures
        assert text.count(f"Not attempted: {exercises[0]} still raises") == 1, text[:3000]
