"""The Validate button with the course's summary on top, judged as grading judges.

nbgrader's Validate lists every failing test cell with its whole traceback, untouched
exercises included. This server extension serves the same ``/assignments/validate`` route
(the Validate button of nbgrader's lab extension calls it) with a validator whose reply is
the course's summary (how many exercises pass, which fail, which are not attempted, which
written answers are missing, the first error outside the test cells), then a few lines per
failing exercise. ``course_utils.studentlab`` switches it on in place of nbgrader's own.
"""

from __future__ import annotations

import copy
import html
import re
import textwrap
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
from nbgrader.server_extensions.validate_assignment import handlers
from nbgrader.validator import Validator

from . import nbtools, selfcheck
from .kernel import CourseExecute
from .upstream import validate_reply


class KeepSubmitted(Preprocessor):
    """The first step of :class:`CourseValidator`'s run: a copy of the notebook as read, for the
    validator that runs it (nbgrader makes each step with the validator as its parent)."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self.parent._submitted = copy.deepcopy(nb)
        return nb, resources


class KeepExecuted(Preprocessor):
    """The last step of :class:`CourseValidator`'s run: the notebook as run, for the validator."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self.parent._executed = nb
        return nb, resources


class CourseValidator(Validator):
    """nbgrader's Validator on the course's interpreter, judging and reporting as the course does.

    A test cell passes by the rule grading uses (:class:`nbtools.CellScorer`: the course's
    ``IgnorePattern`` drops warnings on stderr first), so Validate, ``make check`` and grading
    agree. The reply is short: the course's summary first (which exercises pass, fail, are not
    attempted), then each failing exercise in the few lines a failed check prints in the
    notebook. Not-attempted exercises are named once in the summary, without their tracebacks.
    """

    preprocessors = [KeepSubmitted, CheckCellMetadata, ClearOutput, CourseExecute, KeepExecuted]

    _submitted: NotebookNode | None = None
    """The notebook as read, before anything ran (:class:`KeepSubmitted`)."""
    _executed: NotebookNode | None = None
    """The notebook once run (:class:`KeepExecuted`); None when it did not run to the end."""

    def validate(self, filename: str) -> dict[str, list[dict[str, str]]]:
        self._submitted = self._executed = None
        results = super().validate(filename)
        if "failed" not in results or self._submitted is None or self._executed is None:
            return results  # passed, or cells changed where they must not: nbgrader's own reply
        report = selfcheck.score(self._submitted, self._executed, self.config, Path(filename).stem)
        if all(r.status in (selfcheck.PASSED, selfcheck.WRITTEN, selfcheck.UNANSWERED) for r in report.rows) \
                and report.first_error is None:
            del results["failed"]  # only warnings on stderr, which grading ignores too
            return results
        summary = "\n".join(textwrap.fill(line, self.width, subsequent_indent="  ")
                            for line in f"SUMMARY: {selfcheck.summary(report)}".splitlines())
        details = failing_details(self._executed, report, self.config)
        raw = "\n\n".join(details)
        # Written around nbgrader's lab extension: it puts "The following cell failed:" above each
        # entry's source and sets the entry's error as HTML. One entry carries the whole reply
        # (the summary as its source), and a style rule in that HTML hides the label, so the
        # dialog opens on the summary.
        error = _HIDE_LABEL + "".join(f"<div>{html.escape(d)}</div>" for d in details)
        results["failed"] = [{"source": summary, "error": error, "raw_error": raw}]
        return results


_HIDE_LABEL = ("<style>#validation-message.validation-failed > div:first-child { display: none; }"
               " #validation-message.validation-failed pre div + div { margin-top: 0.8em; }</style>")


def failing_details(executed: NotebookNode, report: selfcheck.NotebookReport, config=None) -> list[str]:
    """A few lines per failing exercise: its name, the test's line, the error (as checks print it)."""
    exercises = nbtools.exercises(executed)
    scorer = nbtools.CellScorer(config)
    out = []
    for row in report.rows:
        if row.status != selfcheck.FAILED or row.exercise not in exercises:
            continue
        cells = [executed.cells[i] for i in exercises[row.exercise].test_indices]
        failing = next((c for c in cells if not scorer.passed(c)), cells[0])
        out.append("\n".join([f"FAILING: {row.exercise} ({row.points:g}/{row.max_points:g} points)",
                              *compact_error(failing)]))
    return out


def compact_error(cell: NotebookNode, limit: int = 4) -> list[str]:
    """At most ``limit`` lines for a failed test cell: the failing line, the error, its hint.

    A failed check already renders this way (``checks._short_traceback``); any other error
    is cut to the test cell's line and the error's first line.
    """
    for output in cell.get("outputs", []):
        if output.output_type != "error":
            continue
        trace = [_ANSI.sub("", line) for line in output.get("traceback", [])]
        lines = [line for chunk in trace for line in chunk.splitlines() if line.strip()]
        if 0 < len(lines) <= limit and not any(line.startswith("Cell In[") for line in lines):
            return ["  " + line for line in lines]
        out = []
        at = _CELL_LINE.search("\n".join(lines))
        source = cell.source.splitlines()
        if at and 0 < int(at.group(1)) <= len(source):
            out.append(f"line {at.group(1)}: {source[int(at.group(1)) - 1].strip()}")
        first = (output.evalue or "").strip().splitlines()
        out.append(f"{output.ename}: {first[0] if first else ''}".strip())
        return ["  " + textwrap.shorten(line, 200) for line in out[:limit]]
    summary = nbtools.error_summary(cell)
    return [f"  {summary or 'partial credit: passed some but not all of the tests'}"]


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")


class ValidateHandler(handlers.ValidateAssignmentHandler):
    """nbgrader's handler with :class:`CourseValidator` (nbgrader's has no setting to choose the
    class: :func:`..upstream.validate_reply` repeats its few lines around the course's)."""

    def validate_notebook(self, path: str) -> dict[str, Any]:
        return validate_reply(self, path, CourseValidator)


def _load_jupyter_server_extension(serverapp) -> None:
    webapp = serverapp.web_app
    webapp.settings["root_dir"] = serverapp.root_dir
    base_url = webapp.settings["base_url"]
    webapp.add_handlers(".*$", [
        (url_path_join(base_url, "/assignments/validate"), ValidateHandler),
        (url_path_join(base_url, "/nbgrader_version"), handlers.NbGraderVersionHandler),
    ])


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "course_utils.validation"}]
