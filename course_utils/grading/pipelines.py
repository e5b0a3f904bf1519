"""The course's two nbgrader pipelines, each written once.

``nbgrader_config.py`` hands them to nbgrader's own commands and the Formgrader
(``c.Autograde.autograde_preprocessors``, ``c.GenerateFeedback.preprocessors``); the grading
command (:mod:`.autograde`) and ``make feedback`` (:mod:`.feedback`) run the same lists. A step
added here reaches every path at once.

The entries are import strings, the form nbgrader's configuration takes, so that reading
``nbgrader_config.py`` (the Formgrader does before each of its calls) imports none of them.
"""

from __future__ import annotations

EXECUTE = "course_utils.grading.execute.TrackedExecute"

AUTOGRADE: tuple[str, ...] = (
    EXECUTE,
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
)
"""nbgrader's own autograde steps, its ``Execute`` replaced by the course's (sandboxed, tests judged
outside the student's kernel, an output budget)."""

PREFLIGHT = "course_utils.grading.canary.Preflight"
ATTRIBUTE_FAULTS = "course_utils.grading.canary.AttributeFaults"
REFRESH_GRADES = "course_utils.grading.canary.RefreshGrades"


def autograde_preprocessors(*, standalone: bool) -> list[str]:
    """The autograde pipeline.

    ``standalone``: for nbgrader's own autograde (``nbgrader autograde``, the Formgrader's Autograde
    button), which has no grading command around it. The steps the command takes itself are then
    preprocessors (:mod:`.canary`): its preflight before the notebook runs, its fault attribution
    right after (a grader's fault stops nbgrader before ``SaveAutoGrades``), and the submission's
    outcome and grades.csv at the end.
    """
    steps = list(AUTOGRADE)
    if standalone:
        after_run = steps.index(EXECUTE) + 1
        steps = [PREFLIGHT, *steps[:after_run], ATTRIBUTE_FAULTS, *steps[after_run:], REFRESH_GRADES]
    return steps


FEEDBACK: tuple[str, ...] = (
    "course_utils.grading.feedback.HoldUnreviewed",
    "nbgrader.preprocessors.GetGrades",
    "course_utils.grading.feedback.HideInstructorNotes",
    "course_utils.grading.feedback.RedactHiddenTests",
    "course_utils.grading.feedback.ClearHiddenTestsOfTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
)
"""The feedback pipeline (:mod:`.feedback` says what each course step does): nbgrader's
``GetGrades`` and ``CSSHTMLHeaderPreprocessor`` around the steps that keep hidden tests hidden and
hold back a page still to review by hand."""


def feedback_preprocessors() -> list[str]:
    """The feedback pipeline, as a list nbgrader's configuration may keep."""
    return list(FEEDBACK)
