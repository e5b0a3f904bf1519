"""The shape of every exercise (issue 16): hints behind a click under it, and a grader's line for written answers."""

from __future__ import annotations

import re

import nbformat
import pytest

from course_utils.grading.course import assignments, source_notebooks

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
