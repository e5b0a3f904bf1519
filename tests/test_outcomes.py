"""The course's outcome of grading a submission lives in a table of its own, never in comment text.

A gradebook is built with nbgrader's own API (an assignment of one notebook: an answer cell, its
test cell and a written answer); the outcomes are recorded the way the grading command records
them (course_utils.grading.gradebook) and read back as grades.csv rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nbgrader.api import Gradebook
from sqlalchemy import inspect

from course_utils.grading import errors
from course_utils.grading import gradebook as gbk
from course_utils.grading.report import Summary

A, NB, COURSE = "01_probability", "probability", "bigram-course"
ANSWER, TEST, WRITTEN = "entropy", "entropy_test", "why"


def make_gradebook(db_url: str, students: list[str]) -> None:
    """One assignment of one notebook, every student's submission autograded with full marks
    and the written answer still to grade by hand (as nbgrader's autograde leaves it)."""
    with Gradebook(db_url, COURSE) as gb:
        gb.add_assignment(A)
        gb.add_notebook(NB, A)
        gb.add_solution_cell(ANSWER, NB, A)
        gb.add_grade_cell(TEST, NB, A, max_score=2, cell_type="code")
        gb.add_solution_cell(WRITTEN, NB, A)
        gb.add_grade_cell(WRITTEN, NB, A, max_score=1, cell_type="markdown")
        for student in students:
            gb.add_student(student)
            gb.add_submission(A, student)
            grade = gb.find_grade(TEST, NB, A, student)
            grade.auto_score, grade.needs_manual_grade = 2, False
        gb.db.commit()


def rows(db_url: str) -> dict[str, gbk.Row]:
    return {r.student_id: r for r in gbk.export(db_url, COURSE)}


def comment(gb: Gradebook, student: str, cell: str = ANSWER):
    return gb.find_comment(cell, NB, A, student)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'gradebook.db'}"


def test_editing_the_comments_in_the_gradebook_changes_no_status(db_url):
    make_gradebook(db_url, ["ada", "bob"])
    with Gradebook(db_url, COURSE) as gb:
        gbk.record_failure(gb, A, "ada", errors.NotGradable("not a notebook: probability.ipynb is a PDF"))
        gbk.finish(gb, A, "bob", {NB: ["probability.ipynb: a test cell put back"]})
    before = rows(db_url)
    assert before["ada"].status is gbk.Status.FAILED and not before["ada"].grader_fault
    assert before["bob"].status is gbk.Status.NEEDS_MANUAL
    with Gradebook(db_url, COURSE) as gb:
        # The instructor rewrites the automatic comments in the gradebook: the copy the grader
        # wrote there goes, and lines that look like the grader's are added.
        comment(gb, "ada").auto_comment = "Looked at it: fine."
        comment(gb, "bob").auto_comment = ("Autograding failed: grading environment: no data\n"
                                           "Flagged for review: copied")
        comment(gb, "bob", WRITTEN).auto_comment = "Autograding failed: grading did not finish: run " \
                                                   "the grading command again"
        gb.db.commit()
    assert rows(db_url) == before
    with Gradebook(db_url, COURSE) as gb:
        assert gbk.is_finished(gb, A, "ada") and gbk.is_finished(gb, A, "bob")


def test_the_copy_for_the_formgrader_is_replaced_by_the_next_grading_and_kept_off_the_page(db_url):
    make_gradebook(db_url, ["ada"])
    with Gradebook(db_url, COURSE) as gb:
        comment(gb, "ada").auto_comment = "No response."
        gb.db.commit()
        gbk.record_failure(gb, A, "ada", errors.EnvironmentFault("names.txt unreadable"))
        assert comment(gb, "ada").auto_comment == \
            "Autograding failed: grading environment: names.txt unreadable\nNo response."
        assert all(nb.flagged for nb in gb.find_submission(A, "ada").notebooks)
        gbk.start(gb, A, "ada")
        gbk.finish(gb, A, "ada", {NB: ["renamed"]})
        assert comment(gb, "ada").auto_comment == "No response.\nGrading note: renamed"
        assert not any(nb.flagged for nb in gb.find_submission(A, "ada").notebooks)
        assert gbk.copied_lines(gb, A, "ada") == {"Grading note: renamed"}


def test_a_gradebook_written_before_the_table_reads_the_same_and_moves_into_it(db_url, capsys):
    make_gradebook(db_url, ["ada", "bob", "cy", "dee"])
    with Gradebook(db_url, COURSE) as gb:
        # What the older version wrote: the status in the first answer cell's automatic comment.
        sub = gb.find_submission(A, "ada")
        for nb in sub.notebooks:
            nb.flagged = True
            for grade in nb.grades:
                grade.auto_score, grade.needs_manual_grade = None, True
        comment(gb, "ada").auto_comment = ("Autograding failed: grading environment: probability.ipynb "
                                           "cell 3 failed with FileNotFoundError: names.txt\nNo response.")
        gb.find_submission_notebook(NB, A, "bob").flagged = True
        comment(gb, "bob").auto_comment = ("Flagged for review: probability.ipynb: code that replaces "
                                           "check_close at cell 4 line 1 (scores not changed)\n"
                                           "Grading note: a test cell put back")
        comment(gb, "cy").auto_comment = "Autograding failed: grading did not finish: run the grading " \
                                         "command again"
        gb.db.commit()
        assert not inspect(gb.engine).has_table(gbk.Outcome.__tablename__)

    found = rows(db_url)
    assert "read the grading status of 3 submissions" in capsys.readouterr().err
    assert (found["ada"].status, found["ada"].score, found["ada"].grader_fault) == (gbk.Status.FAILED, None, True)
    assert found["ada"].detail == ("grading environment: probability.ipynb cell 3 failed with "
                                   "FileNotFoundError: names.txt")
    assert found["bob"].status is gbk.Status.FLAGGED
    assert found["bob"].detail == ("flagged for review: probability.ipynb: code that replaces check_close "
                                   "at cell 4 line 1 (scores not changed); 1 answer to grade by hand "
                                   "(1 points): why; a test cell put back")
    assert (found["cy"].status, found["cy"].detail) == (gbk.Status.FAILED, errors.UNFINISHED)
    assert found["dee"].status is gbk.Status.NEEDS_MANUAL
    with Gradebook(db_url, COURSE) as gb:
        assert not gbk.is_finished(gb, A, "cy") and gbk.is_finished(gb, A, "ada")
        assert {o.student for o in gb.db.query(gbk.Outcome)} == {"ada", "bob", "cy"}
        # From now on the table holds it: the old lines are the copy, removed by the next grading.
        comment(gb, "bob").auto_comment = "Grading note: a test cell put back"
        gb.db.commit()
        assert rows(db_url)["bob"] == found["bob"]
        gbk.finish(gb, A, "bob", {})
        assert comment(gb, "bob").auto_comment is None
        assert not gb.find_submission_notebook(NB, A, "bob").flagged
    assert rows(db_url)["bob"].status is gbk.Status.NEEDS_MANUAL
    assert rows(db_url)["ada"] == found["ada"]
    assert "read the grading status" not in capsys.readouterr().err  # once


class DiskFull(errors.GraderFault):
    """A reason added in one place: this class (here in the test; in course_utils/grading/errors.py
    for the course)."""

    prefix = "grading machine: "


def test_a_new_failure_reason_is_one_class(db_url):
    make_gradebook(db_url, ["ada"])
    with Gradebook(db_url, COURSE) as gb:
        gbk.record_failure(gb, A, "ada", DiskFull("no space left on the disk of autograded/"))
    (row,) = gbk.export(db_url, COURSE)
    assert (row.status, row.reason, row.grader_fault) == (gbk.Status.FAILED, "DiskFull", True)
    assert row.detail == "grading machine: no space left on the disk of autograded/"
    summary = Summary([row], [("ada", A)]).describe()
    assert "1 failed through a fault of the grader's" in summary


def test_every_status_is_counted_in_the_summary_and_the_feedback_holds_back_the_unreviewed():
    rows = [gbk.Row(f"s{i}", A, None if s is gbk.Status.FAILED else 1.0, 3.0, s, "")
            for i, s in enumerate(gbk.Status)]
    text = Summary(rows, [(r.student_id, A) for r in rows]).describe()
    assert all(f"1 {s.words}" in text for s in gbk.Status), text
    assert [s for s in gbk.Status if s.held_back] == [gbk.Status.NEEDS_MANUAL, gbk.Status.FLAGGED]
    no_submission = gbk.Row("s9", A, None, 3.0, "failed", errors.NO_SUBMISSION)
    assert no_submission.no_submission and not rows[-1].no_submission


def test_the_feedback_page_shows_the_instructors_comment_but_not_the_graders_copy(db_url):
    from nbformat import v4

    from course_utils.grading.feedback import HideInstructorNotes

    make_gradebook(db_url, ["ada"])
    with Gradebook(db_url, COURSE) as gb:
        gbk.finish(gb, A, "ada", {NB: ["a test cell put back"]})
        shown = comment(gb, "ada").auto_comment
    assert shown == "Grading note: a test cell put back"
    # The instructor's own words stay, even when they read like the grader's.
    mine = "Grading note: come and see me about the second loop."
    cell = v4.new_code_cell("x = 1", metadata={"nbgrader": {"grade_id": ANSWER, "comment": f"{shown}\n{mine}"}})
    nb = v4.new_notebook(cells=[cell])
    resources = {"nbgrader": {"db_url": db_url, "assignment": A, "student": "ada", "notebook": NB}}
    nb, _ = HideInstructorNotes().preprocess(nb, resources)
    assert nb.cells[0].metadata.nbgrader["comment"] == mine
