"""A hostile class against the grading machine itself (issue 13), graded with the instructors' command.

One class of 01_probability: two honest students, and submissions that try to
hurt the machine, the run or the instructor rather than to fake a grade: output
of every kind far past the caps (a 100 MiB error message, 100 MiB of display
metadata, 40 cells of 0.9 MB), data too deep or code too long for the grader's
parsers, the hidden-test marker in a student's cell (which broke feedback), a
timestamp that does not parse or is a FIFO, a submission folder that is a link to
``solutions/``, a notebook that tries to write to the host through its connection
folder, and, last in the queue, a notebook slower than the time limit per
submission (the pool must still finish). The class is graded once with
``python -m course_utils.grading.grade`` (what ``make grade`` runs), then
``course_utils.grading.feedback``. Each submission must end with its expected
status and score, the honest students keep their exact scores, both commands
exit within their bounds, and the run leaves nothing in its temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from course_utils.grading import grade as grade_cmd
from course_utils.grading import gradebook as gbk
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT

from .sandboxed import sandboxed_class

A = "01_probability"
CELL_TIMEOUT = 30  # seconds per cell for this class (the course uses 60): room for a loaded machine
TIME_LIMIT = 180  # the wall-clock backstop: zz_slow (sleeping, so no CPU) takes all of it; an honest
# submission takes ~10 s quiet, a minute on a machine several times oversubscribed
AUTO = sum(syn.points(A)[0].values())  # automatic points of 01_probability
PARTIAL = {"first_letter_distribution", "total_probability", "interval_probability"}

pytestmark = sandboxed_class("hostile")

# student -> (status, score (None: empty), words the detail must contain)
EXPECTED = {
    "honest_correct": ("graded", AUTO, ""),
    "honest_partial": ("graded", "partial", ""),
    "big_error": ("graded", AUTO, ""),
    "big_metadata": ("graded", AUTO, ""),
    "many_outputs": ("graded", AUTO, ""),
    "deep_metadata": ("failed", None, "notebook too deeply nested"),
    "long_expression": ("failed", None, "notebook too deeply nested"),
    "hidden_marker": ("graded", AUTO, ""),
    "bad_timestamp": ("graded", AUTO, ""),
    "fifo_timestamp": ("graded", AUTO, ""),
    "linked_folder": ("failed", None, "symbolic link"),
    "host_writer": ("graded", AUTO, ""),
    "zz_slow": ("failed", None, f"over the time limit: grading took more than {TIME_LIMIT} s"),
}
HIDDEN_VALUE = "0.9500042097035593"
"""A number that appears only in a hidden test of 01_probability."""

HOST_WRITER = """
import os, sys
box = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
for name in ("kernel.json", "filler.bin"):
    try:
        with open(os.path.join(box, name), "ab") as f:
            f.write(b"x" * 2**20)
        print("WROTE", name)
    except OSError:
        print("REFUSED", name)
try:
    with open("/tmp/filler.bin", "wb") as f:
        while True:
            f.write(b"x" * 2**22)
except OSError:
    print("TMP FULL")
os.remove("/tmp/filler.bin")
"""


def build_class(course: Path) -> dict[str, int]:
    """The class; returns the expected score of each honest student."""
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)
    nb_name = f"{name}.ipynb"
    at = syn.cell_index(solved, "first_letter_distribution") + 1

    def submit(student, nb, **kw):
        return syn.submit(course, student, A, nb, nb_name, **kw)

    def with_cells(*sources):
        nb = nbformat.from_dict(solved)
        nb.cells[at:at] = [nbformat.v4.new_code_cell(s) for s in sources]
        return nb

    submit("honest_correct", solved)
    submit("honest_partial", syn.solved(release, source, only=PARTIAL))
    submit("big_error", with_cells('raise RuntimeError("E" * 100 * 2**20)'))
    submit("big_metadata", with_cells(
        "from IPython.display import display\n"
        "display({'text/plain': 'small'}, metadata={'m': 'M' * 100 * 2**20}, raw=True)"))
    submit("many_outputs", with_cells(*["print('x' * 900_000)"] * 40))  # each under the cell cap
    deep = json.loads(nbformat.writes(solved))
    deep["metadata"]["deep"] = "@DEEP@"
    text = json.dumps(deep).replace('"@DEEP@"', "[" * 100_000 + "]" * 100_000)
    submit("deep_metadata", text.encode())
    submit("long_expression", with_cells("x = " + " + ".join(["1"] * 200_000)))
    submit("hidden_marker", with_cells("# ### BEGIN HIDDEN TESTS\n# ### BEGIN HIDDEN TESTS\nx = 1"))
    submit("bad_timestamp", solved, timestamp="not a time at all")
    folder = submit("fifo_timestamp", solved, timestamp=None).parent
    os.mkfifo(folder / "timestamp.txt")
    (course / "submitted" / "linked_folder").mkdir()
    (course / "submitted" / "linked_folder" / A).symlink_to(course / "solutions" / A)
    submit("host_writer", with_cells(HOST_WRITER))
    # Last in the queue: when it is killed, the other worker is idle and the queue empty.
    submit("zz_slow", with_cells(*[f"import time\ntime.sleep({CELL_TIMEOUT - 5})"] * 10))

    points = {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
              for c in release.cells if c.metadata.get("nbgrader", {}).get("grade")
              and c.cell_type == "code"}
    return {"honest_correct": AUTO, "honest_partial": sum(points[f"{e}_test"] for e in PARTIAL)}


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory):
    work = tmp_path_factory.mktemp("hostile")
    course = syn.make_course(work / "course", [A], config_lines="c.SandboxProvisioner.scratch_mb = 64")
    # The commands' temporary folder, which must be empty afterwards (short: Unix socket paths
    # below it are limited to 108 bytes).
    scratch = Path(tempfile.mkdtemp(prefix="hostile-", dir="/tmp"))
    honest = build_class(course)
    env = {**os.environ, "TMPDIR": str(scratch)}
    started = time.monotonic()
    # --skip-canary: the canary (the solution graded first) is test_canary's and test_grading's.
    run = subprocess.run(
        [sys.executable, "-m", "course_utils.grading.grade", "--root", str(course), "--no-progress",
         "--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT), "--time-limit", str(TIME_LIMIT),
         "--skip-canary"],
        cwd=COURSE_ROOT, capture_output=True, text=True, timeout=1200, env=env)
    seconds = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    feedback = subprocess.run(
        [sys.executable, "-m", "course_utils.grading.feedback", "--root", str(course), "--no-progress",
         "--jobs", "2"], cwd=COURSE_ROOT, capture_output=True, text=True, timeout=600, env=env)
    rows = {r["student_id"]: r for r in gbk.read_csv(course / "grades.csv")}
    yield {"course": course, "rows": rows, "honest": honest, "seconds": seconds, "stdout": run.stdout,
           "feedback": feedback, "scratch": scratch}
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_hostile_submission_ends_with_a_clear_status(graded, student):
    status, score, words = EXPECTED[student]
    row = graded["rows"][student]
    if score == "partial":
        score = graded["honest"][student]
    assert row["status"] == status, row
    assert row["score"] == ("" if score is None else f"{score:g}"), row
    assert words in row["detail"], row
    assert "internal grading error" not in row["detail"], row


def test_honest_students_keep_their_exact_scores(graded):
    for student, score in graded["honest"].items():
        assert graded["rows"][student]["score"] == f"{score:g}", graded["rows"][student]


def _notebook(graded, student) -> Path:
    return graded["course"] / "autograded" / student / A / "probability.ipynb"


@pytest.mark.parametrize("student,limit_mb", [("big_error", 2), ("big_metadata", 2), ("many_outputs", 20)])
def test_every_kind_of_output_counts_against_the_caps(graded, student, limit_mb):
    path = _notebook(graded, student)
    assert path.stat().st_size < limit_mb * 2**20, f"{student}: {path.stat().st_size:,} bytes"
    assert "output cut by the grader" in path.read_text()
    page = graded["course"] / "feedback" / student / A / "probability.html"
    assert page.stat().st_size < (limit_mb + 3) * 2**20


def test_a_cut_error_still_fails_its_cell(graded):
    nb = nbformat.read(str(_notebook(graded, "big_error")), as_version=4)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert any(o.ename == "RuntimeError" and o.evalue.startswith("EEEE") and len(o.evalue) < 10_000
               for o in errors), [(o.ename, o.evalue[:50]) for o in errors]


def test_feedback_is_written_for_the_marker_in_a_students_cell(graded):
    assert graded["feedback"].returncode == 0, graded["feedback"].stderr[-2000:]
    page = (graded["course"] / "feedback" / "hidden_marker" / A / "probability.html").read_text()
    assert "BEGIN HIDDEN TESTS" in page  # the student's own cell, as they wrote it
    assert HIDDEN_VALUE not in page  # while the hidden tests stay hidden


def test_the_host_got_nothing_and_the_run_left_nothing_behind(graded):
    text = "\n".join(o.get("text", "") for c in nbformat.read(
        str(_notebook(graded, "host_writer")), as_version=4).cells for o in c.get("outputs", []))
    assert "REFUSED kernel.json" in text and "REFUSED filler.bin" in text and "WROTE" not in text, text
    assert "TMP FULL" in text
    assert sorted(p.name for p in graded["scratch"].iterdir()) == []
    assert not (graded["course"] / "autograded" / ".stage").exists()


def test_a_linked_submission_folder_is_not_followed(graded):
    assert not (graded["course"] / "autograded" / "linked_folder").exists()
    assert not (graded["course"] / "feedback" / "linked_folder").exists()


def test_the_class_finishes_in_bounded_time(graded):
    # 13 submissions on 2 workers; the slow one is killed at the time limit and the pool ends.
    assert graded["seconds"] < 2 * TIME_LIMIT + 300, graded["stdout"]
    assert "13 submissions" in graded["stdout"], graded["stdout"]


def test_megabytes_of_stderr_cost_an_honest_notebook_little(names_file, tmp_path):
    """nbgrader's stderr filter runs in the grader on the student's text: it must be linear."""
    course = syn.make_course(tmp_path, [A])
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)
    flood = nbformat.from_dict(solved)
    at = syn.cell_index(flood, "first_letter_distribution") + 1
    # word characters and digits: what made the old pattern (\w*Warning\b|\d+%\|) quadratic
    # (each cell stays under the output cap per cell, so all of it reaches the filter)
    flood.cells[at:at] = [nbformat.v4.new_code_cell(
        "import sys\nfor _ in range(4):\n    sys.stderr.write('a1' * 120_000)\n    sys.stderr.flush()")
        for _ in range(4)]
    syn.submit(course, "a_honest", A, solved, f"{name}.ipynb")
    syn.submit(course, "b_stderr", A, flood, f"{name}.ipynb")
    syn.submit(course, "c_honest", A, solved, f"{name}.ipynb")
    summary = grade_cmd.grade(course, jobs=1, time_limit=300, progress=False, skip_canary=True)
    rows = {r.student_id: r for r in summary.rows}
    assert all((r.status, r.score) == ("graded", AUTO) for r in rows.values()), rows
    honest = min(summary.times[("a_honest", A)], summary.times[("c_honest", A)])
    assert summary.times[("b_stderr", A)] < 2 * honest, summary.times
