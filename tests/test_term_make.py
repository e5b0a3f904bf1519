"""The term's instructor steps of issue 34 reach their commands (`make -n` runs nothing)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from course_utils.grading.course import COURSE_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


@pytest.mark.parametrize(("args", "passed"), [
    (["collect", "ZIP=s.zip", "ASSIGNMENT=01_probability", "DUE=2026-01-11 23:59"], '--due "2026-01-11 23:59"'),
    (["collect", "ZIP=s.zip", "ASSIGNMENT=01_probability", "ROSTER=canvas.csv"],
     'course_utils.grading.lms.roster "canvas.csv"'),  # the names into the gradebook
    (["export", "FORMAT=canvas", "CANVAS_COLUMNS=01_probability=Probability (12345)"],
     '--column "01_probability=Probability (12345)"'),
    (["roster", "ROSTER=roster.csv"], 'course_utils.grading.lms.roster "roster.csv"'),
    (["formgrader", "ROSTER=roster.csv"], 'course_utils.grading.lms.roster "roster.csv"'),
    (["formgrader", "PORT=8890"], "--port=8890"),
    (["formgrader"], "--ServerApp.jpserver_extensions nbgrader.server_extensions.formgrader=True"),
])
def test_a_term_setting_reaches_its_command(args, passed):
    shown = subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=COURSE_ROOT,
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert passed in " ".join(shown.stdout.split()), shown.stdout


def test_the_formgrader_opens_on_the_course_folder():
    shown = subprocess.run(["make", "-n", "--no-print-directory", "formgrader"], cwd=COURSE_ROOT,
                           capture_output=True, text=True)
    assert f"--ServerApp.root_dir={COURSE_ROOT}" in shown.stdout  # where nbgrader_config.py and the gradebook are
