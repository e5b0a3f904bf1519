"""Telling the grader's faults from the student's in a graded notebook.

A grader fault is only what the grader's environment raised before or outside the
student's code: an error of the environment (a missing data file, a missing package or
program, a path the sandbox does not allow) in a test cell (the judge runs it in the
grader, and the student's own errors reach it as RuntimeError), or in a cell the student
did not change that ran before any code of the student's. The submission is then not
scored, and the instructor is told what to fix. Anything else is the student's: an error
their own cells raise, one an unchanged cell gets from their code (their function raising
FileNotFoundError), or one after their code ran (which may have broken ``sys.path`` or
the working folder); a submission can never make itself the grader's fault (and be
graded again by every run) by what it contains. The environment the notebooks need is
checked before any student by the canary (:mod:`.canary`).
"""

from __future__ import annotations

import re

from nbformat import NotebookNode
from nbgrader import utils

ENVIRONMENT_ERRORS = {"NamesDataError", "ModuleNotFoundError", "ImportError", "PermissionError",
                      "FileNotFoundError", "ExecutableNotFound", "CalledProcessError"}
FIXES = (
    (re.compile(r"NamesDataError|names\.txt", re.I),
     "the names data set is not readable inside the sandbox (its kernel runs as another user): "
     "run `make data` (it leaves data/names.txt readable by every user) and grade without "
     "COURSE_NAMES_FILE, or `chmod a+r` the file COURSE_NAMES_FILE names"),
    (re.compile(r"ExecutableNotFound|failed to execute.*dot|\bdot\b.*not found", re.I),
     "Graphviz's dot program is missing: apt-get install graphviz (make dot)"),
    (re.compile(r"No module named '?([\w.]+)", re.I),
     "a Python package the notebooks need is missing from .venv: make install"),
    (re.compile(r"PermissionError|Permission denied", re.I),
     "the sandbox cannot read or write a path the notebook needs (see the Sandbox section of the README)"),
)


def environment_fault(graded: NotebookNode, release: NotebookNode) -> str | None:
    """Why grading this notebook was the grader's fault, in words with the fix; None if it was not."""
    released = {_key(c) for c in release.cells if c.cell_type == "code"}
    student_cells: set[int] = set()  # execution counts of the cells with the student's code
    for index, cell in enumerate(graded.cells):
        if cell.cell_type != "code":
            continue
        test = utils.is_grade(cell) and not utils.is_solution(cell)
        own = not test and _key(cell) not in released
        if not own and (test or not student_cells):
            for output in cell.get("outputs", []):
                if output.get("output_type") != "error" or output.get("ename") not in ENVIRONMENT_ERRORS:
                    continue
                if test and _names_a_cell(output, student_cells):
                    continue  # a test the kernel ran (no judge): the student's code raised it
                message = f"{output.get('ename')}: {str(output.get('evalue', ''))[:200]}"
                fix = next((text for pattern, text in FIXES if pattern.search(message)), None)
                return f"cell {index + 1} failed with {message}" + (f"; fix: {fix}" if fix else "")
        if own and cell.source.strip():
            count = cell.get("execution_count")
            student_cells.add(count if isinstance(count, int) else -1)
    return None


CELL_FRAME = re.compile(r"Cell In\[(\d+)\]")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _names_a_cell(output: NotebookNode, counts: set[int]) -> bool:
    """Whether an error's traceback passes through one of the cells with these execution counts."""
    lines = output.get("traceback", [])
    text = "\n".join(line for line in lines if isinstance(line, str)) if isinstance(lines, list) else ""
    return any(int(found) in counts for found in CELL_FRAME.findall(ANSI.sub("", text)))


def _key(cell: NotebookNode) -> str:
    return "\n".join(line.rstrip() for line in cell.source.strip().splitlines())
