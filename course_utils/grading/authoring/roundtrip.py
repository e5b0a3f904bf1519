"""A full nbgrader round trip for one assignment, in a scratch course folder.

``generate_assignment`` makes the student version; two students submit: one the
student version with every answer cell filled in from the solution, one the
student version untouched. Both are autograded and get feedback (nbgrader's own
commands, configured by the course's ``nbgrader_config.py``), and ``nbgrader export`` writes
the grades. Used by the test suite, and by an instructor before releasing:

    course-roundtrip 01_probability     # or: python -m course_utils.grading.authoring.roundtrip
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI

from ... import nbtools
from ..course import COURSE_ROOT, RELEASE_DIR, load_config, scripts_on_path, source_notebooks
from .synthetic import make_course, solved

SOLVED, BLANK = "solved", "blank"


@dataclass
class RoundTrip:
    assignment: str
    course: Path
    max_auto_score: float
    cell_scores: dict[str, dict[str, float]]
    """student -> grade_id of each autograded test cell -> points scored."""
    export: dict[str, dict[str, str]]
    """student -> their row of ``nbgrader export``."""
    solved_seconds: float = 0.0
    """How long ``nbgrader autograde`` took for the solved submission (kernel start to scores)."""

    def release_dir(self) -> Path:
        return self.course / RELEASE_DIR / self.assignment

    def autograded(self, student: str) -> list[Path]:
        return sorted((self.course / "autograded" / student / self.assignment).glob("*.ipynb"))

    def feedback(self, student: str) -> list[Path]:
        """The pages nbgrader's own ``generate_feedback`` wrote (what the Formgrader's button runs)."""
        return sorted((self.course / "feedback" / student / self.assignment).glob("*.html"))


def run(assignment: str, workdir: Path, root: Path = COURSE_ROOT) -> RoundTrip:
    """Generate, submit (solved and blank), autograde and export one assignment inside ``workdir``."""
    course = make_course(workdir, [assignment], root)
    config = load_config(course)
    # Both submissions wait for their written answers to be graded by hand, so the course's
    # feedback would hold their pages back; the round trip checks what those pages show.
    config.HoldUnreviewed.include_unreviewed = True
    api = NbGraderAPI(config=config)
    _ok(api.generate_assignment(assignment), f"generate_assignment {assignment}")

    max_auto = 0.0
    for source_path in source_notebooks(assignment, course):
        source_nb = nbtools.read(source_path)
        release_nb = nbtools.read(course / RELEASE_DIR / assignment / source_path.name)
        max_auto += nbtools.autograded_points(source_nb)
        for student, nb in ((SOLVED, solved(release_nb, source_nb, written=True)), (BLANK, release_nb)):
            dest = course / "submitted" / student / assignment / source_path.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, str(dest))

    seconds = {}
    for student in (SOLVED, BLANK):
        started = time.perf_counter()
        _ok(api.autograde(assignment, student), f"autograde {assignment} for {student}")
        seconds[student] = time.perf_counter() - started

    cell_scores: dict[str, dict[str, float]] = {}
    with Gradebook(api.coursedir.db_url) as gb:
        for student in (SOLVED, BLANK):
            submission = gb.find_submission(assignment, student)
            cell_scores[student] = {
                grade.name: grade.score
                for nb in submission.notebooks
                for grade in nb.grades
                if grade.cell_type == "code" and grade.auto_score is not None
            }

    for student in (SOLVED, BLANK):
        _ok(api.generate_feedback(assignment, student), f"generate_feedback {assignment} for {student}")
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "grades.csv"],
                   cwd=course, check=True, capture_output=True)
    with (course / "grades.csv").open(newline="") as fh:
        export = {row["student_id"]: row for row in csv.DictReader(fh)}
    return RoundTrip(assignment, course, max_auto, cell_scores, export, seconds[SOLVED])


def _ok(result: dict, what: str) -> None:
    if not result["success"]:
        raise RuntimeError(f"nbgrader {what} failed:\n{result.get('log', '')}\n{result.get('error', '')}")


def main(argv: list[str] | None = None) -> int:
    import tempfile

    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description="Release, submit, autograde and export one assignment.")
    parser.add_argument("assignment")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="roundtrip-") as tmp:
        trip = run(args.assignment, Path(tmp))
        for student in (SOLVED, BLANK):
            row = trip.export[student]
            print(f"{student:7s} score {row['score']} of {row['max_score']} "
                  f"(automatic part: {trip.max_auto_score:g})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
