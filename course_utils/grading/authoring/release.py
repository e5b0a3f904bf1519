"""Generate the student notebooks (``notebooks/``) from the instructor's (``solutions/``).

nbgrader's ``generate_assignment`` does the work; this module only decides what
may be written. It generates into a scratch folder first and then copies a file
into ``notebooks/`` when it is missing, or when the copy there is exactly what
git has committed (so it holds nobody's work). A student notebook with local
edits is never overwritten without ``--force``, and then a backup is kept.

    make release [FORCE=1]                    # or: course-release [--force] [ASSIGNMENT ...]
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbgrader.apps import NbGraderAPI

from ..course import COURSE_ROOT, RELEASE_DIR, assignments, load_config, scripts_on_path


class ReleaseError(RuntimeError):
    """nbgrader could not generate a student version."""


def generate(assignment: str, out_dir: Path, root: Path = COURSE_ROOT, db_url: str | None = None) -> Path:
    """Run ``generate_assignment`` for one assignment into ``out_dir/<assignment>``.

    ``db_url`` is the gradebook to record the assignment in; by default a
    throw-away one inside ``out_dir``.
    """
    out_dir = Path(out_dir).resolve()
    db_url = db_url or f"sqlite:///{out_dir / 'gradebook.db'}"
    config = load_config(root, release_directory=str(out_dir), db_url=db_url)
    result = NbGraderAPI(config=config).generate_assignment(assignment, force=True, create=True)
    if not result["success"]:
        raise ReleaseError(
            f"nbgrader could not generate the student version of {assignment}:\n"
            f"{result.get('log', '')}\n{result.get('error', '')}"
        )
    return out_dir / assignment


def _committed_unchanged(path: Path, root: Path) -> bool:
    """True when git tracks ``path`` and it has no uncommitted edits."""
    def git(*args: str) -> int:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True).returncode
        except OSError:
            return 1
    rel = str(path.relative_to(root))
    return git("ls-files", "--error-unmatch", rel) == 0 and git("diff", "--quiet", "HEAD", "--", rel) == 0


def sync(generated: Path, target: Path, root: Path, *, missing_only: bool, force: bool) -> list[str]:
    """Copy a generated release into ``target``, protecting local edits. Returns what happened."""
    report, refused = [], []
    for new in sorted(p for p in generated.rglob("*") if p.is_file()):
        dest = target / new.relative_to(generated)
        rel = dest.relative_to(root)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(new, dest)
            report.append(f"created   {rel}")
        elif filecmp.cmp(new, dest, shallow=False):
            report.append(f"unchanged {rel}")
        elif missing_only:
            report.append(f"kept      {rel} (it differs from a fresh release: it may hold your work)")
        elif _committed_unchanged(dest, root):
            shutil.copy2(new, dest)
            report.append(f"updated   {rel}")
        elif force:
            backup = dest.with_name(f"{dest.name}.{time.strftime('%Y%m%d-%H%M%S')}.bak")
            shutil.copy2(dest, backup)
            shutil.copy2(new, dest)
            report.append(f"updated   {rel} (your edited version is saved as {backup.relative_to(root)})")
        else:
            refused.append(str(rel))
            report.append(f"REFUSED   {rel}: it has edits that git has not committed")
    for old in sorted(p for p in target.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts):
        if not (generated / old.relative_to(target)).exists():
            report.append(f"stale     {old.relative_to(root)} (no longer generated; left in place)")
    if refused:
        report.append(
            "Some student notebooks were not overwritten because they have local edits. "
            "Commit or move them, or run `make release FORCE=1` to overwrite them (a backup is kept)."
        )
    return report


def release(
    names: list[str] | None = None,
    root: Path = COURSE_ROOT,
    *,
    missing_only: bool = False,
    force: bool = False,
    db_url: str | None = None,
) -> bool:
    """Generate the student version of each assignment and bring ``notebooks/`` up to date.

    Returns False when a notebook was refused (see :func:`sync`).
    """
    root = Path(root).resolve()
    ok = True
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        for assignment in names or assignments(root):
            generated = generate(assignment, Path(tmp), root, db_url)
            lines = sync(generated, root / RELEASE_DIR / assignment, root,
                         missing_only=missing_only, force=force)
            print("\n".join(lines))
            ok = ok and not any(line.startswith("REFUSED") for line in lines)
    return ok


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all in solutions/)")
    parser.add_argument("--missing-only", action="store_true",
                        help="only create student notebooks that do not exist yet")
    parser.add_argument("--force", action="store_true",
                        help="also overwrite student notebooks with local edits (a backup is kept)")
    parser.add_argument("--db-url", default=None,
                        help="gradebook to record the assignments in (default: a throw-away one)")
    args = parser.parse_args(argv)
    try:
        ok = release(args.assignments or None, missing_only=args.missing_only,
                     force=args.force, db_url=args.db_url)
    except ReleaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
