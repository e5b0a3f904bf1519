"""One line, not a traceback, for a cell that fails only because an exercise is not done yet.

An IPython extension loaded by the course's kernel in JupyterLab (``python -m course_utils.kernel``
puts it in the kernelspec). On Run All of a fresh notebook:

- a test cell of an exercise not attempted says ``not attempted yet: write X above``;
- a lecture cell that uses such an exercise (calls its stub, or reads what its cell or an
  earlier cell that failed for it would have set) says ``needs X first`` instead of the
  NotImplementedError, NameError, TypeError or KeyError it raised.

Every other error is shown as before (a failed check keeps its short form). Only the
rendering changes: the cell still fails, with the same exception. The course's own commands
(``make check``, Validate, grading) start their kernels without this extension, and while
nbgrader autogrades it does nothing, so it has no part in judging a cell.
"""

from __future__ import annotations

import os
import re
from typing import Any

from . import nbtools

STUB_MESSAGE = "Exercise not done yet"
"""How the stub of an unfilled exercise starts its NotImplementedError (nbgrader_config.py's code_stub)."""
_TEST_TITLE = re.compile(r"#\s*Tests for (?P<name>\S+)")


class Hints:
    """What the notebook is missing so far: each name a failed cell would have set, and the exercise why."""

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.missing: dict[str, str] = {}
        self.source = ""

    def pre_run_cell(self, info: Any) -> None:
        self.source = getattr(info, "raw_cell", "") or ""

    def post_run_cell(self, result: Any) -> None:
        if getattr(result, "success", False):  # a cell that now runs sets its names for real
            for name in nbtools.names_bound(nbtools.parse(self.source)):
                self.missing.pop(name, None)

    def exercise(self, value: BaseException, tb: Any) -> str | None:
        """The exercise the error comes from, or None when it is an error of its own."""
        if isinstance(value, NotImplementedError) and str(value).startswith(STUB_MESSAGE):
            while tb.tb_next is not None:
                tb = tb.tb_next
            name = tb.tb_frame.f_code.co_name
            if name != "<module>":
                return name
            bound = sorted(nbtools.names_bound(nbtools.parse(self.source)))
            return f"the exercise that sets {', '.join(bound[:3])}" if bound else "the exercise in this cell"
        read = nbtools.names_read(nbtools.parse(self.source))
        return next((self.missing[n] for n in sorted(read) if n in self.missing), None)

    def handler(self, shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> None:
        """IPython's custom exception handler: shows the one line, else what IPython itself would show."""
        why = None if os.environ.get("NBGRADER_EXECUTION") == "autograde" else self.exercise(value, tb)
        if why is None:
            # IPython's own showtraceback: a failed check's short form, or the whole traceback
            shell.showtraceback((etype, value, tb), tb_offset=tb_offset)
            return
        for name in nbtools.names_bound(nbtools.parse(self.source)):
            self.missing[name] = why
        title = _TEST_TITLE.match(self.source.lstrip())
        line = (f"not attempted yet: write {title['name']} above" if title is not None
                else f"needs {why} first (an exercise above is not done yet)")
        # IPython calls this handler and shows nothing itself; the kernel's _showtraceback sends
        # the error (the same exception, so the cell still fails) with this line as its traceback.
        shell._showtraceback(etype, value, [line])


def load_ipython_extension(shell: Any) -> None:
    """Register the hints with ``shell`` (once, whatever loaded it before)."""
    hints = Hints(shell)
    for event in ("pre_run_cell", "post_run_cell"):
        callbacks = shell.events.callbacks[event]
        callbacks[:] = [cb for cb in callbacks if getattr(getattr(cb, "__self__", None), "__class__", None)
                        .__name__ != "Hints"]
        shell.events.register(event, getattr(hints, event))
    shell.set_custom_exc((Exception,), hints.handler)
