"""The judge: test cells run in the grader's process, never in the student's kernel.

:mod:`.session` is the judge (its namespace, handles on the kernel's objects, callbacks),
:mod:`.kernel` the part that answers it inside the kernel, :mod:`.wire` what may cross
between the two, and :mod:`.cell` runs one test cell that way with any nbclient client.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .cell import run_test_cell
    from .session import Judge, Outcome

__all__ = ["Judge", "Outcome", "run_test_cell"]
_HOMES = {"Judge": ".session", "Outcome": ".session", "run_test_cell": ".cell"}


def __getattr__(name: str) -> Any:
    # Imported on first use: the kernel imports .kernel through this package at every test
    # cell's start, inside the cell's time limit, and must not pay for the grader's side
    # (nbformat alone takes seconds on a loaded machine).
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
