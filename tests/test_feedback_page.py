"""The feedback page's own pieces, without grading anything: a failing hidden check's hint, the
summary table at the top, and the hold-back of a submission still to review by hand, which the
Formgrader's Generate Feedback shares with ``make feedback`` through ``nbgrader_config.py``."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbformat import v4

from course_utils.grading import feedback
from course_utils.grading.course import COURSE_ROOT, load_config

HIDDEN_CELL = (
    "# Tests for hessian_is_convex (2 points)\n"
    "check_equal(hessian_is_convex([[2, 0], [0, 2]]), True, 'a diagonal Hessian')\n"
    "### BEGIN HIDDEN TESTS\n"
    "# checks: a Hessian whose diagonal is positive but which is not convex\n"
    "check_equal(hessian_is_convex([[1, 3], [3, 1]]), False, 'hessian_is_convex([[1, 3], [3, 1]])',\n"
    "            hint='look at the eigenvalues of the Hessian, not its diagonal')\n"
    "### END HIDDEN TESTS\n")
EVALUE = ("hessian_is_convex([[1, 3], [3, 1]]): expected False, got True. "
          "Hint: look at the eigenvalues of the Hessian, not its diagonal")


def _nb(test_outputs: list, second_outputs: list | None = None, score=0.0) -> nbformat.NotebookNode:
    def meta(gid, **kw):
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, "locked": False, **kw}}

    answer = v4.new_code_cell("def hessian_is_convex(h):\n    return all(h[i][i] > 0 for i in range(2))",
                              metadata=meta("hessian_is_convex", solution=True, grade=False))
    test = v4.new_code_cell(HIDDEN_CELL, metadata=meta("hessian_is_convex_test", grade=True, solution=False,
                                                       points=2, score=score), execution_count=5)
    test.outputs = test_outputs
    stub = v4.new_code_cell("raise NotImplementedError()", metadata=meta("gradient", solution=True, grade=False))
    second = v4.new_code_cell("# Tests for gradient (1 point)\n### BEGIN HIDDEN TESTS\n# checks: x\ncheck(...)\n"
                              "### END HIDDEN TESTS\n",
                              metadata=meta("gradient_test", grade=True, solution=False, points=1, score=0.0),
                              execution_count=7)
    second.outputs = second_outputs or [v4.new_output("error", ename="NotImplementedError", evalue="",
                                                      traceback=[])]
    written = v4.new_markdown_cell("My answer", metadata=meta("why_convex", grade=True, solution=True, points=1,
                                                              score=None))
    return v4.new_notebook(cells=[answer, test, stub, second, written])


def _redact(nb):
    resources = {}
    nb, resources = feedback.RedactHiddenTests().preprocess(nb, resources)
    return nb, resources


def _failure(evalue: str = EVALUE, ename: str = "AssertionError") -> list:
    return [v4.new_output("error", ename=ename, evalue=evalue,
                          traceback=["Cell In[5], line 5", f"{ename}: {evalue}"])]


def test_a_failing_hidden_check_shows_its_own_hint_and_nothing_it_tested():
    nb, _ = _redact(_nb(_failure()))
    (output,) = nb.cells[1].outputs
    assert output.evalue == ("A hidden test of hessian_is_convex failed. It checks: a Hessian whose diagonal is "
                             "positive but which is not convex. Hint: look at the eigenvalues of the Hessian, "
                             "not its diagonal")
    text = str(output)
    assert "[[1, 3], [3, 1]]" not in text and "expected False" not in text and "got True" not in text


@pytest.mark.parametrize("evalue,ename", [
    ("hessian_is_convex([[1, 3], [3, 1]]): expected False, got True.", "AssertionError"),  # no hint given
    ("index 3 is out of bounds. Hint: student text", "IndexError"),  # not a check's message
])
def test_without_a_check_hint_the_page_says_only_what_the_test_checks(evalue, ename):
    nb, _ = _redact(_nb(_failure(evalue, ename)))
    (output,) = nb.cells[1].outputs
    assert output.evalue == ("A hidden test of hessian_is_convex failed. It checks: a Hessian whose diagonal "
                             "is positive but which is not convex.")


@pytest.mark.parametrize("hint", ["expected False for an indefinite Hessian",
                                  "[[1, 3], [3, 1]] has a negative eigenvalue",  # the hidden input
                                  "its eigenvalues are 4 and -2"])  # numbers of the hidden block... or not
def test_a_hint_that_gives_the_hidden_test_away_stays_off_the_page(hint):
    source = HIDDEN_CELL.replace("look at the eigenvalues of the Hessian, not its diagonal", hint)
    if "4 and -2" in hint:  # a reference value the hidden code holds
        source = source.replace("False, 'hessian", "bool(min(4, -2) >= 0), 'hessian")
    nb = _nb(_failure(f"hessian_is_convex(...): expected False, got True. Hint: {hint}"))
    nb.cells[1].source = source
    nb, _ = _redact(nb)
    (output,) = nb.cells[1].outputs
    assert "Hint" not in output.evalue and "It checks:" in output.evalue


def _judged(line: int | None, evalue: str, failing_line="same") -> nbformat.NotebookNode:
    """The notebook with its first test cell failed as the judge leaves it: its outputs, and the
    failing line in the cell's metadata (``failing_line`` overrides what the metadata says)."""
    from course_utils.grading.judge.cell import JUDGED, outputs
    from course_utils.grading.judge.session import Outcome

    nb = _nb(outputs(Outcome(False, "AssertionError", evalue, line=line), []))
    nb.cells[1].metadata[JUDGED] = {"failing_line": line if failing_line == "same" else failing_line}
    return nb


VISIBLE = "a diagonal Hessian: expected True, got False"  # what the check on line 2 (visible) says


def test_a_judged_cell_is_placed_by_the_failing_line_the_judge_hands_over():
    """The judge hands the failing line over as data: a visible check's failure keeps its message,
    a hidden one's is replaced, whatever the traceback's text says."""
    nb, _ = _redact(_judged(2, VISIBLE))
    assert [o.evalue for o in nb.cells[1].outputs] == [f"AssertionError: {VISIBLE}"]
    nb, _ = _redact(_judged(5, EVALUE))
    (output,) = nb.cells[1].outputs
    assert output.evalue.startswith("A hidden test of hessian_is_convex failed.")
    assert "[[1, 3], [3, 1]]" not in str(output)
    text_says_visible = _judged(5, EVALUE)
    text_says_visible.cells[1].outputs[0].traceback.insert(0, "Cell In[5], line 2")  # text is not read
    nb, _ = _redact(text_says_visible)
    assert nb.cells[1].outputs[0].evalue.startswith("A hidden test of hessian_is_convex failed.")
    for unknown in (None, "2", True, {"line": 2}):  # a line that cannot be placed stays hidden
        nb, _ = _redact(_judged(2, EVALUE, failing_line=unknown))
        assert nb.cells[1].outputs[0].evalue.startswith("A hidden test of hessian_is_convex failed."), unknown


def test_the_page_starts_with_one_row_per_exercise():
    nb, resources = _redact(_nb(_failure()))
    assert [(r["exercise"], r["kind"], r["score"], r["points"], r["state"]) for r in resources["course_summary"]] == [
        ("hessian_is_convex", "tests", 0.0, 2, "failed"),
        ("gradient", "tests", 0.0, 1, "not attempted"),
        ("why_convex", "written answer", None, 1, "to be graded by hand")]
    passed, resources = _redact(_nb([], score=2.0))
    assert resources["course_summary"][0]["state"] == "passed"


def test_the_feedback_template_draws_the_summary_table(tmp_path):
    """The course's template, as make feedback and nbgrader's GenerateFeedback use it."""
    from nbconvert import HTMLExporter

    from course_utils.grading.templates import feedback_template_basedirs

    nb, resources = _redact(_nb(_failure()))
    import nbgrader

    css = Path(nbgrader.__file__).parent / "server_extensions/formgrader/static/node_modules/bootstrap/dist/css"
    exporter = HTMLExporter(template_name="feedback", extra_template_basedirs=feedback_template_basedirs(),
                            extra_template_paths=[str(css)])  # as nbgrader's GenerateFeedback adds it
    resources["nbgrader"] = {"notebook": "convexity", "score": 0.0, "max_score": 4.0, "late_penalty": 0}
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    table = html.split('id="summary"', 1)[1].split("</table>", 1)[0]
    assert html.index('id="summary"') < html.index('id="toc"')  # at the top of the page
    assert '<a href="#hessian_is_convex_test">hessian_is_convex</a>' in table
    assert "not attempted" in table and "to be graded by hand" in table and "failed" in table


# ---- one release policy: make feedback and the Formgrader's Generate Feedback ----

def _gradebook(tmp_path, manual: bool) -> str:
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with Gradebook(url, "bigram-course") as gb:
        gb.add_assignment("01_convexity")
        gb.add_notebook("convexity", "01_convexity")
        gb.add_grade_cell("why_convex", "convexity", "01_convexity", max_score=1, cell_type="markdown")
        gb.add_solution_cell("why_convex", "convexity", "01_convexity")
        gb.add_student("s1")
        gb.add_submission("01_convexity", "s1")
        grade = gb.find_grade("why_convex", "convexity", "01_convexity", "s1")
        grade.needs_manual_grade = manual
        grade.manual_score = None if manual else 1
        gb.db.commit()
    return url


def _resources(url):
    return {"nbgrader": {"db_url": url, "assignment": "01_convexity", "student": "s1", "notebook": "convexity"}}


def test_a_page_still_to_review_by_hand_is_held_back(tmp_path):
    url = _gradebook(tmp_path, manual=True)
    nb = v4.new_notebook()
    with pytest.raises(feedback.HeldBack, match="held back for s1/01_convexity: needs_manual .*why_convex.*"
                                                "INCLUDE_UNREVIEWED=1"):
        feedback.HoldUnreviewed().preprocess(nb, _resources(url))
    feedback.HoldUnreviewed(include_unreviewed=True).preprocess(nb, _resources(url))  # released on request


def test_a_reviewed_page_is_written(tmp_path):
    url = _gradebook(tmp_path, manual=False)
    feedback.HoldUnreviewed().preprocess(v4.new_notebook(), _resources(url))


def test_nbgraders_generate_feedback_holds_back_as_make_feedback_does():
    """The Formgrader's Generate Feedback runs nbgrader's GenerateFeedback with the course's
    configuration: the hold-back comes first there too."""
    config = load_config(COURSE_ROOT)
    assert config.GenerateFeedback.preprocessors[0] == "course_utils.grading.feedback.HoldUnreviewed"
    assert "course_utils.grading.feedback.RedactHiddenTests" in config.GenerateFeedback.preprocessors
