"""Grading a whole class (``make grade``, ``make feedback``) on a synthetic class of 01_probability.

One class is built from the real student version, with every kind of submission
an instructor meets. It is graded once by a run that is killed half-way, then by
the run that finishes the job, then once more; feedback is generated from it.
Each submission must end with its expected score and status.
"""

from __future__ import annotations

import hashlib
import html
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course_utils.grading import course as course_dir
from course_utils.grading import feedback, grade
from course_utils.grading import gradebook as gbk
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.authoring.fidelity import load_answers
from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.repair import Unrepairable, parse, repair
from course_utils.grading.report import Summary

A = "01_probability"
CELL_TIMEOUT = 15  # seconds per cell for this class only (the course uses 60; room for a loaded machine)
TIME_LIMIT = 600  # wall-clock backstop per submission (the cells' limits count CPU seconds): no load reaches it
POINTS, WRITTEN = syn.points(A)
AUTO = sum(POINTS.values())  # automatic points of 01_probability
MAX = AUTO + sum(WRITTEN.values())  # and with its written answers
PARTIAL = ("first_letter_distribution", "total_probability", "interval_probability", "first_two_joint")

slow = [pytest.mark.notebook, pytest.mark.xdist_group("grading")]

# student -> (status, score or None, words the detail must contain)
EXPECTED = {
    "added_cells": ("graded", AUTO, ""),
    "blank": ("graded", 0, ""),
    "correct": ("needs_manual", AUTO, f"{len(WRITTEN)} answers to grade by hand ({sum(WRITTEN.values()):g} points)"),
    "deleted_test": ("graded", AUTO, "the deleted cell 'total_probability_test' was put back"),
    "edited_grade_id": ("graded", AUTO, "set back to 'interval_probability_test'"),
    "edited_locked": ("graded", AUTO - POINTS["bayes_posterior_test"], "'bayes_posterior_test' was restored"),
    "infinite_loop": ("graded", AUTO - POINTS["total_probability_test"], "'total_probability_test') was stopped at the time limit"),
    "invalid_json": ("failed", None, "invalid JSON"),
    "missing_notebook": ("failed", None, "missing notebook: the submission has no probability.ipynb"),
    "not_a_notebook": ("failed", None, "not a notebook"),
    "os_exit": ("failed", None, "kernel died at cell 24 (answer cell 'sample_categorical')"),  # 1-based, hints count
    "partial": ("graded", sum(POINTS[f"{e}_test"] for e in PARTIAL), ""),
    "stubborn_loop": ("failed", None, "over the time limit: cell 4 (answer cell 'first_letter_distribution')"),
    "warning": ("graded", AUTO, ""),
    "wrong_name": ("graded", AUTO, "probability-Copy1.ipynb was graded as probability.ipynb"),
}


def build_class(course: Path) -> None:
    """One submission per entry of EXPECTED, made from the real student version."""
    release, source, name = syn.versions(course, A)
    nb_name = f"{name}.ipynb"
    answers = {a.why: a for a in load_answers(A)}
    solved = syn.solved(release, source)

    def submit(student, content, filename=nb_name):
        syn.submit(course, student, A, content, filename)

    def answer(nb, why):
        a = answers[why]
        return syn.with_answer(nb, a.exercise, a.code, release)

    submit("correct", syn.solved(release, source, written=True))
    submit("blank", release)
    partial = syn.solved(release, source, only=set(PARTIAL))
    submit("partial", answer(partial, "logs and the maximum removed, but 0 * log(0) = nan at theta = 0 or 1 when a count is 0"))  # visible passes, hidden fails

    nb = nbformat.from_dict(solved)
    del nb.cells[syn.cell_index(nb, "total_probability_test")]
    submit("deleted_test", nb)

    nb = nbformat.from_dict(solved)
    nb.cells[syn.cell_index(nb, "interval_probability_test")].metadata.nbgrader["grade_id"] = "my_tests"
    submit("edited_grade_id", nb)

    nb = answer(solved, "forgets to normalise")  # a wrong bayes_posterior...
    test = nb.cells[syn.cell_index(nb, "bayes_posterior_test")]
    test.source = "pass  # my code is right"  # ...whose test the student emptied and unlocked
    test.metadata.nbgrader["locked"] = False
    test.metadata.pop("editable", None)
    submit("edited_locked", nb)

    submit("infinite_loop", syn.with_answer(solved, "total_probability", "while True:\n    pass", release))

    nb = nbformat.from_dict(solved)
    nb.cells[syn.cell_index(nb, "sample_categorical")].source += "\nimport os\nos._exit(1)\n"
    submit("os_exit", nb)

    nb = nbformat.from_dict(solved)
    nb.cells[syn.cell_index(nb, "first_letter_distribution")].source += (
        "\nimport time\nwhile True:\n    try:\n        time.sleep(0.2)\n"
        "    except KeyboardInterrupt:\n        pass\n")
    submit("stubborn_loop", nb)

    submit("warning", answer(solved, "logs without errstate: a zero prior weight prints numpy's "
                                     "RuntimeWarning to stderr"))

    nb = nbformat.from_dict(solved)
    at = syn.cell_index(nb, "first_letter_distribution_test") + 1
    nb.cells.insert(at, nbformat.v4.new_code_cell('print("my own check:", first_letter_distribution(["ab"])[0])'))
    nb.cells.insert(at, nbformat.v4.new_markdown_cell("My notes."))
    submit("added_cells", nb)

    submit("wrong_name", solved, "probability-Copy1.ipynb")
    raw = nbformat.writes(solved).encode()
    submit("invalid_json", raw[: len(raw) // 2])
    submit("not_a_notebook", b"def first_letter_distribution(names):\n    return None\n")
    syn.submit(course, "missing_notebook", A, None, nb_name)
    (course / "submitted" / "missing_notebook" / A / "answers.txt").write_text("see attached")


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class Graded:
    course: Path
    submitted_before: dict[str, str]
    finished_at_kill: dict[str, float]
    """student -> mtime of the autograded notebook, for those graded before the kill."""
    resumed: Summary
    csv_after_resume: bytes
    again: Summary
    csv_again: bytes
    feedback: dict

    def rows(self) -> dict[str, dict[str, str]]:
        return {r["student_id"]: r for r in gbk.read_csv(self.course / "grades.csv")}


def _finished(course: Path) -> set[str]:
    """Students whose grading is finished, read from the gradebook while a run is going on."""
    if not (course / "autograded" / ".logs").is_dir():  # not started: leave the gradebook alone
        return set()
    try:
        rows = gbk.export(course_dir.default_db_url(course), "bigram-course", pending=lambda s, a: True)
    except Exception:  # noqa: BLE001  (the gradebook is being written)
        return set()
    return {r.student_id for r in rows if r.detail != gbk.UNFINISHED}


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory) -> Graded:
    course = syn.make_course(tmp_path_factory.mktemp("class"), [A])
    build_class(course)
    before = _hashes(course / "submitted")
    options = ["--cell-timeout", str(CELL_TIMEOUT), "--time-limit", str(TIME_LIMIT), "--jobs", "2"]

    # 1. A run killed (with its workers) once a few submissions are finished.
    proc = subprocess.Popen(
        [sys.executable, "-m", "course_utils.grading.grade", "--root", str(course), "--no-progress",
         *options], cwd=COURSE_ROOT, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    finished: set[str] = set()
    try:
        while len(finished) < 3 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
            finished = _finished(course)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert 0 < len(finished) < len(EXPECTED), f"the kill came too late or too early: {finished}"
    nb_path = lambda s: course / "autograded" / s / A / "probability.ipynb"  # noqa: E731
    at_kill = {s: nb_path(s).stat().st_mtime for s in finished if nb_path(s).exists()}

    # 2. The same command again finishes the job; 3. and once more changes nothing. (The canary
    # ran before the first run's students; graded again it would only repeat itself.)
    kwargs = dict(jobs=2, cell_timeout=CELL_TIMEOUT, time_limit=TIME_LIMIT, progress=False, skip_canary=True)
    resumed = grade.grade(course, **kwargs)
    csv1 = (course / "grades.csv").read_bytes()
    again = grade.grade(course, **kwargs)
    csv2 = (course / "grades.csv").read_bytes()
    done = feedback.write_pages(course, progress=False)
    return Graded(course, before, at_kill, resumed, csv1, again, csv2, done)


@pytest.mark.parametrize("student", sorted(EXPECTED))
@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_each_submission_ends_with_its_score_and_status(graded, student):
    status, score, words = EXPECTED[student]
    row = graded.rows()[student]
    assert (row["status"], row["max_score"]) == (status, f"{MAX:g}"), row
    assert row["score"] == ("" if score is None else f"{score:g}"), row
    assert words in row["detail"], row


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_grades_csv_has_one_row_per_submission_and_no_failed_zero(graded):
    rows = gbk.read_csv(graded.course / "grades.csv")
    assert [r["student_id"] for r in rows] == sorted(EXPECTED)
    assert list(rows[0]) == list(gbk.COLUMNS)
    for r in rows:
        assert r["status"] in [s.value for s in gbk.Status]
        if r["status"] == "failed":
            assert r["score"] == "" and r["detail"], r


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_submitted_files_are_never_modified(graded):
    assert _hashes(graded.course / "submitted") == graded.submitted_before


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_killed_run_resumes_without_regrading_what_was_finished(graded):
    assert graded.resumed.skipped >= len(graded.finished_at_kill)
    assert graded.resumed.graded_now == len(EXPECTED) - graded.resumed.skipped
    for student, mtime in graded.finished_at_kill.items():
        path = graded.course / "autograded" / student / A / "probability.ipynb"
        assert path.stat().st_mtime == mtime, f"{student} was graded again"


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_second_run_grades_nothing_and_writes_the_same_csv(graded):
    assert graded.again.graded_now == 0 and graded.again.skipped == len(EXPECTED)
    assert graded.csv_again == graded.csv_after_resume
    counts = graded.again.counts()
    assert counts == {"graded": 9, "needs_manual": 1, "failed": 5}
    assert "slowest" not in graded.again.describe()


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_the_gradebook_alone_gives_the_same_export(graded, tmp_path):
    out = tmp_path / "export.csv"
    grade.grade(graded.course, export_only=True, output=out, progress=False)
    assert out.read_bytes() == graded.csv_after_resume
    with Gradebook(course_dir.default_db_url(graded.course), "bigram-course") as gb:
        sub = gb.find_submission(A, "os_exit")
        assert all(nb.flagged for nb in sub.notebooks)  # the formgrader shows it flagged
        comments = [c.auto_comment for nb in sub.notebooks for c in nb.comments if c.auto_comment]
        assert any(c.startswith(gbk.FAILED + "kernel died") for c in comments)


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_grading_one_assignment_keeps_the_other_weeks_in_grades_csv(graded, tmp_path):
    """Week by week: grading this week's assignment rewrites grades.csv with every week's rows."""
    import shutil

    course = tmp_path / "course"
    shutil.copytree(graded.course, course, ignore=shutil.ignore_patterns("autograded", "*.lock"))
    shutil.copytree(COURSE_ROOT / "solutions" / "00_math_toolkit", course / "solutions" / "00_math_toolkit")
    out = tmp_path / "grades.csv"
    grade.grade(course, ["00_math_toolkit"], export_only=True, output=out, progress=False)
    assert {r["assignment"] for r in gbk.read_csv(out)} == {A}
    assert len(gbk.read_csv(out)) == len(gbk.read_csv(graded.course / "grades.csv"))


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_added_cells_are_kept_and_run(graded):
    nb = nbformat.read(graded.course / "autograded" / "added_cells" / A / "probability.ipynb", 4)
    outputs = [o for c in nb.cells if c.cell_type == "code" and "my own check" in c.source
               for o in c.outputs]
    assert any("my own check: 1.0" in o.get("text", "") for o in outputs)


def _secret_lines() -> set[str]:
    """Hidden test lines of the source that appear nowhere else in the notebook."""
    source = nbformat.read(COURSE_ROOT / "solutions" / A / "probability.ipynb", 4)
    secret, public = set(), set()
    for cell in source.cells:
        lines = cell.source.splitlines()
        regions = feedback.hidden_regions(cell.source, "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
        hidden = {n for first, last, _ in regions for n in range(first, last + 1)}
        for n, line in enumerate(lines, start=1):
            text = " ".join(line.split())
            if n in hidden and not text.startswith(("# checks:", "### ")):
                secret.add(text)
            else:
                public.add(text)
    return {s for s in secret - public if len(s) > 8}


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_feedback_never_shows_hidden_tests(graded):
    secret = _secret_lines()
    assert len(secret) > 40
    written = sorted(graded.feedback["written"])
    # make feedback holds back what still needs a grader (here: written answers not graded yet)
    assert written == sorted(f"{s}/{A}" for s, e in EXPECTED.items() if e[0] not in ("failed", "needs_manual"))
    assert graded.feedback["needs_manual"] == [f"{s}/{A}" for s, e in sorted(EXPECTED.items())
                                               if e[0] == "needs_manual"]
    for item in written:
        page = (graded.course / "feedback" / item / "probability.html").read_text()
        text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
        # A line the student wrote themselves is theirs to see, even when a hidden test has it too.
        theirs = {" ".join(line.split()) for path in (graded.course / "submitted" / item).glob("*.ipynb")
                  for cell in nbformat.read(str(path), 4).cells for line in cell.source.splitlines()}
        leaked = sorted(s for s in secret if s in text and not any(s in line for line in theirs))
        assert leaked == [], f"feedback of {item} shows hidden test lines: {leaked[:3]}"


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_a_failing_hidden_test_names_its_exercise_and_what_it_checks(graded):
    page = (graded.course / "feedback" / "partial" / A / "probability.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
    assert ("A hidden test of grid_posterior failed. It checks: all heads and all tails on a grid that "
            "includes 0 and 1, no flips, a prior with zeros, a million flips, a list of booleans.") in text
    # the failing test's own message (which would show the hidden value, nan) stays out; the
    # exercise's hints, which follow, may say what 0 / 0 gives
    message = text.split("A hidden test of grid_posterior failed")[1].split("Hint 1")[0]
    assert "nan" not in message[:300]


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_an_exercise_never_attempted_says_so_once(graded):
    page = (graded.course / "feedback" / "blank" / A / "probability.html").read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())
    assert text.count("Not attempted: grid_posterior still raises") == 1, text[:2000]
    assert "A hidden test of grid_posterior" not in text
    partial = (graded.course / "feedback" / "partial" / A / "probability.html").read_text()
    assert "Not attempted: first_two_joint" not in partial  # filled in, so it was attempted


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_a_submission_over_the_time_limit_fails_and_its_kernel_is_stopped(names_file, tmp_path):
    import psutil

    course = syn.make_course(tmp_path, [A])
    release, source, name = syn.versions(course, A)
    syn.submit(course, "slow", A, syn.solved(release, source), f"{name}.ipynb")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    summary = grade.grade(course, jobs=1, time_limit=3, progress=False, skip_canary=True)
    (row,) = summary.rows
    assert (row.status, row.score) == ("failed", None)
    assert row.detail.startswith("over the time limit: grading took more than 3 s")
    assert summary.times[("slow", A)] < 30
    time.sleep(1)
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert left == []


# ------------------------------------------------------------------ fast checks, no kernel

@pytest.fixture(scope="module")
def release_nb(tmp_path_factory):
    course = syn.make_course(tmp_path_factory.mktemp("repair"), [A])
    release, source, _ = syn.versions(course, A)
    return release


def test_parse_says_what_the_file_is():
    for data, words in [(b"", "empty"), (b'{"cells": [', "invalid JSON"),
                        (b"print('hi')", "not JSON"), (b'{"a": 1}', "not in Jupyter's notebook format")]:
        with pytest.raises(Unrepairable, match=words):
            parse(data, "probability.ipynb")


def test_repair_matches_an_edited_id_by_locked_content(release_nb):
    nb = nbformat.from_dict(release_nb)
    i = syn.cell_index(nb, "gaussian_mle_test")
    nb.cells[i].metadata.nbgrader["grade_id"] = "whatever"
    fixed = repair(nb, release_nb, "probability.ipynb")
    assert fixed.nb.cells[i].metadata.nbgrader == release_nb.cells[i].metadata.nbgrader
    assert any("set back to 'gaussian_mle_test'" in n for n in fixed.notes)


def test_repair_matches_an_edited_answer_id_by_position(release_nb):
    nb = nbformat.from_dict(release_nb)
    i = syn.cell_index(nb, "gaussian_mle")
    nb.cells[i].metadata.nbgrader["grade_id"] = "my_mle"
    nb.cells[i].source = "def gaussian_mle(x):\n    return 0, 1\n"
    fixed = repair(nb, release_nb, "probability.ipynb")
    assert fixed.nb.cells[i].metadata.nbgrader["grade_id"] == "gaussian_mle"
    assert fixed.nb.cells[i].source.startswith("def gaussian_mle(x)")  # the answer is kept


def test_repair_fails_when_an_unknown_cell_matches_nothing(release_nb):
    nb = nbformat.from_dict(release_nb)
    nb.cells.append(nbformat.v4.new_code_cell("x = 1", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": False, "points": 5, "solution": False}}))
    with pytest.raises(Unrepairable, match="metadata damaged beyond repair.*'bonus'"):
        repair(nb, release_nb, "probability.ipynb")


def test_repair_keeps_a_copied_graded_cell_as_an_ordinary_cell(release_nb):
    nb = nbformat.from_dict(release_nb)
    i = syn.cell_index(nb, "sum_log_probs_test")
    nb.cells.append(nbformat.from_dict(nb.cells[i]))
    fixed = repair(nb, release_nb, "probability.ipynb")
    assert "nbgrader" not in fixed.nb.cells[-1].metadata
    assert len(fixed.nb.cells) == len(release_nb.cells) + 1


def test_repair_puts_back_a_deleted_answer_cell(release_nb):
    nb = nbformat.from_dict(release_nb)
    i = syn.cell_index(nb, "running_frequency")
    del nb.cells[i]
    fixed = repair(nb, release_nb, "probability.ipynb")
    assert fixed.nb.cells[i].source == release_nb.cells[i].source


def test_shards_split_the_students_deterministically():
    students = [f"s{i:03d}" for i in range(200)]
    shards = [{s for s in students if course_dir.in_shard(s, (i, 3))} for i in (1, 2, 3)]
    assert set().union(*shards) == set(students) and sum(map(len, shards)) == len(students)
    assert all(40 < len(s) < 90 for s in shards)
    assert course_dir.parse_shard("2/3") == (2, 3)
    with pytest.raises(ValueError):
        course_dir.parse_shard("4/3")


def test_each_run_starts_the_workers_log_afresh_and_keeps_the_three_before(tmp_path):
    log = tmp_path / ".logs" / "workers.log"
    for run in range(5):
        grade._new_log(log)
        log.write_text(f"run {run}\n")
    assert log.read_text() == "run 4\n"
    kept = [(log.parent / f"workers.log.{i}").read_text() for i in (1, 2, 3)]
    assert kept == ["run 3\n", "run 2\n", "run 1\n"]
    assert len(list(log.parent.iterdir())) == 4


def test_registering_again_leaves_a_recorded_assignment_alone(tmp_path):
    """nbgrader re-creates a notebook without submissions each time it is generated: a second
    machine doing so while the first had begun grading deleted that submission's comments."""
    course = syn.make_course(tmp_path / "course", [A])
    db_url = course_dir.default_db_url(course)

    gradebook = course / "gradebook.db"
    first = grade.register(course, [A], db_url, "bigram-course")
    before = hashlib.sha256(gradebook.read_bytes()).hexdigest()
    assert grade.register(course, [A], db_url, "bigram-course") == first
    assert hashlib.sha256(gradebook.read_bytes()).hexdigest() == before  # not a byte written

    source = course / "solutions" / A / "probability.ipynb"
    nb = nbformat.read(source, as_version=4)
    test = nb.cells[syn.cell_index(nb, "total_probability_test")]
    test.metadata.nbgrader["points"] += 1  # the instructor changed the assignment: recorded anew
    nbformat.write(nb, source)
    grade.register(course, [A], db_url, "bigram-course")
    with Gradebook(db_url, "bigram-course") as gb:
        cell = gb.find_grade_cell("total_probability_test", "probability", A)
        assert cell.max_score == test.metadata.nbgrader["points"]
