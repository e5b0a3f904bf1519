"""Grading statuses, kept in nbgrader's own gradebook.

nbgrader records scores but not why a submission could not be graded: a failed
autograde leaves the grades empty, and ``nbgrader export`` shows a 0 like any
other. The gradebook has no column for a reason, so the status is written with
fields nbgrader already has and shows in its formgrader:

- a failed submission: every notebook is *flagged*, its automatic scores are
  emptied and marked "needs manual grade", and the automatic comment of its
  first answer cell reads ``Autograding failed: <reason>``;
- a repaired or partly timed-out submission: a line ``Grading note: <what>`` is
  added to that automatic comment (nbgrader's feedback shows it to the student);
- a submission that replaced what the tests rely on (:mod:`.integrity`): its
  notebook is *flagged* and a line ``Flagged for review: <what>`` is added;
- a submission being graded carries ``Autograding failed: grading did not
  finish...`` until its grading is complete (one commit at the end), so a run
  killed at any point leaves it marked unfinished, never half-graded.

Everything else (graded, waiting for a hand grade) is nbgrader's own state, so a
gradebook shared by several machines (PostgreSQL) gives every machine the
same export. No grade is stored anywhere else.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from .course import write_atomically

FAILED = "Autograding failed: "
NOTE = "Grading note: "
FLAG = "Flagged for review: "


class Status(StrEnum):
    """A submission's status in grades.csv; :func:`row` reads it from the gradebook's encoding above.

    - GRADED: scored in full;
    - NEEDS_MANUAL: the automatic part is scored, written answers wait for a hand grade;
    - FLAGGED: scored, but the submission replaced what the tests rely on (review it);
    - FAILED: not graded, and the detail says why (the score is empty, never a 0).
    """

    GRADED = "graded"
    NEEDS_MANUAL = "needs_manual"
    FLAGGED = "flagged"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def reviewed(self) -> bool:
        """Whether its feedback may go to the student without the instructor looking first."""
        return self is Status.GRADED


COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "detail")
UNFINISHED = "grading did not finish: run the grading command again"
ENVIRONMENT_FAULT = "grading environment: "
"""How a failure caused by the grading machine begins (a data file or package the kernel lacks)."""
INTERNAL_ERROR = "internal grading error "
"""How a failure caused by the grader itself begins (it raised, twice)."""


def _comments(sub_notebook, order: list[str] | None):
    """The notebook's comments, the first answer cell of the notebook first."""
    rank = {name: i for i, name in enumerate(order or [])}
    return sorted(sub_notebook.comments, key=lambda c: (rank.get(c.name, len(rank)), c.name))


def _lines(comment, prefix: str) -> list[str]:
    return [line for line in (comment.auto_comment or "").splitlines() if line.startswith(prefix)]


def _without(text: str | None, *prefixes: str) -> str | None:
    kept = [line for line in (text or "").splitlines() if not line.startswith(prefixes)]
    return "\n".join(kept) or None


def submission(gb: Gradebook, assignment: str, student: str, timestamp: str | None = None):
    """The submission, created (with its student) when it does not exist yet."""
    gb.update_or_create_student(student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    return gb.update_or_create_submission(assignment, student, **kwargs)


def start(gb: Gradebook, assignment: str, student: str, order: list[str] | None = None,
          timestamp: str | None = None) -> None:
    """Mark a submission as being graded: ``Autograding failed: grading did not finish...``.

    The mark replaces those of an earlier grading and stays until :func:`finish`
    (nbgrader's ``SaveAutoGrades`` keeps it, see ``execute.CourseSaveAutoGrades``),
    so a run killed at any point leaves the submission visibly unfinished, and the
    next run grades it again.
    """
    sub = submission(gb, assignment, student, timestamp)
    notebooks = sorted(sub.notebooks, key=lambda n: n.name)
    for nb in notebooks:
        ours = any(_lines(c, FAILED) or _lines(c, FLAG) for c in nb.comments)
        for comment in nb.comments:
            comment.auto_comment = _without(comment.auto_comment, FAILED, NOTE, FLAG)
        if ours:
            nb.flagged = False
    if notebooks and notebooks[0].comments:
        first = _comments(notebooks[0], order)[0]
        first.auto_comment = "\n".join(filter(None, [first.auto_comment, FAILED + UNFINISHED]))
    gb.db.commit()


def finish(gb: Gradebook, assignment: str, student: str, notes: dict[str, list[str]],
           order: dict[str, list[str]] | None = None,
           flags: dict[str, list[str]] | None = None) -> None:
    """Mark a submission graded: remove the mark of :func:`start`, add the notes and the reasons
    to review it (``flags``, per notebook: the notebook is flagged), in one commit."""
    sub = gb.find_submission(assignment, student)
    for nb in sub.notebooks:
        for comment in nb.comments:
            comment.auto_comment = _without(comment.auto_comment, FAILED)
        flagged = (flags or {}).get(nb.name) or []
        lines = [FLAG + f for f in flagged] + [NOTE + n for n in notes.get(nb.name) or []]
        if flagged:
            nb.flagged = True
        if not lines or not nb.comments:
            continue
        first = _comments(nb, (order or {}).get(nb.name))[0]
        first.auto_comment = "\n".join(filter(None, [first.auto_comment, *lines]))
    gb.db.commit()


def our_lines(text: str | None) -> list[str]:
    """The lines of an automatic comment written by these tools (failure and notes)."""
    return [line for line in (text or "").splitlines() if line.startswith((FAILED, NOTE, FLAG))]


def record_failure(gb: Gradebook, assignment: str, student: str, reason: str, *,
                   notebook: str | None = None, order: list[str] | None = None,
                   timestamp: str | None = None, keep_scores: bool = False) -> None:
    """Mark a submission failed with ``reason`` (see the module docstring).

    ``keep_scores``: the scores of an earlier grading stay as they are (nbgrader's own autograde
    stopped by a fault of the grader's before it saved any); the submission reads as failed
    until it is graded again.
    """
    sub = submission(gb, assignment, student, timestamp)
    notebooks = sorted(sub.notebooks, key=lambda n: n.name)
    target = next((n for n in notebooks if n.name == notebook), notebooks[0] if notebooks else None)
    for nb in notebooks:
        for grade in [] if keep_scores else nb.grades:
            grade.auto_score = None
            grade.needs_manual_grade = True
        for comment in nb.comments:
            comment.auto_comment = _without(comment.auto_comment, FAILED, NOTE, FLAG)
        nb.flagged = True
    if target is not None and target.comments:
        first = _comments(target, order)[0]
        first.auto_comment = "\n".join(filter(None, [FAILED + reason, first.auto_comment]))
    gb.db.commit()


@dataclass
class Row:
    student_id: str
    assignment: str
    score: float | None
    max_score: float
    status: Status
    detail: str

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # also from grades.csv's text

    @property
    def grader_fault(self) -> bool:
        """Failed through a fault of the grader's, not the submission's: graded again by the next run."""
        return self.status is Status.FAILED and self.detail.startswith((ENVIRONMENT_FAULT, INTERNAL_ERROR))

    def csv(self) -> list[str]:
        score = "" if self.score is None else f"{self.score:g}"
        return [self.student_id, self.assignment, score, f"{self.max_score:g}", self.status.value, self.detail]


def _unfinished(sub) -> bool:
    """An autograded test cell without a score: the grading stopped half-way."""
    return any(g.auto_score is None and g.manual_score is None and g.cell.cell_type == "code"
               for nb in sub.notebooks for g in nb.grades)


def row(sub) -> Row:
    """The grades.csv row of one submission in the gradebook."""
    comments = [c for nb in sorted(sub.notebooks, key=lambda n: n.name) for c in nb.comments]
    failures = [line[len(FAILED):] for c in comments for line in _lines(c, FAILED)]
    notes = [line[len(NOTE):] for c in comments for line in _lines(c, NOTE)]
    flags = [line[len(FLAG):] for c in comments for line in _lines(c, FLAG)]
    max_score = float(sub.max_score)
    student, assignment = sub.student.id, sub.assignment.name
    if failures:
        detail = UNFINISHED if UNFINISHED in failures else "; ".join(failures)
        return Row(student, assignment, None, max_score, Status.FAILED, detail)
    if _unfinished(sub):
        return Row(student, assignment, None, max_score, Status.FAILED, UNFINISHED)
    score = float(sub.score)
    status = Status.FLAGGED if flags else Status.GRADED
    flagged = ["flagged for review: " + "; ".join(flags)] if flags else []
    if sub.needs_manual_grade:
        pending = sorted((g for nb in sub.notebooks for g in nb.grades if g.needs_manual_grade),
                         key=lambda g: g.name)
        points = sum(float(g.max_score) for g in pending)
        what = "answer" if len(pending) == 1 else "answers"
        detail = (f"{len(pending)} {what} to grade by hand ({points:g} points): "
                  + ", ".join(g.name for g in pending))
        return Row(student, assignment, score, max_score, Status.FLAGGED if flags else Status.NEEDS_MANUAL,
                   "; ".join([*flagged, detail, *notes]))
    return Row(student, assignment, score, max_score, status, "; ".join([*flagged, *notes]))


def recorded(db_url: str, course_id: str, assignment: str) -> frozenset | None:
    """What a gradebook records of an assignment's notebooks and cells, comparable across
    gradebooks (None: not recorded)."""
    with Gradebook(db_url, course_id) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            return None
        entries = set()
        for nb in found.notebooks:
            entries.add(("notebook", nb.name, nb.kernelspec))
            for kind in ("grade_cells", "solution_cells", "task_cells", "source_cells"):
                for cell in getattr(nb, kind):
                    entries.add((kind, *sorted((k, repr(v)) for k, v in cell.to_dict().items() if k != "id")))
        return frozenset(entries)


def is_finished(gb: Gradebook, assignment: str, student: str, timestamp=None) -> bool:
    """Whether the gradebook holds a finished grading (or failure) of this submission.

    ``timestamp`` is the submission's time (nbgrader's ``timestamp.txt``); a
    submission handed in again since it was graded is not finished.
    """
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return False
    if timestamp is not None and sub.timestamp != timestamp:
        return False
    r = row(sub)
    return r.detail != UNFINISHED


def export(db_url: str, course_id: str, *, assignments: list[str] | None = None,
           include=lambda student, assignment: True, pending=lambda student, assignment: False
           ) -> list[Row]:
    """One row per student and assignment, sorted, from the gradebook.

    ``include(student, assignment)`` limits the rows. A student of the gradebook
    without a submission of an assignment that others submitted gets a ``failed``
    row ("no submission"), unless ``pending(student, assignment)`` says it is
    still being graded.
    """
    rows = []
    with Gradebook(db_url, course_id) as gb:
        students = sorted(s.id for s in gb.students)
        for assignment in sorted(gb.assignments, key=lambda a: a.name):
            if assignments is not None and assignment.name not in assignments:
                continue
            subs = {s.student.id: s for s in assignment.submissions}
            if not subs:
                continue
            for student in students:
                if not include(student, assignment.name):
                    continue
                if student in subs:
                    rows.append(row(subs[student]))
                elif not pending(student, assignment.name):
                    rows.append(Row(student, assignment.name, None, float(assignment.max_score),
                                    Status.FAILED, "no submission"))
    return sorted(rows, key=lambda r: (r.assignment, r.student_id))


def write_csv(rows: list[Row], path: Path) -> None:
    """Write grades.csv atomically (a reader never sees half a file)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(r.csv())
    write_atomically(path, buffer.getvalue())


def refresh_csv(path: Path, db_url: str, course_id: str) -> bool:
    """Bring grades.csv up to date with the gradebook after grading outside the grading command
    (nbgrader's autograde, the Formgrader): every assignment, as ``make grade`` writes it. A file
    that is not the course's grades.csv (``nbgrader export`` writes one of that name) is left
    alone: returns False."""
    path = Path(path)
    if path.exists():
        with path.open(newline="") as fh:
            if tuple(next(csv.reader(fh), [])) != COLUMNS:
                return False
    write_csv(export(db_url, course_id), path)
    return True


def read_csv(path: Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))
