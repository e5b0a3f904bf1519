"""The student distribution: exactly the student's files, nothing secret, and it installs and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile

import nbformat
import pytest

from course_utils import handout, nbtools
from course_utils.grading.authoring.dist import INSTRUCTOR_ONLY, NAME, build, student_modules
from course_utils.grading.authoring.synthetic import solved
from course_utils.grading.course import (
    COURSE_ROOT,
    RELEASE_DIR,
    SOURCE_DIR,
    assignments,
    source_notebooks,
)
from course_utils.selfcheck import labels

from .leaks import course_secrets, lines_of, pairs_of, secret_pairs

pytestmark = pytest.mark.xdist_group("dist")


@pytest.fixture(scope="module")
def dist(tmp_path_factory):
    archive = build(tmp_path_factory.mktemp("dist"))
    return archive.parent / NAME, archive


def test_only_the_students_files(dist):
    folder, archive = dist
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".gitignore", "Makefile", "README.md", "course_utils", "data", "nbgrader_config.py",
         "pyproject.toml", "releases"])
    shipped = sorted(p.name for p in (folder / "course_utils").iterdir())
    assert shipped == student_modules() and "handout.py" in shipped and "grading" not in shipped
    released = sorted(p.relative_to(COURSE_ROOT / RELEASE_DIR) for p in (COURSE_ROOT / RELEASE_DIR).rglob("*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts)
    assert sorted(p.relative_to(folder / "releases") for p in (folder / "releases").rglob("*.ipynb")) == released
    assert archive.name == f"{NAME}.tar.gz"
    with tarfile.open(archive) as tar:
        members = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert members == sorted(f"{NAME}/{p.relative_to(folder)}" for p in folder.rglob("*") if p.is_file())


def test_the_students_commands_and_settings_only(dist):
    folder, _ = dist
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    shown = subprocess.run(["make", "--no-print-directory", "help"], cwd=folder, capture_output=True,
                           text=True, check=True, env=env).stdout
    commands = {line.split()[1] for line in shown.splitlines() if line.startswith("  make ")}
    assert commands == {"help", "course", "setup", "install", "kernel", "dot", "data", "notebooks", "student-lab",
                        "check"}, shown
    for target in ("grade", "feedback", "release", "dist", "test"):
        assert subprocess.run(["make", "-n", target], cwd=folder, capture_output=True, env=env).returncode != 0
    config = (folder / "nbgrader_config.py").read_text()
    assert "course_utils.grading" not in config and "Sandbox" not in config and "ClearSolutions" in config
    project = (folder / "pyproject.toml").read_text()
    assert "kernel_provisioners" not in project and "[tool.ruff]" in project  # the sandbox is not theirs
    assert INSTRUCTOR_ONLY not in (folder / "Makefile").read_text() + config + project


def test_nothing_secret_in_it(dist):
    folder, _ = dist
    secrets, pairs = set().union(*course_secrets().values()), secret_pairs()
    assert secrets and pairs, "the course has no solution lines to look for"
    files = [p for p in folder.rglob("*") if p.is_file()]
    leaked = {str(p.relative_to(folder)): sorted(secrets & lines_of(p)) for p in files
              if p.suffix == ".ipynb"}
    leaked |= {str(p.relative_to(folder)): sorted(pairs & pairs_of(p)) for p in files
               if p.suffix != ".ipynb"}
    assert {k: v for k, v in leaked.items() if v} == {}
    assert not (folder / SOURCE_DIR).exists() and not list(folder.rglob("gradebook.db"))


def _unpack(archive, into):
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")


def test_handed_out_week_by_week_without_touching_the_students_notebooks(tmp_path):
    """Two assignments in week one, the next in week two: unpacked over the same folder,
    the new notebook is added and the student's edited ones stay as they were."""
    first = build(tmp_path / "week1", chosen=["01_probability", "00_math_toolkit"])
    assert first.name == f"{NAME}-00_math_toolkit+01_probability.tar.gz"
    home = tmp_path / "student"
    _unpack(first, home)
    course = home / NAME
    added, kept = handout.add_missing(course)
    assert [p.relative_to(course).parts[1] for p in added] == ["00_math_toolkit", "01_probability"]
    assert kept == []
    edited = course / "notebooks" / "01_probability" / "probability.ipynb"
    mine = edited.read_text().replace("TODO", "MY OWN WORK", 1)
    edited.write_text(mine)

    # Week two, handed out alone, then again with week one's (a cumulative archive).
    for chosen in (["02_information_theory"], ["01_probability", "02_information_theory"]):
        _unpack(build(tmp_path / "week2", chosen=chosen), home)
        added, kept = handout.add_missing(course)
        assert edited.read_text() == mine and edited in kept
    assert sorted(p.name for p in (course / "releases").iterdir()) == assignments()[:3]
    assert sorted(p.parts[-2] for p in (course / "notebooks").rglob("*.ipynb")) == assignments()[:3]

    with pytest.raises(ValueError, match="no assignment named 99_nothing"):
        build(tmp_path / "bad", chosen=["99_nothing"])
    with pytest.raises(FileNotFoundError, match="unpack the course archive"):
        handout.add_missing(tmp_path / "empty")


def test_readme_is_for_students(dist):
    readme = (dist[0] / "README.md").read_text()
    assert "## For students" in readme and "make check" in readme and "Validate" in readme
    assert "## For instructors" not in readme and "make test" not in readme


@pytest.mark.notebook
def test_installs_in_a_fresh_venv_and_checks_the_notebooks(dist, names_file, tmp_path):
    """A fresh virtual environment installs the distribution; `make check` runs every notebook there.

    The venv reaches the (already installed) dependencies through a .pth file instead of
    downloading several GB again; the course package itself is installed from the
    distribution, with pip's build isolation as a student's install would run it.
    """
    course = tmp_path / NAME
    shutil.copytree(dist[0], course)
    venv = course / ".venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    with open(os.path.join(site, "course-deps.pth"), "w") as fh:
        # an import line, not a path line: the test environment's own .pth files (its
        # editable course_utils among them) must not come along
        fh.write(f"import sys; sys.path.append({sysconfig.get_paths()['purelib']!r})\n")
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-deps",
                    "-e", str(course)], check=True, capture_output=True)
    (venv / ".installed").touch()  # the Makefile's marker: dependencies are in place
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)

    # The student's notebooks come from the releases the archive holds.
    made = subprocess.run(["make", "notebooks"], cwd=course, env=env, capture_output=True, text=True,
                          timeout=120)
    assert made.returncode == 0 and "added notebooks/01_probability/probability.ipynb" in made.stdout, made

    # The student fills in one exercise of 01 correctly.
    path = course / "notebooks" / "01_probability" / "probability.ipynb"
    (source,) = source_notebooks("01_probability")
    nbformat.write(solved(nbtools.read(path), nbtools.read(source), only={"first_letter_distribution"}),
                   str(path))
    run = subprocess.run(["make", "check", "student-lab"], cwd=course, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", "import course_utils; print(course_utils.__file__)"],
                              capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert imported == str(course / "course_utils" / "__init__.py")
    rows = [line.split() for line in table.splitlines()]
    status = {r[1]: " ".join(r[2:4]) for r in rows if len(r) >= 4 and r[0] == "01_probability"}
    assert status.get("first_letter_distribution", "").startswith("passed"), table
    assert status["total_probability"] == "not attempted", table
    assert "could not run" not in table
    # rows are labelled by assignment folder (with the notebook's name when a folder has several)
    released = set(labels(sorted((course / "notebooks").rglob("*.ipynb"))).values())
    assert released <= {r[0] for r in rows if r}, table

    # JupyterLab for students: Validate on, the instructor's tools off.
    page_config = json.loads((venv / "etc" / "jupyter" / "labconfig" / "page_config.json").read_text())
    disabled = {k for k, v in page_config["disabledExtensions"].items() if v}
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment",
            "@jupyter/nbgrader:course-list"} <= disabled
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    server = json.loads((venv / "etc" / "jupyter" / "jupyter_server_config.json").read_text())
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.formgrader"] is False
    assert server["ServerApp"]["jpserver_extensions"]["nbgrader.server_extensions.validate_assignment"] is False
    assert server["ServerApp"]["jpserver_extensions"]["course_utils.validation"] is True
