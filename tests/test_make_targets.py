"""The instructor's make targets pass their settings through to the commands (`make -n` runs nothing)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from course_utils.grading.course import COURSE_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.mark.parametrize(("args", "passed"), [
    (["feedback", "INCLUDE_UNREVIEWED=1"], "--include-unreviewed"),
    (["grade", "SHARD=auto"], "--shard auto"),
    (["finish-shards", "DB_URL=postgresql://grader@db/gb", "FORMAT=canvas", "PARTIAL=1"],
     'cluster finish --db-url "postgresql://grader@db/gb" --format canvas --partial'),
    (["similarity", "ASSIGNMENT=01_probability", "AGAINST=/srv/term-2025"],
     'course_utils.grading.similarity 01_probability --against "/srv/term-2025"'),
])
def test_a_make_setting_reaches_its_command(args, passed):
    shown = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=COURSE_ROOT,
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert passed in " ".join(shown.stdout.split()), shown.stdout
