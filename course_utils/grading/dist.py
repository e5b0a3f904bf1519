"""Build what students receive: ``dist/bigram-course/`` and ``dist/bigram-course.tar.gz``.

It holds the student notebooks, the parts of ``course_utils`` they import, the
project files to install them, the data fetch, and a README made of the main
README's student sections. No ``solutions/``, tests, gradebook or grading tools.

    make dist        # or: python -m course_utils.grading.dist
"""

from __future__ import annotations

import argparse
import re
import shutil
import tarfile
from pathlib import Path

from .course import COURSE_ROOT, RELEASE_DIR

NAME = "bigram-course"
STUDENT_MODULES = ("__init__.py", "checks.py", "data.py", "graphs.py", "nbtools.py", "plots.py",
                   "selfcheck.py", "studentlab.py")
"""The modules of course_utils that notebooks and the self-check import."""
PROJECT_FILES = ("pyproject.toml", "Makefile", "nbgrader_config.py", ".gitignore", "data/README.md")
README_SECTIONS = ("The notebooks", "For students")
"""Sections of the main README that make up the students' README (after its title and intro)."""


def student_readme(readme: str) -> str:
    """The main README's title and introduction followed by its student sections."""
    head, *sections = re.split(r"(?m)^(?=## )", readme)
    intro = head.split("```")[0].rstrip()  # the commands block after the intro is for the repo
    keep = [s.rstrip() for s in sections if s.splitlines()[0][3:].strip() in README_SECTIONS]
    if len(keep) != len(README_SECTIONS):
        raise ValueError(f"README.md must have the sections {README_SECTIONS}")
    commands = "```bash\nmake course   # set up everything and open JupyterLab\n" \
               "make check    # where you stand: every exercise, passed or not\n```"
    return "\n\n".join([intro, commands, *keep]) + "\n"


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in (".ipynb_checkpoints", "__pycache__") or n.endswith(".bak")}


def build(out: Path | None = None, root: Path = COURSE_ROOT) -> Path:
    """Write the student distribution folder and archive under ``out``; returns the archive."""
    root = Path(root)
    out = Path(out) if out is not None else root / "dist"
    folder = out / NAME
    if folder.exists():
        shutil.rmtree(folder)  # dist/ is generated; nothing in it is anyone's work
    folder.mkdir(parents=True)
    shutil.copytree(root / RELEASE_DIR, folder / RELEASE_DIR, ignore=_ignore)
    (folder / "course_utils").mkdir()
    for module in STUDENT_MODULES:
        shutil.copy2(root / "course_utils" / module, folder / "course_utils" / module)
    for name in PROJECT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, folder / name)
    (folder / "README.md").write_text(student_readme((root / "README.md").read_text()))
    archive = out / f"{NAME}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=NAME)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    archive = build(args.out)
    print(f"student distribution: {archive.with_suffix('').with_suffix('')}/ and {archive}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
