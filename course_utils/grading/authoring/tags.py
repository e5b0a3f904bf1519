"""Notebook metadata the course keeps complete: the kernel's language_info, and raises-exception tags.

A student's Run All should render the whole lecture before any exercise is done, so every cell
that cannot run until then carries ``raises-exception`` (JupyterLab and nbclient run on past it):
exercise and test cells, and each cell that reads a name such a cell binds. The tags change no
score (grading and Validate already run every cell). Run it after editing ``solutions/``, then
``make release``:

    course-tags          # or: python -m course_utils.grading.authoring.tags
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbgrader import utils

from ... import nbtools
from ...kernel import KERNELSPEC
from ..course import COURSE_ROOT, assignments, source_notebooks

TAG = "raises-exception"
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
    "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3", "version": "3.11.7"}
"""What ipykernel writes on the course's Python, so a fresh notebook opens without unsaved changes."""


def tag_notebook(nb: nbformat.NotebookNode) -> int:
    """Set the metadata and the tags of ``nb`` in place; returns the number of tagged cells."""
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = dict(LANGUAGE_INFO)
    pending: set[str] = set()  # names bound by a cell that may fail before the exercises are done
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = [t for t in cell.metadata.get("tags", []) if t != TAG]
        tree = nbtools.parse(cell.source)
        bound = nbtools.names_bound(tree)
        # A name the cell binds itself (a loop variable, say) is no dependence on an earlier cell.
        if utils.is_grade(cell) or utils.is_solution(cell) or (nbtools.names_read(tree) - bound) & pending:
            pending |= bound
            tags.append(TAG)
            count += 1
        else:
            pending -= bound
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
    return count


def main(argv: list[str] | None = None) -> int:
    """Tag every solution notebook of the course in place."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=COURSE_ROOT, help="the course folder (default: this one)")
    root = parser.parse_args(argv).root
    for assignment in assignments(root):
        for path in source_notebooks(assignment, root):
            nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
            count = tag_notebook(nb)
            nbformat.validate(nb)
            path.write_text(nbformat.writes(nb) + "\n")
            print(f"{assignment}/{path.name}: {count} cells tagged {TAG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
