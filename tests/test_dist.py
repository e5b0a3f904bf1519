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

from course_utils import nbtools
from course_utils.grading.course import COURSE_ROOT, RELEASE_DIR, SOURCE_DIR, source_notebooks
from course_utils.grading.dist import NAME, STUDENT_MODULES, build
from course_utils.grading.synthetic import solved
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
         "notebooks", "pyproject.toml"])
    assert sorted(p.name for p in (folder / "course_utils").iterdir()) == sorted(STUDENT_MODULES)
    released = sorted(p.relative_to(COURSE_ROOT / RELEASE_DIR) for p in (COURSE_ROOT / RELEASE_DIR).rglob("*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts)
    assert sorted(p.relative_to(folder / "notebooks") for p in (folder / "notebooks").rglob("*.ipynb")) == released
    with tarfile.open(archive) as tar:
        members = sorted(m.name for m in tar.getmembers() if m.isfile())
    assert members == sorted(f"{NAME}/{p.relative_to(folder)}" for p in folder.rglob("*") if p.is_file())


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

    # The student fills in one exercise of 01 correctly.
    path = course / "notebooks" / "01_probability" / "probability.ipynb"
    (source,) = source_notebooks("01_probability")
    nbformat.write(solved(nbtools.read(path), nbtools.read(source), only={"first_letter_distribution"}),
                   str(path))

    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env.pop("PYTHONPATH", None)
    run = subprocess.run(["make", "check", "student-lab"], cwd=course, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    table = run.stdout
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", "import course_utils; print(course_utils.__file__)"],
                              capture_output=True, text=True, cwd=tmp_path).stdout.strip()
    assert imported == str(course / "course_utils" / "__init__.py")
    rows = [line.split() for line in table.splitlines()]
    status = {r[1]: " ".join(r[2:4]) for r in rows if len(r) >= 4 and r[0] == "01_probability"}
    assert status["first_letter_distribution"].startswith("passed"), table
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
