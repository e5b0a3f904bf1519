"""Dictation: how much of each exercise's solution the student notebook already spells out.

For every exercise of an assignment (a code cell marked ``solution: true`` in the
instructor's notebook) the solution's lines between the START/END OF YOUR CODE
markers are normalised (comment dropped, whitespace collapsed) and kept when they
carry something to think about: at least 8 characters, ``raise`` statements never
(the contract may name the exception to raise) and ``return`` statements only when
they return an expression (at least 14 characters; ``return h`` teaches nothing).
A kept line is *dictated* when it appears verbatim anywhere in the student's
notebook: in the TODO banner, the lecture's prose, another cell. Comment markers
are stripped and the notebook's lines joined, so a statement that a banner wraps
over two comment lines is found too.

    course-dictation [--detail] [ASSIGNMENT ...]   # or: python -m course_utils.grading.authoring.dictation

prints one line per notebook and the course's total; ``--detail`` lists the
dictated lines of every exercise that has some. Issue 16 sets the limits the test
suite holds the committed notebooks to (``tests/test_dictation.py``).
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

from nbformat import NotebookNode

from ... import nbtools
from ..course import COURSE_ROOT, RELEASE_DIR, assignments, source_notebooks

MIN_CHARS = 8
MIN_RETURN_CHARS = 14

_SPACE = re.compile(r"\s+")


@dataclass
class ExerciseDictation:
    """The solution lines of one exercise and those the student notebook spells out."""

    assignment: str
    notebook: str
    grade_id: str
    lines: list[str]
    dictated: list[str] = field(default_factory=list)


@dataclass
class NotebookDictation:
    """Every exercise of one notebook."""

    assignment: str
    notebook: str
    exercises: list[ExerciseDictation]

    @property
    def total(self) -> int:
        return sum(len(e.lines) for e in self.exercises)

    @property
    def dictated(self) -> int:
        return sum(len(e.dictated) for e in self.exercises)

    @property
    def label(self) -> str:
        return f"{self.assignment}/{self.notebook}"


def _collapse(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def _comment_columns(source: str) -> dict[int, int]:
    """Line number (1-based) -> column where that line's comment starts, from Python's tokenizer.

    The tokenizer knows a ``#`` inside a string is not a comment. Source it cannot read
    (a cell with IPython syntax it chokes on) falls back to the first ``#`` of each line.
    """
    columns: dict[int, int] = {}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                columns[token.start[0]] = token.start[1]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return {n: line.index("#") for n, line in enumerate(source.splitlines(), 1) if "#" in line}
    return columns


def _counts(line: str) -> bool:
    """Whether a normalised solution line carries something a banner could hand over."""
    if line.startswith("raise ") or line == "raise":
        return False
    if line.startswith("return ") or line == "return":
        return len(line) >= MIN_RETURN_CHARS
    return len(line) >= MIN_CHARS


def solution_lines(source: str) -> list[str]:
    """The normalised lines of a solution cell between its marker lines (every marked region)."""
    comments = _comment_columns(source)
    found: list[str] = []
    inside = False
    for number, line in enumerate(source.splitlines(), 1):
        if nbtools.START_MARKER in line:
            inside = True
            continue
        if nbtools.END_MARKER in line:
            inside = False
            continue
        if not inside:
            continue
        code = _collapse(line[: comments[number]] if number in comments else line)
        if _counts(code):
            found.append(code)
    return found


def searchable_text(nb: NotebookNode) -> str:
    """The whole notebook as one line of text, as a reader sees it.

    Every line of every cell, with the comment signs at either end removed and runs
    of whitespace collapsed, joined by single spaces: a solution line is found in
    code, in a comment, in markdown, or wrapped over two lines of a banner.
    """
    pieces = []
    for cell in nb.cells:
        for line in cell.source.splitlines():
            piece = _collapse(line.strip().strip("#"))
            if piece:
                pieces.append(piece)
    return " ".join(pieces)


def measure_notebook(solution: NotebookNode, student: NotebookNode, assignment: str, notebook: str) -> NotebookDictation:
    """Dictation of every exercise of ``solution`` in its student version ``student``."""
    text = searchable_text(student)
    result = NotebookDictation(assignment, notebook, [])
    for cell in solution.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not nbgrader.get("solution"):
            continue
        lines = solution_lines(cell.source)
        if not lines:
            continue
        exercise = ExerciseDictation(assignment, notebook, nbgrader.get("grade_id", "?"), lines)
        exercise.dictated = [line for line in lines if line in text]
        result.exercises.append(exercise)
    return result


def measure_assignment(assignment: str, root: Path = COURSE_ROOT) -> list[NotebookDictation]:
    """Dictation of each notebook of one assignment, against ``notebooks/<assignment>/``."""
    results = []
    for source in source_notebooks(assignment, root):
        student = Path(root) / RELEASE_DIR / assignment / source.name
        if not student.exists():
            raise FileNotFoundError(f"{student}: no student version of {source} (run make release)")
        results.append(measure_notebook(nbtools.read(source), nbtools.read(student), assignment, source.name))
    return results


def measure_course(root: Path = COURSE_ROOT, only: list[str] | None = None) -> list[NotebookDictation]:
    """Dictation of every notebook of the course (or of the assignments in ``only``)."""
    return [nb for a in (only or assignments(root)) for nb in measure_assignment(a, root)]


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def report(results: list[NotebookDictation], detail: bool = False) -> str:
    """One line per notebook, the dictated lines of each exercise with ``detail``, the course total."""
    out = []
    width = max((len(nb.label) for nb in results), default=0)
    for nb in results:
        out.append(f"{nb.label:<{width}}  {nb.dictated:>3} of {nb.total:>3} solution lines dictated ({_percent(nb.dictated, nb.total)})")
        if detail:
            for ex in nb.exercises:
                if ex.dictated:
                    out.append(f"    {ex.grade_id}: {len(ex.dictated)} of {len(ex.lines)}")
                    out.extend(f"        {line}" for line in ex.dictated)
    dictated = sum(nb.dictated for nb in results)
    total = sum(nb.total for nb in results)
    out.append(f"{'course':<{width}}  {dictated:>3} of {total:>3} solution lines dictated ({_percent(dictated, total)})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all of solutions/)")
    parser.add_argument("--detail", action="store_true", help="list the dictated lines of each exercise")
    args = parser.parse_args(argv)
    print(report(measure_course(COURSE_ROOT, args.assignments or None), detail=args.detail))
    return 0


if __name__ == "__main__":
    sys.exit(main())
