"""The gradebook as the file an LMS's gradebook import reads (Canvas, Moodle), or grades.csv.

Canvas: its gradebook export/import layout (Canvas guide "How do I import grades in the
Gradebook?"): ``Student, ID, SIS User ID, SIS Login ID, Section``, one column per assignment,
and a ``Points Possible`` row under the header. Moodle: a grade-import CSV (Moodle docs
"Grade import", CSV): an identifier column to map (``ID number`` or ``Email address``), a
name, and one column per grade item. A score is written only when it is final: a failed
grading, a missing submission and (unless asked) one still to review by hand stay blank.
Names, ids and e-mail addresses are written as text a spreadsheet never runs (:func:`as_text`).
"""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import gradebook
from ..course import COURSE_ROOT, scripts_on_path, write_atomically
from ..settings import Grading
from . import roster as rosters

FORMATS = ("canvas", "moodle", "csv")
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
MOODLE_IDENTITY = ("ID number", "Email address", "Full name")


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""How a spreadsheet cell that it may read as a formula begins (OWASP, "CSV Injection")."""


def as_text(value: str) -> str:
    """``value`` as a cell a spreadsheet shows and never evaluates: as OWASP advises, a leading
    apostrophe before a cell that starts like a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


@dataclass
class Export:
    text: str
    notes: list[str] = field(default_factory=list)


def _score(row: gradebook.Row, include_unreviewed: bool) -> str:
    if row.score is None or row.status is gradebook.Status.FAILED:
        return ""
    if not row.status.reviewed and not include_unreviewed:
        return ""
    return f"{row.score:g}"


def _plain(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", name.lower()).strip()


def _bare(name: str) -> str:
    """A name without its leading number: "01_probability" and "01 Probability" are "probability"."""
    return re.sub(r"^\d+\s*", "", _plain(name))


def canvas_headers(assignments: list[str], canvas: list[str] | None = None,
                   explicit: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
    """The Canvas column each assignment is written under, and how Canvas will match it.

    Canvas's import matches a column by the assignment id in its parentheses
    (``Probability (12345)``), else by the exact assignment name, else creates a new
    assignment. ``explicit`` (assignment -> header) wins; otherwise an assignment takes the one
    column of ``canvas`` (the headers of Canvas's gradebook export) with its name, with or
    without the leading number (``01_probability`` and ``Probability (12345)``).
    """
    explicit = dict(explicit or {})
    unknown = sorted(set(explicit) - set(assignments))
    if unknown:
        raise ValueError(f"a Canvas column is given for {unknown[0]!r}, which has no grades "
                         f"(assignments: {', '.join(assignments)})")
    headers, notes = {}, []
    for a in assignments:
        if a in explicit:
            headers[a] = explicit[a]
            how = "as given"
        else:
            found = [h for h in canvas or [] if _bare(rosters.CANVAS_ASSIGNMENT.match(h)["name"]) in (_plain(a), _bare(a))]
            if len(found) == 1:
                headers[a] = found[0]
                how = "by its name in Canvas's export"
            else:
                headers[a] = a
                choice = f" (several columns match: {', '.join(found)})" if found else ""
                notes.append(
                    f"Canvas column for {a}: {a!r} carries no Canvas assignment id{choice}, so Canvas's import "
                    f"fills the assignment named exactly {a!r} or creates a new one; to fill an existing "
                    f"assignment, pass Canvas's gradebook export as the roster (ROSTER=) or name its column: "
                    f"CANVAS_COLUMNS='{a}=<Name (id)>' (make export) / --column '{a}=<Name (id)>'")
                continue
        match = rosters.CANVAS_ASSIGNMENT.match(headers[a])
        if match:
            notes.append(f"Canvas column for {a}: {headers[a]!r} ({how}; Canvas matches it by the assignment "
                         f"id {match['id']})")
        else:
            notes.append(f"Canvas column for {a}: {headers[a]!r} ({how}; no assignment id in parentheses: "
                         f"Canvas fills the assignment of that exact name or creates a new one)")
    return headers, notes


def parse_columns(text: str | None) -> dict[str, str]:
    """``"01_probability=Probability (12345); 02_x=..."`` as a mapping (``;`` or a line end between
    pairs, since a Canvas name may hold commas)."""
    pairs = {}
    for item in re.split(r"[;\n]", text or ""):
        if not item.strip():
            continue
        if "=" not in item:
            raise ValueError(f"{item.strip()!r}: a Canvas column is given as <assignment>=<Canvas header>, "
                             "e.g. 01_probability=Probability (12345)")
        key, value = item.split("=", 1)
        pairs[key.strip()] = value.strip()
    return pairs


def build(fmt: str, rows: list[gradebook.Row], roster: list[rosters.Student] | None = None,
          include_unreviewed: bool = False, canvas_columns: list[str] | None = None,
          columns: dict[str, str] | None = None) -> Export:
    """The file's text for ``fmt`` and what the instructor should know (blank scores and why).

    For Canvas, each assignment's column header comes from :func:`canvas_headers`
    (``canvas_columns``: the assignment headers of Canvas's own export; ``columns``: given ones).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    notes = []
    for r in rows:
        if r.status.held_back and not include_unreviewed:
            notes.append(f"left blank, still to review ({r.status}): {r.student_id} {r.assignment}")
        elif r.status is gradebook.Status.FAILED and not r.no_submission:
            notes.append(f"left blank, grading failed: {r.student_id} {r.assignment}: {r.detail}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if fmt == "csv":
        writer.writerow(gradebook.COLUMNS)
        writer.writerows(r.csv() for r in rows)
        return Export(buffer.getvalue(), notes)
    # RFC 4180's line ends: Python's csv quotes a field holding a line end only when that line
    # end is part of its lineterminator, and a bare CR in a name would otherwise start a new row.
    writer = csv.writer(buffer, lineterminator="\r\n")

    assignments = sorted({r.assignment for r in rows})
    points = {r.assignment: r.max_score for r in rows}
    scores = {(r.student_id, r.assignment): _score(r, include_unreviewed) for r in rows}
    graded = sorted({r.student_id for r in rows})
    if roster is None:
        people = [rosters.Student(student_id=s, name=s, lms_id=s) for s in graded]
        notes.append("no roster: students are named by their student id, which is also their LMS id")
    else:
        people = list(roster)
        listed = {s.student_id for s in roster}
        notes += [f"not on the roster, left out: {s}" for s in graded if s not in listed]
    if fmt == "canvas":
        headers, how = canvas_headers(assignments, canvas_columns, columns)
        notes += how
        writer.writerow([*CANVAS_IDENTITY, *(headers[a] for a in assignments)])
        writer.writerow(["Points Possible", "", "", "", "", *(f"{points[a]:g}" for a in assignments)])
        for s in people:
            writer.writerow([*map(as_text, (s.name or s.student_id, s.lms_id, s.sis_user_id, s.sis_login_id,
                                            s.section)),
                             *(scores.get((s.student_id, a), "") for a in assignments)])
    else:
        writer.writerow([*MOODLE_IDENTITY, *assignments])
        for s in people:
            writer.writerow([*map(as_text, (s.sis_user_id or s.student_id, s.email, s.name or s.student_id)),
                             *(scores.get((s.student_id, a), "") for a in assignments)])
    return Export(buffer.getvalue(), notes)


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description="Write the grades for an LMS's gradebook import.")
    parser.add_argument("--format", choices=FORMATS, default="csv")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV of the class (columns: " + ", ".join(rosters.COLUMNS) + ")")
    parser.add_argument("--include-unreviewed", action="store_true",
                        help="also write scores still to review by hand (needs_manual, flagged)")
    parser.add_argument("--column", action="append", default=[], metavar="ASSIGNMENT=HEADER",
                        help="Canvas: the column header an assignment is written under, e.g. "
                             "'01_probability=Probability (12345)' (default: read from Canvas's gradebook "
                             "export given as --roster; several separated by ';')")
    parser.add_argument("--output", type=Path, default=None, help="default: grades-<format>.csv")
    parser.add_argument("--db-url", default=None)
    args = parser.parse_args(argv)
    root = COURSE_ROOT
    settings = Grading.load(root, db_url=args.db_url)  # c.Grading.db_url unless given, as make grade
    db_url, course_id = settings.gradebook, settings.course_id
    try:
        roster = rosters.read(args.roster) if args.roster else None
        result = build(args.format, gradebook.export(db_url, course_id), roster, args.include_unreviewed,
                       canvas_columns=rosters.canvas_columns(args.roster) if args.roster else None,
                       columns=parse_columns(";".join(args.column)))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output = args.output or root / f"grades-{args.format}.csv"
    write_atomically(output, result.text)
    for note in result.notes:
        print(note)
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
