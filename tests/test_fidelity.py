"""The tests of every exercise fail typical wrong answers and pass differently written correct ones."""

from __future__ import annotations

import pytest

from course_utils.grading import fidelity

from .conftest import ASSIGNMENTS, per_assignment

pytestmark = pytest.mark.notebook


def _answer_params():
    for assignment in ASSIGNMENTS:
        for answer in fidelity.load_answers(assignment):
            yield pytest.param(assignment, answer, id=f"{assignment}::{answer.label}",
                               marks=pytest.mark.xdist_group(f"{assignment}-fidelity"))


@per_assignment("fidelity")
def test_solution_passes_every_test_including_hidden(assignment, fidelity_report):
    assert fidelity_report(assignment).solution_failures == []


@per_assignment("fidelity")
def test_every_exercise_has_wrong_and_correct_answers(assignment, fidelity_report):
    assert fidelity_report(assignment).problems == []


@pytest.mark.parametrize(("assignment", "answer"), list(_answer_params()))
def test_answer_is_graded_as_expected(assignment, answer, fidelity_report):
    verdict = fidelity_report(assignment).verdict(answer)
    assert verdict.ok, verdict.describe()
