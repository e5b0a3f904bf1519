"""The shape of every exercise (issue 16): hints behind a click under it, and a grader's line for written answers."""

from __future__ import annotations

import re

import nbformat
import pytest

from course_utils.grading.course import COURSE_ROOT, assignments, source_notebooks

NOTEBOOKS = [path for a in assignments() for path in source_notebooks(a)]
HINT = re.compile(r"<details><summary>Hint (\d)</summary>\n\n(.+?)\n\n</details>", re.S)


def _grade_id(cell) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_exercise_has_one_to_three_collapsed_hints_under_its_test(path):
    nb = nbformat.read(path, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        if not _grade_id(cell).endswith("_test"):
            continue
        after = nb.cells[index + 1] if index + 1 < len(nb.cells) else None
        hints = HINT.findall(after.source) if after is not None and after.cell_type == "markdown" else []
        numbers = [int(n) for n, _ in hints]
        if not 1 <= len(hints) <= 3 or numbers != list(range(1, len(hints) + 1)):
            problems.append(f"{_grade_id(cell)}: {len(hints)} hint blocks numbered {numbers}")
        elif "<details open" in after.source or after.source.count("<details>") != len(hints):
            problems.append(f"{_grade_id(cell)}: every hint block must start collapsed")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.parent.name)
def test_every_written_answer_tells_the_grader_what_earns_full_credit(path):
    nb = nbformat.read(path, as_version=4)
    written = [c for c in nb.cells if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("solution")]
    missing = [_grade_id(c) for c in written if "*Full credit:*" not in c.source]
    assert written, "no written question found: the test would pass on anything"
    assert not missing, f"written answers without a '*Full credit:*' line: {missing}"


def _tally(assignment: str) -> tuple[int, int, float, float]:
    """(code exercises, written answers, automatic points, points graded by hand) of an assignment."""
    (path,) = source_notebooks(assignment)
    code = written = 0
    auto = by_hand = 0.0
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            code += cell.cell_type == "code"
            written += cell.cell_type == "markdown"
        if meta.get("grade"):
            if cell.cell_type == "code":
                auto += meta.get("points", 0)
            else:
                by_hand += meta.get("points", 0)
    return code, written, auto, by_hand


def test_the_readme_counts_each_notebooks_exercises_and_points():
    readme = (COURSE_ROOT / "README.md").read_text()
    for assignment in assignments():
        code, written, auto, by_hand = _tally(assignment)
        row = next((line for line in readme.splitlines() if line.startswith(f"| {assignment[:2]} |")), "")
        wanted = f"| {code} + {written} | {auto:g} + {by_hand:g} |"
        assert row.endswith(wanted), f"README's row for {assignment} should end with {wanted!r}: {row!r}"
