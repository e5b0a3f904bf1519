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


def split_name(name: str) -> tuple[str, str]:
    """(first, last) for the gradebook: Canvas's "Doe, Jane" is last name first; "Jane Doe" splits
    at its last space; a single word is a last name."""
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    first, _, last = name.strip().rpartition(" ")
    return first.strip(), last.strip()


def to_gradebook(students: list[Student], db_url: str, course_id: str, submitted: Path | None = None) -> list[str]:
    """Give the gradebook's students the roster's names, e-mail and LMS id (the Formgrader shows
    them instead of "None, None"); returns the ids updated.

    A student already in the gradebook, or with a folder in ``submitted`` (about to be graded),
    is written; the rest of the roster is not added, so that nobody appears in grades.csv as
    "no submission" of an assignment before they had a chance to hand it in.
    """
    from nbgrader.api import Gradebook

    handed_in = {p.name for p in Path(submitted).iterdir() if p.is_dir()} if submitted and Path(submitted).is_dir() else set()
    updated = []
    with Gradebook(db_url, course_id) as gb:
        known = {s.id for s in gb.students}
        for s in students:
            if s.student_id not in known and s.student_id not in handed_in:
                continue
            first, last = split_name(s.name) if s.name else (None, None)
            gb.update_or_create_student(s.student_id, first_name=first or None, last_name=last or None,
                                        email=s.email or None, lms_user_id=s.lms_id or None)
            updated.append(s.student_id)
    return updated


def main(argv: list[str] | None = None) -> int:
    """``python -m course_utils.grading.lms.roster ROSTER``: the roster's names into the gradebook."""
    import argparse
    import sys

    from ..course import COURSE_ROOT, scripts_on_path
    from ..settings import Grading

    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description="Load the roster's names into the gradebook (the Formgrader's "
                                     "student list), for the students graded or submitted.")
    parser.add_argument("roster", type=Path, help="the course's roster CSV or Canvas's gradebook export")
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args(argv)
    settings = Grading.load(COURSE_ROOT, db_url=args.db_url)
    try:
        students = read(args.roster)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    done = to_gradebook(students, settings.gradebook, settings.course_id, COURSE_ROOT / "submitted")
    print(f"gradebook: names of {len(done)} of the roster's {len(students)} students written "
          "(those graded or submitted)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
