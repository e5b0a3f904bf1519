"""Issue 34.10: the student's commands: one notebook's check, a Makefile header of student commands,
a Launcher offering only the course's kernel."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from traitlets.config.loader import JSONFileConfigLoader

from course_utils import selfcheck, studentlab
from course_utils.grading.authoring.dist import student_part
from course_utils.grading.course import COURSE_ROOT
from course_utils.kernel import KERNEL_NAME


def _student_makefile() -> str:
    return student_part((COURSE_ROOT / "Makefile").read_text(), "Makefile")


def test_the_student_makefile_header_names_only_student_commands():
    text = _student_makefile()
    targets = set(re.findall(r"(?m)^([a-z-]+):.*## ", text))
    assert {"course", "check", "install"} <= targets
    comments = "\n".join(line for line in text.splitlines() if line.lstrip().startswith("#"))
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)", comments))
    assert named and named <= targets, sorted(named - targets)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_check_takes_one_assignment():
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    shown = subprocess.run(["make", "-n", "check", "ASSIGNMENT=01_probability"], cwd=COURSE_ROOT, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert "-m course_utils.selfcheck 01_probability" in shown, shown


def test_selfcheck_runs_the_named_assignment_with_its_name_in_the_progress_bar(monkeypatch, capsys):
    ran = []

    def fake_run(path, root=COURSE_ROOT, label=None, timeout=None):
        ran.append(path)
        return selfcheck.NotebookReport(label or path.stem)

    monkeypatch.setattr(selfcheck, "run_notebook", fake_run)
    assert selfcheck.main(["01_probability"]) == 0
    assert ran == [COURSE_ROOT / "notebooks" / "01_probability" / "probability.ipynb"]
    assert "01_probability" in capsys.readouterr().err  # tqdm's bar is on stderr
    assert selfcheck.main(["99_nothing"]) == 2
    assert "e.g. make check ASSIGNMENT=00_math_toolkit" in capsys.readouterr().err


def test_the_launcher_offers_only_the_courses_kernel(tmp_path):
    studentlab.configure(tmp_path)
    config = JSONFileConfigLoader("jupyter_server_config.json", path=str(tmp_path)).load_config()
    everywhere = KernelSpecManager().find_kernel_specs()
    assert KERNEL_NAME in everywhere and len(everywhere) > 1, everywhere  # else this checks nothing
    assert set(KernelSpecManager(config=config).find_kernel_specs()) == {KERNEL_NAME}
