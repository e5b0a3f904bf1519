"""Telling the grader's faults from the student's in a graded notebook.

A cell the student did not change (a lecture cell, a test cell) that fails with an
error of the environment (a missing data file, a missing package or program, a path
the sandbox does not allow) is the grader's fault: the submission must not be scored,
and the instructor is told what to fix. Errors in the student's own cells, and errors
a lecture or test cell gets from the student's code, stay the student's.
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
    """Why grading this notebook was the grader's fault, in words with the fix; None if it was not.

    Test cells count as unchanged (they are restored from the gradebook); an error the student's
    code raises reaches a judged test cell as a RuntimeError, so an environment error there is
    the judge's own.
    """
    unchanged = {_key(c) for c in release.cells if c.cell_type == "code" and not utils.is_solution(c)}
    for index, cell in enumerate(graded.cells):
        if cell.cell_type != "code" or utils.is_solution(cell):
            continue
        if not utils.is_grade(cell) and _key(cell) not in unchanged:
            continue  # a cell the student added or edited: its errors are the student's
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error" or output.get("ename") not in ENVIRONMENT_ERRORS:
                continue
            message = f"{output.get('ename')}: {str(output.get('evalue', ''))[:200]}"
            fix = next((text for pattern, text in FIXES if pattern.search(message)), None)
            return f"cell {index + 1} failed with {message}" + (f"; fix: {fix}" if fix else "")
    return None


def _key(cell: NotebookNode) -> str:
    return "\n".join(line.rstrip() for line in cell.source.strip().splitlines())
