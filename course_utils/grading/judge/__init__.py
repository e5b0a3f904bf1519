"""The judge: test cells run in the grader's process, never in the student's kernel.

:mod:`.session` is the judge (its namespace, handles on the kernel's objects, callbacks),
:mod:`.kernel` the part that answers it inside the kernel, :mod:`.wire` what may cross
between the two, and :mod:`.cell` runs one test cell that way with any nbclient client.
"""

from .cell import run_test_cell
from .session import Judge, Outcome

__all__ = ["Judge", "Outcome", "run_test_cell"]
