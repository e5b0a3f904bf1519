"""The Validate button with the course's summary on top.

nbgrader's Validate lists every failing test cell and nothing else. This server extension
serves the same ``/assignments/validate`` route (the Validate button of nbgrader's lab
extension calls it) with a validator that puts the course's summary first: how many
exercises pass, which fail, which are not attempted, which written answers are missing,
and the first error outside the test cells. ``course_utils.studentlab`` switches it on in
place of nbgrader's own.
"""

from __future__ import annotations

import copy
import textwrap
import traceback
from pathlib import Path
from typing import Any

from jupyter_server.utils import url_path_join
from nbformat import NotebookNode
from nbgrader.preprocessors import CheckCellMetadata, ClearOutput
from nbgrader.server_extensions.validate_assignment import handlers
from nbgrader.validator import Validator
from tornado import web

from . import selfcheck
from .kernel import CourseExecute


class CourseValidator(Validator):
    """nbgrader's Validator on the course's interpreter; its reply starts with the course's summary."""

    preprocessors = [CheckCellMetadata, ClearOutput, CourseExecute]

    def _preprocess(self, nb: NotebookNode) -> NotebookNode:
        self._released_form = copy.deepcopy(nb)
        self._executed = super()._preprocess(nb)
        return self._executed

    def validate(self, filename: str) -> dict[str, list[dict[str, str]]]:
        results = super().validate(filename)
        failed = results.get("failed")
        if failed and getattr(self, "_executed", None) is not None:
            report = selfcheck.score(self._released_form, self._executed, self.config, Path(filename).stem)
            # nbgrader's dialog shows each failing cell's source, then its error: the summary goes
            # at the top of the first source, the first thing the student reads.
            text = "\n".join(textwrap.fill(line, self.width, subsequent_indent="  ")
                             for line in f"SUMMARY: {selfcheck.summary(report)}".splitlines())
            failed[0]["source"] = f"{text}\n\nFIRST FAILING CELL:\n{failed[0]['source']}"
        return results


class ValidateHandler(handlers.ValidateAssignmentHandler):
    """nbgrader's handler with :class:`CourseValidator`.

    Written around nbgrader: its handler builds a ``Validator`` inside ``validate_notebook``
    with no setting to choose the class, so this method repeats its few lines (the path check
    and the reply) around the course's validator.
    """

    def validate_notebook(self, path: str) -> dict[str, Any]:
        root = Path(self.root_dir).resolve()
        target = (root / path).resolve()
        if not target.is_relative_to(root):
            raise web.HTTPError(403, "Access denied: path outside allowed directory")
        try:
            result = CourseValidator(config=self.load_config()).validate(str(target))
        except Exception:  # noqa: BLE001  (nbgrader's handler reports every failure the same way)
            self.log.error(traceback.format_exc())
            return {"success": False, "value": traceback.format_exc()}
        return {"success": True, "value": result}


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
