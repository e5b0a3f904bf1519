"""The tests of every exercise fail typical wrong answers and pass differently written correct ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from course_utils.grading.authoring import fidelity

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


def _cell(source: str, grade_id: str, *, solution: bool = False, points: int | None = None):
    import nbformat

    meta = {"grade": points is not None, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False, **({"points": points} if points is not None else {})}
    return nbformat.v4.new_code_cell(source, metadata={"nbgrader": meta})


def test_a_wrong_answer_costs_exactly_the_exercises_its_data_lists(tmp_path):
    """The cascade pass: `double` calls `add`; a wrong `add` costs `double` unless the test of
    `double` lends it a reference `add`, and the verdict holds the data to what it costs."""
    import shutil

    import nbformat

    from course_utils.grading.course import COURSE_ROOT

    def course(isolated: bool) -> Path:
        root = tmp_path / ("isolated" if isolated else "plain")
        folder = root / "solutions" / "99_toy"
        folder.mkdir(parents=True)
        shutil.copy(COURSE_ROOT / "nbgrader_config.py", root)
        marker = "    # *****{} OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
        answer = lambda name, body: "\n".join(  # noqa: E731
            [f"def {name}(a, b=0):", marker.format("START"), body, marker.format("END"), "    return r"])
        lend = ("### BEGIN HIDDEN TESTS\n# checks: on its own\nfrom course_utils.checks import stand_in\n"
                "stand_in(globals(), add=lambda a, b: a + b)\n### END HIDDEN TESTS\n") if isolated else ""
        nb = nbformat.v4.new_notebook(cells=[
            nbformat.v4.new_code_cell("from course_utils.checks import check_equal"),
            _cell(answer("add", "    r = a + b"), "add", solution=True),
            _cell("# Tests for add (1 point)\ncheck_equal(add(2, 3), 5, 'add(2, 3)')", "add_test", points=1),
            nbformat.v4.new_code_cell("five = add(2, 3)"),
            _cell(answer("double", "    r = add(a, a)"), "double", solution=True),
            _cell(f"# Tests for double (1 point)\n{lend}check_equal(double(4), 8, 'double(4)')",
                  "double_test", points=1),
        ])
        nbformat.write(nb, str(folder / "toy.ipynb"))
        return root

    wrong = fidelity.Answer("add", "wrong", "subtracts", "r = a - b")
    listed = fidelity.Answer("add", "wrong", "subtracts", "r = a - b", fails=("double",))
    plain = fidelity.run("99_toy", course(False), [wrong, listed], cascade="all")
    assert [v.cascade for v in plain.verdicts] == [["double"], ["double"]]
    assert [v.ok for v in plain.verdicts] == [False, True]
    assert "later exercises it costs: double" in plain.verdicts[0].describe()
    isolated = fidelity.run("99_toy", course(True), [wrong, listed], cascade="all")
    assert [v.cascade for v in isolated.verdicts] == [[], []]
    assert [v.ok for v in isolated.verdicts] == [True, False]
