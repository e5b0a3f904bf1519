"""Grading outcomes, kept in nbgrader's own gradebook database in a table of the course's.

nbgrader records scores but not why a submission could not be graded: a failed
autograde leaves the grades empty, and ``nbgrader export`` shows a 0 like any
other. The course records its outcome of grading each submission in a table of
its own, ``course_outcome``, on the same database (SQLite or PostgreSQL), created
through nbgrader's engine: whether it is being graded, graded or failed, the
reason (:mod:`.errors`: its kind, its words, whether it is the grader's fault),
the notes on repairs, why to review it, and when. grades.csv's status is read
from that table and from nbgrader's own state (scores, written answers still to
grade by hand), so a gradebook shared by several machines (PostgreSQL) gives
every machine the same export. No grade is stored anywhere else.

For the Formgrader, which shows no table of ours, a human-readable copy is added
to the automatic comment of the first answer cell (``Autograding failed: ...``,
``Grading note: ...``, ``Flagged for review: ...``) and the notebooks of a failed
or flagged submission are flagged. The copy is never read back: editing it
changes no status; the next grading removes exactly the lines it wrote, and the
feedback leaves them off the student's page (:func:`copied_lines`).

A gradebook written before the table existed carried the status in those comment
lines only: the first time it is opened here, they are read once into the table
(:func:`_from_comments`, with a message saying how many), and left in place.
"""

from __future__ import annotations

import csv
import io
import sys
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry, SubmittedAssignment
from sqlalchemy import JSON, Boolean, Column, DateTime, String, Text, inspect, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import DeclarativeBase, Session, object_session

from . import errors
from .course import write_atomically
from .errors import NO_SUBMISSION, UNFINISHED

FAILED = "Autograding failed: "
NOTE = "Grading note: "
FLAG = "Flagged for review: "
"""How the lines of the human-readable copy in an automatic comment begin."""


class Status(StrEnum):
    """A submission's status in grades.csv, decided by :func:`row`.

    Adding one: a member here, its :attr:`words`, and where :func:`row` gives it; the grading
    summary, the progress bar, the feedback and the LMS export follow from these.

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
    def words(self) -> str:
        """How a count of it reads in the grading summary ("3 need manual grading")."""
        return {"needs_manual": "need manual grading", "flagged": "flagged for review"}.get(self.value, self.value)

    @property
    def reviewed(self) -> bool:
        """Whether its feedback may go to the student without the instructor looking first."""
        return self is Status.GRADED

    @property
    def held_back(self) -> bool:
        """Scored but still to review by hand: its feedback and LMS score wait for the instructor."""
        return not self.reviewed and self is not Status.FAILED


COLUMNS = ("student_id", "assignment", "score", "max_score", "status", "detail")


# ---- the table ----

class _Tables(DeclarativeBase):
    """The course's own tables, beside nbgrader's (which know nothing of them)."""


class State(StrEnum):
    GRADING = "grading"
    GRADED = "graded"
    FAILED = "failed"


class Outcome(_Tables):
    """The course's outcome of grading one submission."""

    __tablename__ = "course_outcome"
    submission_id = Column(String(32), primary_key=True)
    """nbgrader's ``submitted_assignment.id`` (no foreign key: nbgrader deletes submissions on its own)."""
    student = Column(String(128), nullable=False)
    assignment = Column(String(128), nullable=False)
    state = Column(String(16), nullable=False)
    reason = Column(String(64))
    """The :mod:`.errors` class of a failure, by name."""
    detail = Column(Text)
    grader_fault = Column(Boolean, nullable=False, default=False)
    notes = Column(JSON)
    """Notebook -> what was repaired or stopped (for the instructor, in grades.csv's detail)."""
    flags = Column(JSON)
    """Notebook -> why to review it (code replacing what the tests rely on)."""
    flagged = Column(JSON)
    """The notebooks these tools flagged in nbgrader's gradebook (unflagged when graded again)."""
    copied = Column(JSON)
    """[comment id, [lines]]: the human-readable copy added to nbgrader's automatic comments."""
    when = Column(DateTime(timezone=True), nullable=False)


class Migration(_Tables):
    """What was moved into the course's tables from an older gradebook, and when."""

    __tablename__ = "course_migration"
    name = Column(String(64), primary_key=True)
    when = Column(DateTime(timezone=True), nullable=False)


FROM_COMMENTS = "statuses from comments"
_LOCK = 0x636F757273650002
"""PostgreSQL advisory-lock key under which one machine creates the tables and migrates."""
_ready: weakref.WeakSet = weakref.WeakSet()
"""The engines on whose database the tables are known to exist (checked once per engine)."""


def _now() -> datetime:
    return datetime.now(UTC)


def ensure_tables(bind: Engine) -> None:
    """Create the course's tables on the gradebook's database if missing, and read the statuses an
    older gradebook kept in comments into them (once)."""
    if bind in _ready:
        return
    for attempt in range(3):
        try:
            with Session(bind) as session:
                if bind.dialect.name == "postgresql":
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
                names = set(inspect(session.connection()).get_table_names())
                if not {Outcome.__tablename__, Migration.__tablename__} <= names:
                    _Tables.metadata.create_all(session.connection())
                if session.get(Migration, FROM_COMMENTS) is None:
                    moved = _from_comments(session)
                    session.add(Migration(name=FROM_COMMENTS, when=_now()))
                    session.commit()
                    if moved:
                        print(f"gradebook {bind.url.render_as_string()}: read the grading status of {moved} "
                              f"submission{'' if moved == 1 else 's'} from nbgrader's comments (written by an "
                              f"older version) into the table {Outcome.__tablename__}; the comments are "
                              "left as they were", file=sys.stderr)
                else:
                    session.commit()
            break
        except DatabaseError:
            # Another process created the tables or migrated at the same time (SQLite has no
            # lock to take first): look again.
            if attempt == 2:
                raise
            time.sleep(0.5)
    _ready.add(bind)


def _from_comments(session: Session) -> int:
    """Outcomes from the comment lines of an older gradebook (``Autograding failed: ...``,
    ``Grading note: ...``, ``Flagged for review: ...``); returns how many submissions had any.
    The lines become the outcome's copy, so the next grading removes them as its own."""
    have = set(session.scalars(select(Outcome.submission_id)))
    moved = 0
    for sub in session.scalars(select(SubmittedAssignment)):
        if sub.id in have:
            continue
        failures, notes, flags, copied, flagged = [], {}, {}, [], []
        for nb in sorted(sub.notebooks, key=lambda n: n.name):
            for comment in nb.comments:
                ours = [line for line in (comment.auto_comment or "").splitlines()
                        if line.startswith((FAILED, NOTE, FLAG))]
                if ours:
                    copied.append([comment.id, ours])
                failures += [line[len(FAILED):] for line in ours if line.startswith(FAILED)]
                notes.setdefault(nb.name, []).extend(line[len(NOTE):] for line in ours if line.startswith(NOTE))
                flags.setdefault(nb.name, []).extend(line[len(FLAG):] for line in ours if line.startswith(FLAG))
            if nb.flagged and flags.get(nb.name):
                flagged.append(nb.name)
        if not copied:
            continue
        outcome = _new(sub)
        outcome.notes = {k: v for k, v in notes.items() if v} or None
        outcome.flags = {k: v for k, v in flags.items() if v} or None
        outcome.copied = copied
        if UNFINISHED in failures:
            outcome.state, outcome.reason, outcome.detail = State.GRADING, "Unfinished", UNFINISHED
        elif failures:
            detail = "; ".join(failures)
            kind = next((k for k in (errors.EnvironmentFault, errors.InternalError)
                         if detail.startswith(k.prefix)), errors.StudentFailure)
            outcome.state, outcome.reason, outcome.detail = State.FAILED, kind.__name__, detail
            outcome.grader_fault = kind.grader_fault
            flagged = [nb.name for nb in sub.notebooks if nb.flagged]
        outcome.flagged = sorted(set(flagged))
        session.add(outcome)
        moved += 1
    return moved


def _new(sub) -> Outcome:
    return Outcome(submission_id=sub.id, student=sub.student.id, assignment=sub.assignment.name,
                   state=State.GRADED, grader_fault=False, when=_now())


def _outcome(session: Session, sub) -> Outcome | None:
    ensure_tables(session.get_bind())
    return session.get(Outcome, sub.id)


def _take_over(gb: Gradebook, sub) -> Outcome:
    """The submission's outcome row, with what its last recording added to nbgrader's tables undone:
    exactly the lines it copied into comments, and the flags it set."""
    outcome = _outcome(gb.db, sub)
    if outcome is None:
        outcome = _new(sub)
        gb.db.add(outcome)
    comments = {c.id: c for nb in sub.notebooks for c in nb.comments}
    for comment_id, lines in outcome.copied or []:
        comment = comments.get(comment_id)
        if comment is None:
            continue
        kept = (comment.auto_comment or "").splitlines()
        for line in lines:
            if line in kept:
                kept.remove(line)
        comment.auto_comment = "\n".join(kept) or None
    for nb in sub.notebooks:
        if nb.name in (outcome.flagged or []):
            nb.flagged = False
    outcome.copied, outcome.flagged = [], []
    outcome.notes = outcome.flags = outcome.reason = outcome.detail = None
    outcome.grader_fault = False
    outcome.when = _now()
    return outcome


def _copy(outcome: Outcome, nb, order: list[str] | None, lines: list[str], first: bool = False) -> None:
    """Add ``lines`` to the automatic comment of the notebook's first answer cell, for the Formgrader."""
    if not lines or not nb.comments:
        return
    rank = {name: i for i, name in enumerate(order or [])}
    comment = min(nb.comments, key=lambda c: (rank.get(c.name, len(rank)), c.name))
    parts = [*lines, comment.auto_comment] if first else [comment.auto_comment, *lines]
    comment.auto_comment = "\n".join(filter(None, parts))
    outcome.copied = [*(outcome.copied or []), [comment.id, list(lines)]]


def _flag(outcome: Outcome, nb) -> None:
    if not nb.flagged:
        nb.flagged = True
        outcome.flagged = [*(outcome.flagged or []), nb.name]


def submission(gb: Gradebook, assignment: str, student: str, timestamp: str | None = None):
    """The submission, created (with its student) when it does not exist yet."""
    gb.update_or_create_student(student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    return gb.update_or_create_submission(assignment, student, **kwargs)


def start(gb: Gradebook, assignment: str, student: str, order: list[str] | None = None,
          timestamp: str | None = None) -> None:
    """Record a submission as being graded, until :func:`finish` or :func:`record_failure`: a run
    killed at any point leaves it unfinished (failed, "grading did not finish"), never half-graded,
    and the next run grades it again."""
    sub = submission(gb, assignment, student, timestamp)
    outcome = _take_over(gb, sub)
    outcome.state, outcome.reason, outcome.detail = State.GRADING, "Unfinished", UNFINISHED
    notebooks = sorted(sub.notebooks, key=lambda n: n.name)
    if notebooks:
        _copy(outcome, notebooks[0], order, [FAILED + UNFINISHED])
    gb.db.commit()


def finish(gb: Gradebook, assignment: str, student: str, notes: dict[str, list[str]],
           order: dict[str, list[str]] | None = None,
           flags: dict[str, list[str]] | None = None) -> None:
    """Record a submission graded, with its notes and the reasons to review it (``flags``, per
    notebook: the notebook is flagged), in one commit with nothing of :func:`start` left."""
    sub = gb.find_submission(assignment, student)
    outcome = _take_over(gb, sub)
    outcome.state = State.GRADED
    outcome.notes = {k: list(v) for k, v in sorted(notes.items()) if v} or None
    outcome.flags = {k: list(v) for k, v in sorted((flags or {}).items()) if v} or None
    for nb in sub.notebooks:
        flagged = (flags or {}).get(nb.name) or []
        if flagged:
            _flag(outcome, nb)
        _copy(outcome, nb, (order or {}).get(nb.name),
              [FLAG + f for f in flagged] + [NOTE + n for n in notes.get(nb.name) or []])
    gb.db.commit()


def record_failure(gb: Gradebook, assignment: str, student: str, failure: errors.GradingFailure, *,
                   notebook: str | None = None, order: list[str] | None = None,
                   timestamp: str | None = None, keep_scores: bool = False) -> None:
    """Record a submission failed with ``failure`` (its kind, words and side, :mod:`.errors`).

    Its scores are emptied and marked "needs manual grade" and its notebooks flagged. With
    ``keep_scores`` the scores of an earlier grading stay as they are (nbgrader's own autograde
    stopped by a fault of the grader's before it saved any); the submission reads as failed
    until it is graded again.
    """
    sub = submission(gb, assignment, student, timestamp)
    outcome = _take_over(gb, sub)
    outcome.state, outcome.reason, outcome.detail = State.FAILED, failure.kind, str(failure)
    outcome.grader_fault = failure.grader_fault
    notebooks = sorted(sub.notebooks, key=lambda n: n.name)
    for nb in notebooks:
        for grade in [] if keep_scores else nb.grades:
            grade.auto_score = None
            grade.needs_manual_grade = True
        _flag(outcome, nb)
    target = next((n for n in notebooks if n.name == notebook), notebooks[0] if notebooks else None)
    if target is not None:
        _copy(outcome, target, order, [FAILED + str(failure)], first=True)
    gb.db.commit()


def copied_lines(gb: Gradebook, assignment: str, student: str) -> set[str]:
    """The lines of the human-readable copy these tools put in the submission's comments."""
    try:
        sub = gb.find_submission(assignment, student)
    except MissingEntry:
        return set()
    outcome = _outcome(gb.db, sub)
    return {line for _, lines in (outcome.copied if outcome else None) or [] for line in lines}


@dataclass
class Row:
    student_id: str
    assignment: str
    score: float | None
    max_score: float
    status: Status
    detail: str
    grader_fault: bool = False
    """Failed through a fault of the grader's, not the submission's: graded again by the next run."""
    reason: str | None = None
    """The :mod:`.errors` class of a failure, by name (None when read from grades.csv)."""

    def __post_init__(self) -> None:
        self.status = Status(self.status)  # also from grades.csv's text

    @property
    def no_submission(self) -> bool:
        """The student handed nothing in (failed, but nothing to mend)."""
        return self.status is Status.FAILED and self.detail == NO_SUBMISSION

    def csv(self) -> list[str]:
        score = "" if self.score is None else f"{self.score:g}"
        return [self.student_id, self.assignment, score, f"{self.max_score:g}", self.status.value, self.detail]


def _unfinished(sub) -> bool:
    """An autograded test cell without a score: the grading stopped half-way."""
    return any(g.auto_score is None and g.manual_score is None and g.cell.cell_type == "code"
               for nb in sub.notebooks for g in nb.grades)


def _lines(recorded: dict | None) -> list[str]:
    return [line for _, lines in sorted((recorded or {}).items()) for line in lines]


def row(sub) -> Row:
    """The grades.csv row of one submission in the gradebook."""
    outcome = _outcome(object_session(sub), sub)
    max_score = float(sub.max_score)
    student, assignment = sub.student.id, sub.assignment.name
    if outcome is not None and outcome.state == State.FAILED:
        return Row(student, assignment, None, max_score, Status.FAILED, outcome.detail or "",
                   bool(outcome.grader_fault), outcome.reason)
    if (outcome is not None and outcome.state == State.GRADING) or _unfinished(sub):
        return Row(student, assignment, None, max_score, Status.FAILED, UNFINISHED, False, "Unfinished")
    notes = _lines(outcome.notes if outcome else None)
    flags = _lines(outcome.flags if outcome else None)
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
    return row(sub).reason != errors.Unfinished.__name__


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
                    missing = errors.NoSubmission()
                    rows.append(Row(student, assignment.name, None, float(assignment.max_score),
                                    Status.FAILED, str(missing), missing.grader_fault, missing.kind))
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
