"""The course's commands: each is an installed console script whose ``--help`` works, and every
usage line in the package's docstrings and guides names a command or module that exists.

The scripts are read from pyproject.toml, so a module that moves without its entry point
following it fails here, not in front of a class.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from course_utils.grading.course import COURSE_ROOT

PACKAGE = COURSE_ROOT / "course_utils"
SCRIPTS: dict[str, str] = tomllib.loads((COURSE_ROOT / "pyproject.toml").read_text())["project"].get(
    "scripts", {})
NOT_COMMANDS = {"course_utils.grading.sandbox.boot"}
"""Modules with a ``main`` nobody types: the sandbox runs boot inside each kernel's namespace."""
STUDENT_COMMANDS = {"course_utils.data", "course_utils.handout", "course_utils.studentlab"}
"""Students' copies have no console scripts (pyproject.toml's instructor part): make runs these."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(COURSE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _has_main(path: Path) -> bool:
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body)


def _command_modules() -> set[str]:
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py") if _has_main(p)}
    return modules - NOT_COMMANDS - STUDENT_COMMANDS


def test_every_module_with_a_main_is_an_installed_command():
    declared = {target.partition(":")[0] for target in SCRIPTS.values()}
    assert _command_modules() <= declared, (
        "give these modules an entry in pyproject.toml's [project.scripts]: "
        f"{sorted(_command_modules() - declared)}")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_command_prints_its_help(name, monkeypatch, capsys):
    module, _, attr = SCRIPTS[name].partition(":")
    main = getattr(importlib.import_module(module), attr)
    monkeypatch.setattr(sys, "argv", [name, "--help"])  # what the console script's wrapper sees
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {name}")


def test_the_installed_commands_are_the_declared_ones():
    installed = {ep.name: ep.value for ep in importlib.metadata.distribution("course-utils").entry_points
                 if ep.group == "console_scripts"}
    assert installed == SCRIPTS, "pyproject.toml changed since the install: run `make install`"
    run = subprocess.run([str(Path(sys.executable).parent / "course-grade"), "--help"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.startswith("usage: course-grade"), run.stderr


USAGE_FILES = [*sorted(PACKAGE.rglob("*.py")), COURSE_ROOT / "README.md", COURSE_ROOT / "CONTRIBUTING.md",
               COURSE_ROOT / "Makefile"]


@pytest.mark.parametrize("path", USAGE_FILES, ids=lambda p: str(p.relative_to(COURSE_ROOT)))
def test_usage_lines_name_what_exists(path):
    text = path.read_text()
    for module in re.findall(r"python -m (course_utils[\w.]*)", text):
        assert importlib.util.find_spec(module) is not None, f"{path.name}: no module {module}"
    if path.suffix != ".py":
        return  # the guides give make targets; a `course-...` there names a kernel or a Secret
    # a console script at the start of a docstring's usage line, or offered as the other way
    for script in re.findall(r"(?m)(?:^\s+|or:? )(course-[a-z]+)\b(?!-)", text):
        assert script in SCRIPTS, f"{path.name}: no command {script} in pyproject.toml"


def test_importing_the_package_leaves_path_alone_and_a_command_sets_it():
    """nbgrader finds alembic on PATH; the commands put this environment's scripts there, but
    importing the package (a notebook, the Formgrader, a test) must change nothing."""
    scripts = str(Path(sys.executable).parent)
    path = "/usr/bin:/bin"
    probe = ("import os, sys\n"
             "import course_utils.grading.grade, course_utils.grading.course as course\n"
             "print(os.environ['PATH'], flush=True)\n"
             "course.scripts_on_path(); course.scripts_on_path()\n"
             "print(os.environ['PATH'])\n")
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PATH": path}, cwd=COURSE_ROOT)
    assert run.stdout.splitlines()[:1] == [path], run.stdout + run.stderr
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[1] == f"{scripts}{os.pathsep}{path}"  # once, however often called


def test_plain_nbgrader_from_an_unactivated_environment_creates_the_gradebook(tmp_path):
    """`.venv/bin/nbgrader ...` (and the Formgrader) load the course's nbgrader_config.py, which puts
    the scripts folder on PATH: nbgrader runs `alembic` from PATH to create a gradebook."""
    from course_utils.grading.authoring import synthetic as syn

    course = syn.make_course(tmp_path / "course", ["00_math_toolkit"])
    run = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", "00_math_toolkit"],
                         capture_output=True, text=True, timeout=300, cwd=course,
                         env={**os.environ, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    assert (course / "gradebook.db").is_file()
