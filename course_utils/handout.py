"""A student's notebooks from the releases the instructor hands out, week by week.

    python -m course_utils.handout      # make notebooks (part of make course) runs this

Each archive of the course holds pristine notebooks under ``releases/<assignment>/``.
Unpacking a new week's archive over the course folder replaces only those copies;
this step then copies every notebook the student does not have yet into
``notebooks/`` and never touches one that exists.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

RELEASES = "releases"
NOTEBOOKS = "notebooks"


def add_missing(root: Path) -> tuple[list[Path], list[Path]]:
    """Copy released notebooks missing from ``notebooks/``; returns (added, kept) paths.

    ``kept`` lists the student's own copies of released notebooks, left as they are.
    """
    root = Path(root)
    releases = root / RELEASES
    if not releases.is_dir():
        raise FileNotFoundError(
            f"{releases} is missing: unpack the course archive your instructor handed out "
            "into this folder (it holds releases/)")
    added, kept = [], []
    for source in sorted(releases.glob("*/*.ipynb")):
        target = root / NOTEBOOKS / source.relative_to(releases)
        if target.exists() or target.is_symlink():
            kept.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        try:
            # link + unlink instead of rename: a notebook that appeared meanwhile is never replaced
            target.hardlink_to(tmp)
        except FileExistsError:
            kept.append(target)
        else:
            added.append(target)
        finally:
            tmp.unlink()
    return added, kept


def main(argv: list[str] | None = None) -> int:
    """Copy the released notebooks a student does not have yet into ``notebooks/``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path.cwd(),
                        help="the course folder, which holds releases/ (default: this one)")
    root = parser.parse_args(argv).root
    try:
        added, kept = add_missing(root)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for path in added:
        print(f"added {path.relative_to(root)}")
    if kept:
        print(f"kept your {len(kept)} notebook{'s' if len(kept) != 1 else ''} as they are")
    if not added and not kept:
        print("no notebooks released yet")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
