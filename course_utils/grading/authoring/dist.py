"""Build what students receive: ``dist/bigram-course/`` and its ``.tar.gz``, week by week.

It holds the released notebooks of the chosen assignments (under ``releases/``, which
``make notebooks`` copies into ``notebooks/`` without touching a student's own copy),
``course_utils`` without its grading tools, the project files to install them, the data
fetch, and a README made of the main README's student sections. No ``solutions/``,
tests or gradebook.

    make dist [ASSIGNMENTS="00_math_toolkit 01_probability"]   # or: course-dist [ASSIGNMENT ...]
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tarfile
from pathlib import Path

from ... import handout
from ..course import COURSE_ROOT, RELEASE_DIR, assignments

NAME = "bigram-course"
PROJECT_FILES = ("pyproject.toml", "Makefile", "nbgrader_config.py", ".gitignore", "data/README.md")
STUDENT_PARTS = ("Makefile", "nbgrader_config.py", "pyproject.toml")
"""Project files students get only the first part of (see ``INSTRUCTOR_ONLY``)."""
INSTRUCTOR_ONLY = "# ---- instructor only: make dist leaves out everything below ----"
"""The line of each of ``STUDENT_PARTS`` after which only the instructor's part follows."""
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


def student_part(text: str, name: str) -> str:
    """A project file up to its instructor-only line."""
    head, marker, _ = text.partition(INSTRUCTOR_ONLY)
    if not marker:
        raise ValueError(f"{name} has no line {INSTRUCTOR_ONLY!r}: the students' copy would get all of it")
    return head.rstrip() + "\n"


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in (".ipynb_checkpoints", "__pycache__") or n.endswith(".bak")}


def student_modules(root: Path = COURSE_ROOT) -> list[str]:
    """The modules of ``course_utils`` that ship: every one outside ``grading/``."""
    return sorted(p.name for p in (Path(root) / "course_utils").glob("*.py"))


def archive_name(chosen: list[str], everything: list[str]) -> str:
    """``bigram-course.tar.gz`` for the whole course, else named after the assignments it adds."""
    return f"{NAME}.tar.gz" if chosen == everything else f"{NAME}-{'+'.join(chosen)}.tar.gz"


def build(out: Path | None = None, root: Path = COURSE_ROOT,
          chosen: list[str] | None = None) -> Path:
    """Write the student distribution folder and archive under ``out``; returns the archive.

    ``chosen`` assignments only (default: all). Every archive unpacks over the same
    ``bigram-course/`` folder and replaces nothing a student wrote.
    """
    root = Path(root)
    everything = assignments(root)
    chosen = everything if not chosen else list(chosen)
    unknown = [a for a in chosen if a not in everything]
    if unknown:
        raise ValueError(f"no assignment named {', '.join(unknown)}; the course has {', '.join(everything)}")
    chosen = [a for a in everything if a in chosen]  # course order, no repeats
    missing = [a for a in chosen if not any((root / RELEASE_DIR / a).glob("*.ipynb"))]
    if missing:
        raise FileNotFoundError(f"{RELEASE_DIR}/{missing[0]}/ has no notebook: run `make release` first")
    out = Path(out) if out is not None else root / "dist"
    folder = out / NAME
    if folder.exists():
        shutil.rmtree(folder)  # dist/ is generated; nothing in it is anyone's work
    folder.mkdir(parents=True)
    for assignment in chosen:
        shutil.copytree(root / RELEASE_DIR / assignment, folder / handout.RELEASES / assignment,
                        ignore=_ignore)
    (folder / "course_utils").mkdir()
    for module in student_modules(root):
        shutil.copy2(root / "course_utils" / module, folder / "course_utils" / module)
    for name in PROJECT_FILES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, folder / name)
    for name in STUDENT_PARTS:
        (folder / name).write_text(student_part((root / name).read_text(), name))
    (folder / "README.md").write_text(student_readme((root / "README.md").read_text()))
    archive = out / archive_name(chosen, everything)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=NAME)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignments to hand out (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: dist/)")
    args = parser.parse_args(argv)
    try:
        archive = build(args.out, chosen=args.assignments)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    chosen = sorted(p.name for p in (archive.parent / NAME / handout.RELEASES).iterdir())
    print(f"student distribution of {', '.join(chosen)}: {archive.parent / NAME}/ and {archive}")
    print("students unpack it over their course folder, then `make notebooks` adds the new "
          "notebooks and keeps their own")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
