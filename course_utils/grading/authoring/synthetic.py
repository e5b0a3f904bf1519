"""Synthetic classes for the grading tests and benchmark: a scratch course folder and submissions.

A scratch course holds ``nbgrader_config.py`` and ``solutions/<assignment>/``
copied from this course; submissions are the real student version with answers
filled in (the instructor's, or any other code), written in nbgrader's layout
``submitted/<student>/<assignment>/<notebook>.ipynb``.
"""

from __future__ import annotations

import copy
import shutil
import tempfile
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils

from ... import nbtools
from ..course import COURSE_ROOT, SOURCE_DIR, source_notebooks
from .release import generate


def make_course(workdir: Path, assignments: list[str], root: Path = COURSE_ROOT,
                config_lines: str = "") -> Path:
    """A course folder in ``workdir`` with the given assignments' sources (and extra config lines)."""
    course = Path(workdir).resolve()
    course.mkdir(parents=True, exist_ok=True)
    config = (Path(root) / "nbgrader_config.py").read_text()
    (course / "nbgrader_config.py").write_text(config + ("\n" + config_lines if config_lines else ""))
    for assignment in assignments:
        dest = course / SOURCE_DIR / assignment
        if not dest.exists():
            shutil.copytree(Path(root) / SOURCE_DIR / assignment, dest)
    return course


def versions(course: Path, assignment: str) -> tuple[NotebookNode, NotebookNode, str]:
    """(student version, instructor version, notebook name) of a one-notebook assignment."""
    (source_path,) = source_notebooks(assignment, course)
    with tempfile.TemporaryDirectory(prefix="synthetic-release-") as tmp:
        out = generate(assignment, Path(tmp), course)
        release = nbtools.read(out / source_path.name)
    return release, nbtools.read(source_path), source_path.stem


def points(assignment: str, root: Path = COURSE_ROOT) -> tuple[dict[str, float], dict[str, float]]:
    """The points of an assignment's graded cells, from its source's nbgrader metadata: (grade id of a
    test cell -> points, grade id of a written answer -> points). Tests expect scores from these, so
    reworking an exercise's points needs no test edited to match."""
    (path,) = source_notebooks(assignment, root)
    tests: dict[str, float] = {}
    written: dict[str, float] = {}
    for cell in nbtools.read(path).cells:
        if utils.is_grade(cell):
            (tests if cell.cell_type == "code" else written)[cell.metadata.nbgrader["grade_id"]] = \
                float(cell.metadata.nbgrader.get("points", 0))
    return tests, written


def solved(release: NotebookNode, source: NotebookNode, *, written: bool = False,
           only: set[str] | None = None) -> NotebookNode:
    """The student version with the instructor's answers (code cells; markdown too if ``written``).

    ``only`` limits the filled-in code answers to those exercise ids.
    """
    answers = {c.metadata.nbgrader["grade_id"]: c.source for c in source.cells if utils.is_solution(c)}
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if not utils.is_solution(cell):
            continue
        gid = cell.metadata.nbgrader["grade_id"]
        if cell.cell_type == "markdown":
            if written:
                cell.source = "My answer: " + answers[gid]
        elif only is None or gid in only:
            cell.source = answers[gid]
    return nb


def with_answer(nb: NotebookNode, exercise: str, code: str, release: NotebookNode | None = None
                ) -> NotebookNode:
    """``nb`` with ``code`` between the markers of exercise ``exercise`` (markers from ``release``)."""
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        if utils.is_solution(cell) and cell.metadata.nbgrader["grade_id"] == exercise:
            base = release.cells[index].source if release is not None else cell.source
            cell.source = nbtools.fill_answer(base, code)
            return nb
    raise KeyError(exercise)


def cell_index(nb: NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells)
                if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)


def submit(course: Path, student: str, assignment: str, content: NotebookNode | bytes | None,
           name: str, timestamp: str | None = "2026-11-20 12:00:00.000000 UTC") -> Path:
    """Write a submission; ``content`` is a notebook or the raw bytes of the file (None: no file)."""
    folder = Path(course) / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    path = folder / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        nbformat.write(content, str(path))
    return path
