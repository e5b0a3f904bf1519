"""Where the course lives and how nbgrader is configured for it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets.config import Config

from .. import nbtools

COURSE_ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"

# nbgrader creates a gradebook by running the `alembic` script found on PATH, which
# fails when this environment's python is called without activating it first.
_scripts = str(Path(sys.executable).parent)
if _scripts not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _scripts + os.pathsep + os.environ.get("PATH", "")


def load_config(root: Path = COURSE_ROOT, **overrides: str) -> Config:
    """This course's nbgrader configuration (see :func:`course_utils.nbtools.load_config`)."""
    return nbtools.load_config(root, **overrides)


def assignments(root: Path = COURSE_ROOT) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook, in course order."""
    source = Path(root) / SOURCE_DIR
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(assignment: str, root: Path = COURSE_ROOT) -> list[Path]:
    """The instructor's notebooks of one assignment."""
    return sorted((Path(root) / SOURCE_DIR / assignment).glob("*.ipynb"))
