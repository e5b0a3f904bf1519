"""Helpers for the course notebooks: data, plots, test checks and the instructor's grading tools.

Notebooks import what they need, e.g. ``from course_utils.data import load_names``.
What a student is asked to write is never in this package.
"""

from pathlib import Path

COURSE_ROOT = Path(__file__).resolve().parent.parent
"""The course folder: the one that holds this package (``make install`` installs it editable)."""

__all__ = ["COURSE_ROOT", "data", "plots", "checks"]
