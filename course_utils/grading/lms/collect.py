"""An LMS's bulk download (one zip) into nbgrader's ``submitted/<student>/<assignment>/``.

File names are read with nbgrader's own ``FileNameCollectorPlugin`` (a named regular
expression per LMS); the rest is written here because nbgrader's ``zip_collect`` clears a
student's folder before writing (``--force``) and cannot compare against a submission
collected earlier. The zip is checked whole before anything is written: a path outside the
target, an absolute path, a link or more than ``max_total_bytes`` unpacked refuses it. A
notebook over ``max_member_bytes`` unpacked, or dated in the future, is listed and not
collected. A submission never replaces a newer one, and one it replaces is moved to
``collected/replaced/``, not deleted. Every name from the zip is printed with its control
characters escaped (a file name can hold terminal escape codes).

What the LMS says about each collected file is kept in ``collected/<assignment>.csv`` (one row per
student and notebook, rewritten for those collected again) and reported: Canvas's ``LATE`` marker,
how late it is against an optional due date, and the files it superseded (the same notebook
uploaded earlier, Canvas's ``-1``, ``-2`` copies), which are not graded but kept in
``collected/superseded/<student>/<assignment>/``.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import re
import shutil
import stat
import sys
import tempfile
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

from nbgrader.plugins.zipcollect import FileNameCollectorPlugin
from traitlets import Unicode

from ..course import (
    COURSE_ROOT,
    RELEASE_DIR,
    TIMESTAMP,
    parse_timestamp,
    read_timestamp,
    write_atomically,
)
from . import roster as rosters


class CanvasCollector(FileNameCollectorPlugin):
    """Canvas names each file ``<login>_[LATE_]<user id>_<submission id>_<file>[-<n>].ipynb``
    (``-<n>`` when the student uploaded a file of that name again)."""

    named_regexp = Unicode(
        r"^(?P<login>[^_/]+)_(?P<late>LATE_)?(?P<student_id>\d+)_(?P<submission>\d+)_"
        r"(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$").tag(config=True)


class MoodleCollector(FileNameCollectorPlugin):
    """Moodle names each file ``<full name>_<participant id>_assignsubmission_file_<file>``,
    or puts it in a folder of that name ("download submissions in folders")."""

    named_regexp = Unicode(
        r"^(?P<name>[^/]+?)_(?P<student_id>\d+)_assignsubmission_file_/?"
        r"(?P<file_id>[^/]+?)\.ipynb$").tag(config=True)


COLLECTORS = {"canvas": CanvasCollector, "moodle": MoodleCollector}
REPLACED = Path("collected") / "replaced"
MAX_MEMBER_BYTES = 64 * 2**20
"""A notebook larger than this unpacked is not collected: the grader refuses a notebook over 64 MB."""
MAX_TOTAL_BYTES = 4 * 2**30
"""A zip whose collected notebooks unpack to more than this is refused whole (a zip bomb)."""
CLOCK_SKEW = timedelta(days=1)
"""How far ahead of this machine's clock a zip's date may be (zip dates have no time zone)."""


def printable(text: str) -> str:
    """``text`` with control and format characters (terminal escapes, bidi overrides) written as
    ``\\x1b``-style escapes, so that printing it cannot drive the instructor's terminal."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf")
                   else ch for ch in text)


class UnsafeZip(ValueError):
    """The zip holds a path that could write outside the target; nothing was written."""


@dataclass
class Collected:
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    """Collected submissions the LMS marked late or dated after the due date, with why."""
    superseded: list[str] = field(default_factory=list)
    """Files of the zip not collected because the same student uploaded that notebook again later."""
    manifest: Path | None = None

    def report(self) -> str:
        lines = [f"collected {len(self.written)} submission(s)"]
        lines += [f"  {w}" for w in self.written]
        lines += [f"late: {x}" for x in self.late]
        lines += [f"superseded (an earlier upload of the same notebook, not graded): {x}" for x in self.superseded]
        lines += [f"kept (the one already collected is as new or newer): {k}" for k in self.kept]
        lines += [f"moved aside, replaced by a newer one: {r}" for r in self.replaced]
        lines += [f"not collected: {u}" for u in self.unmatched]
        if self.manifest is not None:
            lines.append(f"what the LMS said of each file (late, superseded): {self.manifest}")
        return "\n".join(printable(line) for line in lines)


def check_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The zip's files, once every member is known to stay inside the folder it is unpacked in."""
    files = []
    for info in archive.infolist():
        name = info.filename
        path = PurePosixPath(name)
        if name.startswith(("/", "\\")) or "\\" in name or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
            raise UnsafeZip(f"the zip holds {name!r}, a path outside the folder it unpacks into; nothing written")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeZip(f"the zip holds {name!r}, a symbolic link; nothing written")
        if not info.is_dir():
            files.append(info)
    return files


def _when(info: zipfile.ZipInfo) -> datetime:
    """The time the LMS stored with the file (zip keeps no time zone; taken as UTC, naive as
    nbgrader's own times are)."""
    return datetime(*info.date_time)


def collect(zip_path: Path, assignment: str, *, lms: str = "auto", roster: Path | None = None,
            root: Path = COURSE_ROOT, max_member_bytes: int = MAX_MEMBER_BYTES,
            max_total_bytes: int = MAX_TOTAL_BYTES, now: datetime | None = None,
            due: datetime | None = None) -> Collected:
    """Collect one assignment's submissions from an LMS zip into ``root/submitted/``.

    ``now`` (naive UTC, default this machine's clock) is the latest date a file may carry;
    ``due`` (naive UTC), when given, the due date a submission is reported late against.
    """
    root = Path(root)
    released = {p.name for p in (root / RELEASE_DIR / assignment).glob("*.ipynb")}
    if not released:
        raise ValueError(f"{RELEASE_DIR}/{assignment}/ has no notebook: is {assignment!r} an assignment?")
    latest = (now or datetime.now(UTC).replace(tzinfo=None)) + CLOCK_SKEW
    by_lms_id = None
    if roster is not None:
        by_lms_id = {s.lms_id: s.student_id for s in rosters.read(roster) if s.lms_id}
    result = Collected()
    with zipfile.ZipFile(zip_path) as archive:
        files = check_members(archive)
        names = [f.filename for f in files if not f.filename.startswith("__MACOSX/")]
        if lms == "auto":
            lms = "moodle" if any("_assignsubmission_file_" in n for n in names) else "canvas"
        collector = COLLECTORS[lms](log=logging.getLogger("course.collect.quiet"))
        superseded: dict[tuple[str, str], list[zipfile.ZipInfo]] = {}
        chosen: dict[tuple[str, str], zipfile.ZipInfo] = {}
        marked: dict[str, bool] = {}  # zip name -> the LMS marked it late
        for info in files:
            if info.filename.startswith("__MACOSX/"):
                continue
            match = collector.collect(info.filename)
            if not match:
                result.unmatched.append(f"{info.filename} (not a notebook named as {lms} names them)")
                continue
            notebook = match["file_id"] + ".ipynb"
            if notebook not in released:
                result.unmatched.append(f"{info.filename} ({notebook} is not a notebook of {assignment})")
                continue
            student = match["student_id"] if by_lms_id is None else by_lms_id.get(match["student_id"])
            if student is None:
                result.unmatched.append(f"{info.filename} (LMS id {match['student_id']} is not in the roster)")
                continue
            if info.file_size > max_member_bytes:
                result.unmatched.append(
                    f"{info.filename} (unpacks to {info.file_size:,} bytes, over the limit per file of "
                    f"{max_member_bytes:,}: a zip bomb, or no notebook; look at it by hand)")
                continue
            if _when(info) > latest:
                # Taken as is, it would outrank every later hand-in of this student for good.
                result.unmatched.append(
                    f"{info.filename} (dated {_when(info):%Y-%m-%d %H:%M:%S}, in the future: the LMS's "
                    "clock or an edited zip; collect it by hand, with the date it was handed in, "
                    "into timestamp.txt)")
                continue
            marked[info.filename] = bool(match.get("late"))
            key = (student, notebook)
            if key not in chosen or _when(info) >= _when(chosen[key]):
                if key in chosen:
                    superseded.setdefault(key, []).append(chosen[key])
                chosen[key] = info
            else:
                superseded.setdefault(key, []).append(info)
        total = sum(info.file_size for info in chosen.values()) + sum(
            info.file_size for older in superseded.values() for info in older)
        if total > max_total_bytes:
            raise UnsafeZip(f"the notebooks to collect from the zip unpack to {total:,} bytes, over the "
                            f"{max_total_bytes:,} limit in total; nothing written")
        students = sorted({s for s, _ in chosen})
        for student in students:
            picks = {nb: info for (s, nb), info in chosen.items() if s == student}
            when = max(_when(info) for info in picks.values())
            _write(root, archive, student, assignment, picks, when, result, latest, max_member_bytes)
        rows = []
        for (student, notebook), info in sorted(chosen.items()):
            older = sorted(superseded.get((student, notebook), []), key=_when)
            late = _lateness(_when(info), marked[info.filename], due)
            folder = f"submitted/{student}/{assignment}/{notebook}"
            if late:
                result.late.append(f"{folder} ({late}; {info.filename})")
            result.superseded += [f"{o.filename} ({_when(o):%Y-%m-%d %H:%M:%S}; {folder} is "
                                  f"{info.filename}, {_when(info):%Y-%m-%d %H:%M:%S}; kept in "
                                  f"{_keep_superseded(root, archive, student, assignment, o, max_member_bytes)})"
                                  for o in older]
            rows.append({"student_id": student, "notebook": notebook, "file": info.filename,
                         "lms_date_utc": f"{_when(info):%Y-%m-%d %H:%M:%S}",
                         "lms_late": "yes" if marked[info.filename] else "",
                         "due_utc": f"{due:%Y-%m-%d %H:%M:%S}" if due else "", "late": late,
                         "superseded": "; ".join(o.filename for o in older)})
        if rows:
            result.manifest = _keep(root, assignment, rows)
    return result


SUPERSEDED = Path("collected") / "superseded"


def _keep_superseded(root: Path, archive: zipfile.ZipFile, student: str, assignment: str,
                     info: zipfile.ZipInfo, max_member_bytes: int) -> str:
    """Keep an earlier upload under ``collected/superseded/<student>/<assignment>/`` with the
    zip's own file name (never over a file already kept); returns where, relative to ``root``."""
    target = root / SUPERSEDED / student / assignment / PurePosixPath(info.filename).name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as src, target.open("wb") as dst:
            _copy(src, dst, max_member_bytes, info.filename)
    return str(target.relative_to(root))


MANIFEST_COLUMNS = ("student_id", "notebook", "file", "lms_date_utc", "lms_late", "due_utc", "late", "superseded")


def _lateness(when: datetime, marked: bool, due: datetime | None) -> str:
    """Why a file counts as late ("" when it does not): the LMS's marker and the due date."""
    why = []
    if marked:
        why.append("Canvas marked it LATE")
    if due is not None and when > due:
        hours = (when - due).total_seconds() / 3600
        why.append(f"{hours:.1f} h after the due date {due:%Y-%m-%d %H:%M} UTC")
    elif due is not None and marked:
        why.append(f"before the due date {due:%Y-%m-%d %H:%M} UTC given here: Canvas's own due date "
                   "differs (an extension?)")
    return ", ".join(why)


def _keep(root: Path, assignment: str, rows: list[dict[str, str]]) -> Path:
    """Write this zip's rows into ``collected/<assignment>.csv``, over the rows of the same files
    of earlier collects (a submission kept from before keeps its row)."""
    path = root / "collected" / f"{assignment}.csv"
    old = {}
    if path.exists():
        with path.open(newline="") as fh:
            old = {(r["student_id"], r["notebook"]): r for r in csv.DictReader(fh)}
    for row in rows:
        target = root / "submitted" / row["student_id"] / assignment
        stamp = parse_timestamp(read_timestamp(target)) if target.exists() else None
        key = (row["student_id"], row["notebook"])
        if key in old and stamp is not None and stamp > datetime.strptime(row["lms_date_utc"], "%Y-%m-%d %H:%M:%S"):
            continue  # the submission collected before is newer: its row stays
        old[key] = row
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(old[k] for k in sorted(old))
    write_atomically(path, buffer.getvalue())
    return path


def _write(root: Path, archive: zipfile.ZipFile, student: str, assignment: str,
           picks: dict[str, zipfile.ZipInfo], when: datetime, result: Collected, latest: datetime,
           max_member_bytes: int) -> None:
    target = root / "submitted" / student / assignment
    label = f"submitted/{student}/{assignment} ({when:%Y-%m-%d %H:%M:%S} UTC)"
    if target.exists() or target.is_symlink():
        before = read_timestamp(target)
        stamp = parse_timestamp(before)
        if stamp is not None and stamp > latest:
            label += f"; the one collected before was dated {before}, in the future"
        elif stamp is not None and stamp >= when:
            result.kept.append(f"submitted/{student}/{assignment} (collected {before}; the zip's is {when:%Y-%m-%d %H:%M:%S} UTC)")
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{assignment}.", dir=target.parent))
    try:
        for notebook, info in picks.items():
            with archive.open(info) as src, (staging / notebook).open("wb") as dst:
                _copy(src, dst, max_member_bytes, info.filename)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / TIMESTAMP).write_text(when.strftime("%Y-%m-%d %H:%M:%S.%f UTC") + "\n")
    if target.exists() or target.is_symlink():
        aside = root / REPLACED / student / f"{assignment}.{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        target.rename(aside)
        result.replaced.append(f"submitted/{student}/{assignment} -> {aside.relative_to(root)}")
    staging.rename(target)
    result.written.append(label)


def _due(text: str | None) -> datetime | None:
    """A due date as naive UTC, as the zip's dates are taken (nbgrader's own parser)."""
    if not text:
        return None
    from dateutil import parser as dates

    try:
        when = dates.parse(text)
    except (ValueError, OverflowError, TypeError) as exc:
        raise ValueError(f"the due date {text!r} is not a date ({exc}); write it as '2026-01-11 23:59'") from None
    return when if when.tzinfo is None else (when - when.utcoffset()).replace(tzinfo=None)


def _copy(src, dst, limit: int, name: str) -> None:
    """Copy at most ``limit`` bytes (the zip's stated size is checked first; this holds whatever
    the member's header claims)."""
    copied = 0
    while chunk := src.read(1 << 20):
        copied += len(chunk)
        if copied > limit:
            raise UnsafeZip(f"{name!r} unpacks to more than {limit:,} bytes, more than its "
                            "header says; the zip is damaged or forged")
        dst.write(chunk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Collect an LMS bulk download into submitted/.")
    parser.add_argument("zip", type=Path, help="the zip the LMS gave (Canvas or Moodle 'download all')")
    parser.add_argument("assignment", help="the assignment these are submissions of, e.g. 01_probability")
    parser.add_argument("--lms", choices=["auto", *COLLECTORS], default="auto")
    parser.add_argument("--roster", type=Path, default=None,
                        help="CSV mapping the LMS's ids to student ids (columns: " + ", ".join(rosters.COLUMNS)
                             + "), or Canvas's gradebook export")
    parser.add_argument("--due", default=None,
                        help="the due date, e.g. '2026-01-11 23:59' (UTC unless it carries an offset, "
                             "e.g. '2026-01-11 23:59 -05:00'): later files are reported late")
    args = parser.parse_args(argv)
    try:
        due = _due(args.due)
        result = collect(args.zip, args.assignment, lms=args.lms, roster=args.roster, due=due)
    except (UnsafeZip, ValueError, FileNotFoundError, zipfile.BadZipFile) as exc:
        print(f"error: {printable(str(exc))}", file=sys.stderr)
        return 2
    print(result.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
