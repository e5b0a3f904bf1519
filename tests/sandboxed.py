"""What the tests that grade a class in the real sandbox share: whether it runs here, and their marks."""

from __future__ import annotations

import pytest

from course_utils.grading.sandbox import SandboxUnavailable, check_bwrap

try:
    check_bwrap()
    PROBLEM: str | None = None
except SandboxUnavailable as exc:
    PROBLEM = str(exc)


def sandboxed_class(group: str) -> list:
    """Marks for a module that grades a class in the sandbox, in an xdist group of its own."""
    return [pytest.mark.notebook, pytest.mark.xdist_group(group),
            pytest.mark.skipif(PROBLEM is not None, reason=f"the sandbox cannot run here: {PROBLEM}")]
