"""The class list: who is who in the course and in the LMS (one CSV the instructor keeps)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ("student_id", "name", "email", "lms_id", "sis_user_id", "sis_login_id", "section")
"""student_id is required (nbgrader's id, the folder under submitted/); the others may be blank.
lms_id is the id the LMS puts in its download's file names (Canvas user id, Moodle participant id)."""


@dataclass(frozen=True)
class Student:
    student_id: str
    name: str = ""
    email: str = ""
    lms_id: str = ""
    sis_user_id: str = ""
    sis_login_id: str = ""
    section: str = ""


def read(path: Path) -> list[Student]:
    """The roster's students, in file order; a clear error for a file that is not one."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        if "student_id" not in header:
            raise ValueError(f"{path}: the roster needs a student_id column (columns: {', '.join(COLUMNS)})")
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
