"""The class list: who is who in the course and in the LMS.

Two files are read as a roster: the course's own CSV (:data:`COLUMNS`), or Canvas's gradebook
export as Canvas writes it (Grades > Export > "Export Entire Gradebook"). In Canvas's file a
student is known by Canvas's user ``ID``, which is also the number Canvas puts in the file
names of its submissions download, so the student id is that number: the same id a collect
without a roster gives. Its assignment columns (``Probability (12345)``) are what Canvas's
grade import matches (:func:`canvas_columns`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("student_id", "name", "email", "lms_id", "sis_user_id", "sis_login_id", "section")
"""student_id is required (nbgrader's id, the folder under submitted/); the others may be blank.
lms_id is the id the LMS puts in its download's file names (Canvas user id, Moodle participant id)."""

CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
"""The identity columns of Canvas's gradebook export (it may add others, e.g. Integration ID)."""
CANVAS_ASSIGNMENT = re.compile(r"^(?P<name>.+) \((?P<id>\d+)\)$")
"""A Canvas assignment column: its name and Canvas's assignment id in parentheses."""
CANVAS_NOT_STUDENTS = ("Points Possible", "Student, Test", "Test Student")
"""Rows of Canvas's export that are not students (the points row, the "student view" user)."""


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


def _header(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return [h.strip() for h in next(csv.reader(fh), [])]


def is_canvas(path: Path) -> bool:
    """Whether ``path`` is Canvas's gradebook export rather than the course's roster."""
    header = _header(Path(path))
    return "student_id" not in header and {"Student", "ID"} <= set(header)


def canvas_columns(path: Path) -> list[str]:
    """The assignment columns of Canvas's gradebook export (``Name (id)``), in file order;
    ``[]`` for the course's own roster."""
    path = Path(path)
    if not is_canvas(path):
        return []
    return [h for h in _header(path) if CANVAS_ASSIGNMENT.match(h)]


def _read_canvas(path: Path) -> list[Student]:
    students = []
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for row in csv.DictReader(fh):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
            name, lms_id = row.get("Student", ""), row.get("ID", "")
            if name in CANVAS_NOT_STUDENTS or not lms_id.isdigit():
                continue  # "Points Possible", Canvas's test student, a muted/posting note row
            students.append(Student(student_id=lms_id, name=name, lms_id=lms_id,
                                    sis_user_id=row.get("SIS User ID", ""),
                                    sis_login_id=row.get("SIS Login ID", ""), section=row.get("Section", "")))
    if not students:
        raise ValueError(f"{path}: Canvas's gradebook export holds no student (no row with a numeric ID)")
    return students


def read(path: Path) -> list[Student]:
    """The roster's students, in file order; a clear error for a file that is not one.

    Canvas's gradebook export is read as it is (see the module's docstring)."""
    path = Path(path)
    if is_canvas(path):
        students = _read_canvas(path)
    else:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in reader.fieldnames or []]
            if "student_id" not in header:
                raise ValueError(f"{path}: the roster needs a student_id column (columns: {', '.join(COLUMNS)}), "
                                 "or is Canvas's gradebook export (columns Student, ID, ...)")
            unknown = [h for h in header if h not in COLUMNS]
            if unknown:
                raise ValueError(f"{path}: unknown column {unknown[0]!r} (columns: {', '.join(COLUMNS)})")
            students = [Student(**{k.strip(): (v or "").strip() for k, v in row.items() if k})
                        for row in reader]
    ids = [s.student_id for s in students]
    missing = [n for n, s in enumerate(students, start=2) if not s.student_id]
    if missing:
        raise ValueError(f"{path}: line {missing[0]} has no student_id")
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate:
        raise ValueError(f"{path}: student_id {duplicate!r} appears twice")
    return students
