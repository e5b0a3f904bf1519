"""Committed notebooks are stripped and formatted one way; the code passes the linter."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.grading.course import (
    COURSE_ROOT,
    RELEASE_DIR,
    SOURCE_DIR,
    assignments,
    source_notebooks,
)
from course_utils.kernel import KERNELSPEC

NOTEBOOKS = sorted(p for folder in (SOURCE_DIR, RELEASE_DIR) for p in (COURSE_ROOT / folder).rglob("*.ipynb")
                   if ".ipynb_checkpoints" not in p.parts)
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists() and shutil.which(name) is None:
        pytest.fail(f"{name} is not installed: run `make install` (it comes with the test extras)")
    return str(path) if path.exists() else name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(COURSE_ROOT)))
def test_notebook_is_in_nbformat_canonical_form(path):
    text = path.read_text()
    nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert text == nbformat.writes(nb) + "\n", "not in nbformat's canonical JSON: run `pre-commit run -a`"
    assert nb.metadata.get("kernelspec") == KERNELSPEC, "run python -m course_utils.grading.authoring.tags"


def test_notebooks_are_stripped():
    run = subprocess.run([_tool("nbstripout"), "--verify", "--keep-id", *map(str, NOTEBOOKS)],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_ruff_finds_nothing():
    run = subprocess.run([_tool("ruff"), "check", "--output-format", "concise", "."],
                         cwd=COURSE_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("path", [p for a in assignments() for p in source_notebooks(a)], ids=lambda p: p.parent.name)
def test_notebook_metadata_and_run_all_tags_are_up_to_date(path):
    from course_utils.grading.authoring.tags import tag_notebook

    nb = nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
    expected = copy.deepcopy(nb)
    tag_notebook(expected)
    assert nb == expected, "run `python -m course_utils.grading.authoring.tags`, then `make release`"
