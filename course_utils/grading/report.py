"""The end of a grading run in words: what happened to the submissions it was asked to grade."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import gradebook as gbk
from .course import SUBMITTED
from .gradebook import Status


@dataclass
class Summary:
    rows: list[gbk.Row]
    scope: list[tuple[str, str]]
    """(student, assignment) of the submissions this run was asked to grade."""
    graded_now: int = 0
    skipped: int = 0
    seconds: float = 0.0
    times: dict[tuple[str, str], float] = field(default_factory=dict)
    interrupted: bool = False
    output: Path | None = None
    canary_seconds: float | None = None
    """How long grading the instructor's solutions first took (None: not graded in this run)."""

    def counts(self) -> Counter:
        scope = set(self.scope)
        return Counter(r.status for r in self.rows if (r.student_id, r.assignment) in scope)

    def _in_scope(self, status: Status) -> list[gbk.Row]:
        scope = set(self.scope)
        return [r for r in self.rows if r.status is status and (r.student_id, r.assignment) in scope]

    def describe(self) -> str:
        c = self.counts()
        if not self.scope:
            return (f"No submissions to grade under {SUBMITTED}/<student_id>/<assignment_id>/; "
                    f"wrote {self.output} from the gradebook ({len(self.rows)} rows).")
        lines = [
            f"{len(self.scope)} submission{'' if len(self.scope) == 1 else 's'}: "
            + ", ".join(f"{c[s]} {s.words}" for s in Status)
            + f" ({self.graded_now} graded in this run in {_clock(self.seconds)}, {self.skipped} "
              "already graded before; --force regrades them)"]
        if self.canary_seconds is not None:
            lines.append(f"canary: the instructor's solutions graded first in {_clock(self.canary_seconds)} "
                         "(done again only when a solution, the course package, the configuration, the data "
                         "or the libraries change)")
        if self.interrupted:
            lines.append("INTERRUPTED: run the same command again to finish the job.")
        failed = self._in_scope(Status.FAILED)
        for r in failed[:20]:
            lines.append(f"  failed  {r.student_id}/{r.assignment}: {r.detail}")
        for r in self._in_scope(Status.FLAGGED)[:20]:
            lines.append(f"  flagged {r.student_id}/{r.assignment}: {r.detail}")
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more failed (see grades.csv)")
        ours = sum(r.grader_fault for r in failed)
        if ours:
            lines.append(f"{ours} failed through a fault of the grader's, not the student's: mend what "
                         "their detail names and run the same command again (it grades them again).")
        slow = sorted(self.times.items(), key=lambda kv: -kv[1])[:5]
        if slow:
            lines.append("slowest: " + ", ".join(f"{s}/{a} {t:.1f} s" for (s, a), t in slow))
        if self.output is not None:
            lines.append(f"wrote {self.output}")
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{seconds:.1f} s"
