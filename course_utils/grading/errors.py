"""Why a submission could not be graded: one class per reason, on the student's side or the grader's.

A reason is recorded in the gradebook's own table (:mod:`.gradebook`) by its class name, its
side and its words (``str()`` of the exception, the ``detail`` of grades.csv), and read back
from there, never from text. The side decides what the next run does:

- :class:`StudentFailure`: the submission itself cannot be graded (not a notebook, a kernel
  its code killed, over the time limit...). It stays failed until handed in again.
- :class:`GraderFault`: the grading machine or the grader kept it from being graded. Every
  run grades it again, once the instructor has mended what the detail names.

Adding a reason is adding a class here (with its ``prefix`` when its detail should say which
side it is on); raise it, or pass it to :func:`.gradebook.record_failure`, where it happens.
"""

from __future__ import annotations

from typing import ClassVar


class GradingFailure(Exception):
    """A submission not graded; ``str()`` is the reason in words for an instructor."""

    grader_fault: ClassVar[bool] = False
    """Whether the grader, not the submission, is to blame (the next run grades it again)."""
    prefix: ClassVar[str] = ""
    """How the detail begins, so that grades.csv says the side without the table."""

    def __init__(self, why: str = ""):
        super().__init__(why)
        self.why = why

    def __str__(self) -> str:
        return self.prefix + self.why

    @property
    def kind(self) -> str:
        """The name the gradebook records."""
        return type(self).__name__


class StudentFailure(GradingFailure):
    """The submission cannot be graded as it was handed in."""


class GraderFault(GradingFailure):
    """The grader or its machine kept the submission from being graded."""

    grader_fault = True


# ---- the student's side ----

class NotGradable(StudentFailure):
    """Not a notebook, invalid JSON, a missing notebook, too many cells, damaged metadata, a
    submission folder that is a link: what :mod:`.repair` and :mod:`.ingest` cannot mend."""


class KernelDied(StudentFailure):
    """The student's code ended the kernel (os._exit, a crash, running out of memory)."""


class OverTimeLimit(StudentFailure):
    """A cell did not stop when interrupted at its limit, or the submission ran past the backstop."""


class WorkerDied(StudentFailure):
    """The process grading the submission died (out of memory, most often)."""


class NbgraderFailed(StudentFailure):
    """nbgrader's autograde refused the submission (inconsistent checksums and the like)."""


class NoSubmission(StudentFailure):
    """A student of the gradebook handed in nothing for an assignment that others handed in."""

    def __init__(self, why: str = "no submission"):
        super().__init__(why)


# ---- the grader's side ----

class EnvironmentFault(GraderFault):
    """The grading environment lacks what the notebooks need (a data file, a package, a program,
    a path the sandbox allows)."""

    prefix = "grading environment: "


class InternalError(GraderFault):
    """The grader itself raised, twice."""

    prefix = "internal grading error "


class Unfinished(GradingFailure):
    """Not a reason but a state: the grading began and did not end (a run stopped half-way). The
    next run grades it again, on neither side."""

    def __init__(self, why: str = "grading did not finish: run the grading command again"):
        super().__init__(why)


NO_SUBMISSION = str(NoSubmission())
UNFINISHED = str(Unfinished())
