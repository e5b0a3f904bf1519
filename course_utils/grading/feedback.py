"""Per-student feedback that keeps the hidden tests hidden.

    course-feedback [ASSIGNMENT ...] [--shard i/n] [--db-url URL]   # or python -m course_utils.grading.feedback

(``make feedback`` runs this.) nbgrader's ``GenerateFeedback`` converter writes
``feedback/<student>/<assignment>/<notebook>.html`` from the autograded
notebooks and the gradebook, as ``nbgrader generate_feedback`` does, with two
more preprocessors before its HTML export:

- :class:`RedactHiddenTests` rewrites the outputs of every test cell that has
  hidden tests: an error raised by a hidden line (or one that cannot be placed)
  becomes one line naming the exercise and, when the instructor wrote one, the
  kind of check (the ``# checks: ...`` comment right after ``### BEGIN HIDDEN
  TESTS``, see CONTRIBUTING.md), then the failing check's own ``hint=`` (the text a
  ``check_*`` call puts after " Hint: ", written by the instructor; never the check's
  inputs, expected value or answer). A failing visible check keeps its message but
  loses its traceback (whose context lines could show hidden code). Other output
  of such a cell (prints, warnings, the last value) is dropped: it cannot be
  told apart from what the hidden tests printed. A test cell whose exercise
  still raises the stub's ``NotImplementedError`` says "Not attempted" once. It also
  lists each graded cell (exercise, score, passed/failed/not attempted/to grade by hand)
  for the table at the top of the page (``resources["course_summary"]``).
- :class:`HoldUnreviewed`, first, refuses the page of a submission still to review by hand
  (written answers not graded yet, or flagged), so ``make feedback`` and the Formgrader's
  Generate Feedback release the same pages; ``--HoldUnreviewed.include_unreviewed=True``
  (``make feedback INCLUDE_UNREVIEWED=1``) releases them.
- :class:`ClearHiddenTestsOfTests`, nbgrader's own ``ClearHiddenTests`` applied to
  the test cells only, then removes the hidden source. (Hidden tests live only in
  test cells, restored from the gradebook; nbgrader's version also reads the
  student's cells, where the marker text twice or without its end made the whole
  feedback fail.)

Failed submissions have no autograded notebook, so they get no feedback (their
reason is in grades.csv and in the formgrader).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.converters import GenerateFeedback
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Bool, List, Unicode

from ..nbtools import is_test_cell
from . import gradebook as gbk
from . import safe_html
from .course import AUTOGRADED, COURSE_ROOT, in_shard, load_config, parse_shard, scripts_on_path
from .course import assignments as all_assignments
from .execute import TIMEOUT_ERRORS
from .gradebook import Status
from .judge.cell import JUDGED
from .pipelines import feedback_preprocessors
from .settings import Grading
from .templates import feedback_template_basedirs

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CHECKS = re.compile(r"^\s*#\s*checks:\s*(.+?)\s*$", re.I)
STOPPED_ERRORS = {*TIMEOUT_ERRORS, "KeyboardInterrupt"}
"""Errors of a cell that was stopped: at the time limit, or (for the page only) by hand."""
STUB_ERROR = "NotImplementedError"  # what an unfilled exercise raises (nbgrader_config.py's code stub)
HINT = " Hint: "  # how course_utils.checks appends a check's hint= to its message


def hint_of(output: dict) -> str | None:
    """The instructor's hint of a failed ``check_*`` (what follows the last " Hint: " of an
    AssertionError's message), or None. The text before it (what was checked, expected, got)
    is never returned: for a hidden test it names the hidden inputs and values."""
    if output.get("ename") != "AssertionError":
        return None  # the student's own error, or the test's: no check's hint in it
    _, found, hint = str(output.get("evalue", "")).rpartition(HINT)
    hint = hint.strip()
    return (hint or None) if found else None


NUMBER = re.compile(r"\d+(?:\.\d+)?(?:e-?\d+)?")
HINT_ARGUMENT = re.compile(r"""hint\s*=\s*[rf]?(["'])(?:\\.|(?!\1).)*\1""")


def reveals(hint: str, hidden: str) -> bool:
    """Whether a hidden check's hint gives away what the hidden tests use: it says "expected",
    or names a number (other than 0 and 1) that the hidden block's code holds (an input or a
    reference value), the hints themselves aside. Such a hint stays off the page."""
    if "expected" in hint.lower():
        return True
    code = HINT_ARGUMENT.sub("", hidden)
    return any(n not in ("0", "1") and n in code for n in NUMBER.findall(hint))


def hidden_regions(source: str, begin: str, end: str) -> list[tuple[int, int, str | None]]:
    """(first line, last line, what it checks) of each hidden block; lines count from 1."""
    regions, start, what = [], None, None
    for number, line in enumerate(source.splitlines(), start=1):
        if start is None and begin in line:
            start, what = number, None
        elif start is not None and end in line:
            regions.append((start, number, what))
            start = None
        elif start is not None and what is None and number == start + 1:
            match = CHECKS.match(line)
            what = match.group(1).rstrip(".") if match else None
    if start is not None:  # no end marker: the rest of the cell is hidden
        regions.append((start, len(source.splitlines()), what))
    return regions


def failing_line(cell: NotebookNode, output: dict) -> int | None:
    """The line of the test cell itself (not of a function it called) where ``output``'s error was
    raised, or None when it cannot be placed.

    A judged cell carries it as data in its metadata (:data:`.judge.cell.JUDGED`, written by the
    judge on every run, so never the submission's). A test cell run in the student's kernel
    (``c.TrackedExecute.judge = False``) has no such data: IPython hands its failing line over
    only as the ``Cell In[n], line k`` of its traceback text, which is read then. The grader
    removes the key from every cell it runs in the kernel, so a submission cannot forge it there.
    """
    judged = cell.get("metadata", {}).get(JUDGED)
    if judged is not None:
        line = judged.get("failing_line") if isinstance(judged, dict) else None
        return line if isinstance(line, int) and not isinstance(line, bool) else None
    count = cell.get("execution_count")
    text = ANSI.sub("", "\n".join(output.get("traceback", [])))
    if count is not None:
        match = re.search(rf"Cell In\[{count}\], line (\d+)", text)
        if match:
            return int(match.group(1))
    return None


def _display_data_priority() -> List:
    return List(["text/html", "application/pdf", "text/latex", "image/svg+xml", "image/png", "image/jpeg",
                 "text/plain"]).tag(config=True)


class _FeedbackPreprocessor(NbGraderPreprocessor):
    """nbgrader's preprocessor base, taking the ``display_data_priority`` that nbconvert's
    HTMLExporter configures for every converter piece (as nbgrader's GetGrades does), so the
    Formgrader's Generate Feedback log does not warn that the option is not recognised."""

    display_data_priority = _display_data_priority()


class ClearHiddenTestsOfTests(ClearHiddenTests):
    """nbgrader's ``ClearHiddenTests`` on test cells only: a student's cell is the student's text,
    whatever markers it contains."""

    display_data_priority = _display_data_priority()

    def preprocess_cell(self, cell: NotebookNode, resources, index: int):
        if not is_test_cell(cell):
            return cell, resources
        return super().preprocess_cell(cell, resources, index)


class RedactHiddenTests(_FeedbackPreprocessor):
    """Replace what a test cell's hidden tests show in its outputs by one line per exercise."""

    begin_test_delimeter = Unicode("BEGIN HIDDEN TESTS").tag(config=True)
    end_test_delimeter = Unicode("END HIDDEN TESTS").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources):
        hidden = ClearHiddenTestsOfTests(parent=self)  # the same delimiters as the release
        self.begin_test_delimeter = hidden.begin_test_delimeter
        self.end_test_delimeter = hidden.end_test_delimeter
        self._exercise = {}
        current = None
        for cell in nb.cells:
            if utils.is_solution(cell) and not utils.is_grade(cell):
                current = cell.metadata.nbgrader["grade_id"]
            elif utils.is_grade(cell) and cell.cell_type == "code":
                gid = cell.metadata.nbgrader["grade_id"]
                self._exercise[gid] = current or re.sub(r"_test$", "", gid)
        nb, resources = super().preprocess(nb, resources)
        resources["course_summary"] = self.summary(nb)
        return nb, resources

    def preprocess_cell(self, cell: NotebookNode, resources, index: int):
        if cell.cell_type != "code" or not utils.is_grade(cell):
            return cell, resources
        exercise = self._exercise.get(cell.metadata.nbgrader["grade_id"], "this exercise")
        if any(o.get("output_type") == "error" and o.get("ename") == STUB_ERROR for o in cell.get("outputs", [])):
            # The exercise's stub still raises: one line saying so, whatever the tests would check.
            message = f"Not attempted: {exercise} still raises the {STUB_ERROR} of its unfilled TODO."
            cell.outputs = [NotebookNode(output_type="error", ename="NotAttempted", evalue=message,
                                         traceback=[message])]
            return cell, resources
        regions = hidden_regions(cell.source, self.begin_test_delimeter, self.end_test_delimeter)
        if not regions:
            return cell, resources
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue  # prints, warnings, the cell's value: possibly from hidden code
            line = failing_line(cell, output)
            region = next((r for r in regions if line is not None and r[0] <= line <= r[1]), None)
            if output.get("ename") in STOPPED_ERRORS:
                message = (f"The tests of {exercise} were stopped at the time limit: "
                           "look for an endless loop or very slow code.")
            elif line is not None and region is None:
                message = f"{output.get('ename')}: {output.get('evalue')}"
            else:
                what = (region or regions[0])[2]
                message = f"A hidden test of {exercise} failed."
                if what:
                    message += f" It checks: {what}."
                hint = hint_of(output)
                block = region or regions[0]
                hidden = "\n".join(cell.source.splitlines()[block[0] - 1:block[1]])
                if hint and not reveals(hint, hidden):
                    message += f" Hint: {hint}"
            outputs.append(NotebookNode(output_type="error", ename="TestFailed", evalue=message,
                                        traceback=[message]))
        cell.outputs = outputs
        return cell, resources

    def summary(self, nb: NotebookNode) -> list[dict]:
        """One row per graded cell for the page's table: what it is, its score and how it went."""
        rows = []
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("grade"):
                continue
            gid = meta.get("grade_id", "")
            score, points = meta.get("score"), meta.get("points")
            if cell.cell_type == "code" and not meta.get("solution"):
                label = self._exercise.get(gid, gid)
                not_attempted = any(o.get("ename") == "NotAttempted" for o in cell.get("outputs", []))
                what = "tests"
            else:
                label, not_attempted = gid, False
                what = "written answer" if cell.cell_type == "markdown" else "code answer"
            if score is None:
                state = "to be graded by hand"
            elif not_attempted:
                state = "not attempted"
            elif points is not None and float(score) >= float(points):
                state = "passed"
            else:
                state = "failed" if what == "tests" else "graded"
            rows.append({"exercise": label, "grade_id": gid, "kind": what, "score": score, "points": points,
                         "state": state})
        return rows


class HoldUnreviewed(_FeedbackPreprocessor):
    """Refuse the page of a submission still to review by hand, as ``make feedback`` holds it back.

    nbgrader then writes no page for it (and removes one written before) and reports the
    reason; the Formgrader shows it as an error of Generate Feedback.
    """

    include_unreviewed = Bool(False, help="release the feedback of submissions that need manual "
                              "grading or are flagged for review").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources):
        if self.include_unreviewed:
            return nb, resources
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            try:
                row = gbk.row(gb.find_submission(info["assignment"], info["student"]))
            except MissingEntry:
                return nb, resources
        if not row.status.reviewed:
            raise HeldBack(
                f"feedback held back for {row.student_id}/{row.assignment}: {row.status} ({row.detail}). "
                "Grade it by hand in the Formgrader, then generate its feedback again; to release it "
                "anyway: make feedback INCLUDE_UNREVIEWED=1, or "
                "nbgrader generate_feedback --HoldUnreviewed.include_unreviewed=True")
        return nb, resources


class HeldBack(ValueError):
    """A page not written because its submission is still to review by hand."""


class HideInstructorNotes(_FeedbackPreprocessor):
    """Drop from the comments GetGrades puts on the page the lines the grading tools copied there for
    the Formgrader (failure reasons, repairs, review flags: :func:`.gradebook.copied_lines`): they
    are written for the instructor, not the student."""

    def preprocess(self, nb: NotebookNode, resources):
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            self._copied = gbk.copied_lines(gb, info["assignment"], info["student"])
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell: NotebookNode, resources, index: int):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("comment") and self._copied:
            kept = [line for line in meta["comment"].splitlines() if line not in self._copied]
            meta["comment"] = "\n".join(kept) or None
        return cell, resources


def _coursedir(root: Path, db_url: str, assignment: str, student: str, include_unreviewed: bool = False) -> tuple:
    config = load_config(root, db_url=db_url)
    config.GenerateFeedback.preprocessors = feedback_preprocessors()  # whatever a config file says
    config.HoldUnreviewed.include_unreviewed = include_unreviewed
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = feedback_template_basedirs()
    safe_html.configure(config)  # whatever nbgrader_config.py says: feedback pages carry no script
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = assignment
    coursedir.student_id = student
    return coursedir, config


def _one(root: Path, db_url: str, assignment: str, student: str, include_unreviewed: bool = False) -> bool:
    """nbgrader's GenerateFeedback for one submission, with the preprocessors above."""
    import logging

    log = logging.getLogger("course_feedback")
    log.propagate = False
    log.handlers[:] = [logging.NullHandler()]
    coursedir, config = _coursedir(root, db_url, assignment, student, include_unreviewed)
    app = GenerateFeedback(coursedir=coursedir, config=config)
    app.log = log
    app.force = True
    try:
        app.start()
        return True
    except NbGraderException:
        return False


def write_pages(root: Path = COURSE_ROOT, assignments: list[str] | None = None, *,
                db_url: str | None = None, shard=None, jobs: int | None = None,
                progress: bool = True, include_unreviewed: bool = False) -> dict[str, list[str]]:
    """Write the feedback of every autograded submission, ``jobs`` at a time.

    A submission whose status is held back (:attr:`.gradebook.Status.held_back`: needs manual
    grading, flagged for review) is left out unless ``include_unreviewed``. Returns
    ``{"written": [...], "failed": [...]}`` and a list per status held back (``"needs_manual"``,
    ``"flagged"``), with ``student/assignment`` entries.
    """
    from tqdm.auto import tqdm

    from .pool import process_pool

    root = Path(root).resolve()
    db_url = db_url or Grading.load(root).gradebook  # c.Grading.db_url, as make grade reads it
    chosen = assignments or all_assignments(root)
    base = root / AUTOGRADED
    todo = sorted(
        (p.parent.name, p.name) for a in chosen for p in base.glob(f"*/{a}")
        if p.is_dir() and any(p.glob("*.ipynb")) and in_shard(p.parent.name, shard))
    config = load_config(root, db_url=db_url)
    status = {(r.student_id, r.assignment): r.status for r in gbk.export(
        db_url, config.CourseDirectory.get("course_id", "default_course"), assignments=chosen,
        pending=lambda s, a: True)}
    done: dict[str, list[str]] = {"written": [], "failed": [], **{s.value: [] for s in Status if s.held_back}}
    for item in todo:
        if status.get(item, Status.GRADED).held_back and not include_unreviewed:
            done[status[item].value].append(f"{item[0]}/{item[1]}")
    todo = [item for item in todo if status.get(item, Status.GRADED).reviewed
            or (include_unreviewed and status[item].held_back)]
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo) or 1))
    bar = tqdm(total=len(todo), desc="feedback", unit="nb", file=sys.stderr, disable=not progress)
    pool = process_pool(jobs)  # the grading command's kind of pool
    try:
        futures = {pool.schedule(_one, (root, db_url, a, s, include_unreviewed)): (s, a) for s, a in todo}
        for future, (student, assignment) in futures.items():
            try:
                written = future.result()
            except Exception as exc:  # noqa: BLE001  (its worker died or nbgrader raised: this page only)
                print(f"feedback of {student}/{assignment}: {type(exc).__name__}: {exc}", file=sys.stderr)
                written = False
            done["written" if written else "failed"].append(f"{student}/{assignment}")
            bar.update(1)
    except BaseException:
        pool.stop()
        raise
    finally:
        pool.close()
        pool.join()
        bar.close()
    return done


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(
        description="Write feedback/<student>/<assignment>/*.html without revealing hidden tests.")
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    parser.add_argument("--root", type=Path, default=COURSE_ROOT)
    parser.add_argument("--db-url", default=None, help="gradebook URL (default: c.Grading.db_url, else <root>/gradebook.db)")
    parser.add_argument("--shard", default=None, help="i/n: only shard i of n of the students")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="parallel workers (default: cores)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--include-unreviewed", action="store_true",
                        help="also release feedback of submissions that need manual grading or are flagged")
    args = parser.parse_args(argv)
    done = write_pages(args.root, args.assignments or None, db_url=args.db_url,
                       shard=parse_shard(args.shard), jobs=args.jobs, progress=not args.no_progress,
                       include_unreviewed=args.include_unreviewed)
    print(f"feedback written for {len(done['written'])} submissions under "
          f"{Path(args.root).resolve() / 'feedback'}")
    for held in (s for s in Status if s.held_back and done[s.value]):
        items = done[held.value]
        print(f"{len(items)} held back: {held.words} ({', '.join(items[:5])}"
              f"{' ...' if len(items) > 5 else ''}); --include-unreviewed releases them")
    for item in done["failed"]:
        print(f"  no feedback for {item}: nbgrader could not generate it", file=sys.stderr)
    return 1 if done["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
