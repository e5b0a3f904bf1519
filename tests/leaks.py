"""Finding solution and hidden-test lines where students could see them."""

from __future__ import annotations

import json
import re

from nbgrader import utils

from course_utils import nbtools

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def secret_and_public_lines(source_nb) -> tuple[set[str], set[str]]:
    """Lines that exist only in solution regions or hidden tests, and all other lines."""
    secret, public = set(), set()
    for cell in source_nb.cells:
        text = cell.source
        for block in HIDDEN.findall(text):
            secret.update(block.splitlines())
        text = HIDDEN.sub("", text)
        inside = False
        for line in text.splitlines():
            if nbtools.START_MARKER in line:
                inside = True
            elif nbtools.END_MARKER in line:
                inside = False
            elif inside or (utils.is_solution(cell) and cell.cell_type == "markdown"):
                secret.add(line)
            else:
                public.add(line)
    normalise = lambda lines: {line.strip() for line in lines if line.strip()}  # noqa: E731
    public = normalise(public)
    return normalise(secret) - public, public


def answer_lines(source_nb, min_length: int = 20) -> set[str]:
    """Stripped lines a student writes in code exercises (solution regions outside hidden
    tests), long enough to be an answer rather than a shared idiom such as ``else:``."""
    answers = set()
    for cell in source_nb.cells:
        if cell.cell_type != "code":
            continue
        inside = False
        for line in HIDDEN.sub("", cell.source).splitlines():
            if nbtools.START_MARKER in line:
                inside = True
            elif nbtools.END_MARKER in line:
                inside = False
            elif inside and len(line.strip()) >= min_length:
                answers.add(line.strip())
    return answers


def notebook_lines(text: str):
    try:
        cells = json.loads(text)["cells"]
    except (ValueError, KeyError):
        return text.splitlines()
    return [line for c in cells for line in "".join(c["source"]).splitlines()]


def course_secrets() -> dict[str, set[str]]:
    """assignment -> lines that appear only in its solutions or hidden tests, nowhere public.

    A line is public if any source notebook shows it to students (e.g. `else:`).
    """
    from course_utils.grading.course import assignments, source_notebooks

    parsed = {a: [secret_and_public_lines(nbtools.read(p)) for p in source_notebooks(a)]
              for a in assignments()}
    public = set().union(*(pub for pairs in parsed.values() for _, pub in pairs))
    return {a: set().union(*(sec for sec, _ in pairs)) - public for a, pairs in parsed.items()}


def lines_of(path) -> set[str]:
    """Stripped lines of a text file (the cell sources, for a notebook)."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return set()
    return {line.strip() for line in notebook_lines(text)}


def secret_pairs() -> set[tuple[str, str]]:
    """Consecutive pairs of lines inside solution regions and hidden tests, anywhere in the course.

    Code outside the notebooks (the package) shares short generic lines with any
    solution (`continue`, `)`); a copied solution shows up as two of its lines in a row.
    """
    from course_utils.grading.course import assignments, source_notebooks

    pairs = set()
    for assignment in assignments():
        for path in source_notebooks(assignment):
            for cell in nbtools.read(path).cells:
                for block in _secret_blocks(cell):
                    lines = [line.strip() for line in block if line.strip()]
                    pairs |= {(a, b) for a, b in zip(lines, lines[1:]) if max(len(a), len(b)) >= 12}
    return pairs


def _secret_blocks(cell) -> list[list[str]]:
    blocks = [b.splitlines() for b in HIDDEN.findall(cell.source)]
    current = None
    for line in HIDDEN.sub("", cell.source).splitlines():
        if nbtools.START_MARKER in line:
            current = []
        elif nbtools.END_MARKER in line and current is not None:
            blocks.append(current)
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def pairs_of(path) -> set[tuple[str, str]]:
    """Consecutive pairs of non-empty stripped lines of a text file."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except UnicodeDecodeError:
        return set()
    return set(zip(lines, lines[1:]))
