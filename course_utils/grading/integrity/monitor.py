"""The run-time check: the probe reports, in the kernel, what the notebook has replaced since
the first cell (:class:`Monitor`, run by ``execute.TrackedExecute`` after every test cell); a
test cell that ran with anything replaced gets :func:`error_output`."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat

from .plan import Plan

PROBE_SOURCE = Path(__file__).with_name("probe.py").read_text()
ERROR_NAME = "IntegrityError"


class ProbeFailed(RuntimeError):
    pass


class Monitor:
    """Runs the probe in a kernel through an nbclient ``NotebookClient`` (``TrackedExecute``)."""

    def __init__(self, client, plan: Plan):
        self.client = client
        self.plan = plan
        self.baseline: dict[str, int] = {}
        self.digest = ""

    def _run(self, spec: dict) -> dict:
        code = ("__course_probe = {'__name__': '_course_integrity'}\n"
                f"exec({PROBE_SOURCE!r}, __course_probe)\n"
                f"__import__('sys')._course_integrity_result = __course_probe['run'](globals(), {spec!r})\n"
                "del __course_probe\n")
        kc = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False,
                            user_expressions={"r": "__import__('sys')._course_integrity_result"})
        reply = self.client.wait_for_reply(msg_id)
        if reply is None:
            raise ProbeFailed("the kernel did not answer the integrity check")
        content = reply["content"]
        if content.get("status") != "ok":
            raise ProbeFailed(f"the integrity check failed in the kernel: {content.get('ename')}: "
                              f"{content.get('evalue')}")
        result = content.get("user_expressions", {}).get("r", {})
        try:
            return json.loads(ast.literal_eval(result["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError, TypeError):
            raise ProbeFailed("the integrity check returned nothing readable") from None

    def start(self) -> list[str]:
        """Record the originals (before the first cell). Returns modules that failed to import."""
        result = self._run({"modules": self.plan.modules, "baseline": True, "full": True})
        self.baseline, self.digest = result["ids"], result["digest"]
        return result["errors"]

    def check(self, cell) -> list[str]:
        """What the notebook has replaced by now, in words (empty when nothing)."""
        try:
            result = self._run(self.plan.spec(cell))
            problems = list(result["names"])
            if result["digest"] != self.digest:
                full = self._run({**self.plan.spec(cell), "full": True})
                ids = full["ids"]
                for path in full.get("wrapped", []):  # the library wrapped its own function
                    self.baseline[path] = ids[path]
                changed = [path for path, ident in self.baseline.items() if ids.get(path) != ident]
                if not changed:  # new attributes or the library's own wrappers: the new normal
                    self.digest = full["digest"]
                problems += [f"{_display(p)} was {'replaced' if p in ids else 'deleted'}"
                             for p in changed]
        except ProbeFailed as exc:
            problems = [str(exc)]
        return problems


def _display(path: str) -> str:
    return path.replace("<notebook>.", "the notebook's ")


SCORED_ZERO = " (this test scores 0; the submission is flagged for review)"


def error_output(problems: list[str]) -> nbformat.NotebookNode:
    """The output that scores a test cell 0 and tells the student why."""
    message = "; ".join(problems) + SCORED_ZERO
    return nbformat.v4.new_output("error", ename=ERROR_NAME, evalue=message,
                                  traceback=[f"{ERROR_NAME}: {message}"])
