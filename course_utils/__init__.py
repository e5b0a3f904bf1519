"""Helpers for the course notebooks: data, plots, test checks and the instructor's grading tools.

Notebooks import what they need, e.g. ``from course_utils.data import load_names``.
What a student is asked to write is never in this package.
"""

__all__ = ["data", "plots", "checks"]
