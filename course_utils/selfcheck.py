"""Where do I stand? Run your notebooks as Validate does and get one table for the whole course.

    make check                      # every notebook under notebooks/
    python -m course_utils.selfcheck notebooks/01_probability/probability.ipynb

Each notebook runs from a fresh kernel, top to bottom, exactly as nbgrader's
Validate button runs it. Only the visible tests are in your copy, so "passed"
here means "passes the tests you can see": more tests run when your work is
graded.
"""

from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import Execute
from tqdm.auto import tqdm

from . import nbtools
from .data import COURSE_ROOT

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
WRITTEN, UNANSWERED = "answered (graded by hand)", "not answered yet"


@dataclass
class Row:
    notebook: str
    exercise: str
    status: str
    points: float
    max_points: float
    detail: str = ""


def _untouched(cell) -> bool:
    """True when an answer cell is exactly as it was released (nbgrader's checksum)."""
    checksum = cell.metadata.get("nbgrader", {}).get("checksum")
    return checksum is not None and checksum == utils.compute_checksum(cell)


def check_notebook(path: Path, root: Path = COURSE_ROOT) -> list[Row]:
    """Execute one notebook like Validate and report every exercise and written answer."""
    path = Path(path)
    config = nbtools.load_config(root) if (Path(root) / "nbgrader_config.py").exists() else None
    nb = nbtools.read(path)
    executed = copy.deepcopy(nb)
    with utils.setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
        Execute(config=config).preprocess(executed, {"metadata": {"path": str(path.parent)}})
    scorer = nbtools.CellScorer(config)
    rows = []
    for grade_id, ex in nbtools.exercises(nb).items():
        tests = [executed.cells[i] for i in ex.test_indices]
        max_points = sum(float(t.metadata.nbgrader["points"]) for t in tests)
        if _untouched(nb.cells[ex.solution_index]):
            rows.append(Row(path.stem, grade_id, NOT_ATTEMPTED, 0, max_points))
            continue
        failed = [t for t in tests if not scorer.passed(t)]
        earned = sum(float(t.metadata.nbgrader["points"]) for t in tests if t not in failed)
        detail = nbtools.error_summary(failed[0]) if failed else ""
        rows.append(Row(path.stem, grade_id, FAILED if failed else PASSED, earned, max_points, detail))
    for cell in nb.cells:
        if cell.cell_type == "markdown" and utils.is_solution(cell) and utils.is_grade(cell):
            status = UNANSWERED if _untouched(cell) else WRITTEN
            rows.append(Row(path.stem, cell.metadata.nbgrader["grade_id"], status, 0,
                            float(cell.metadata.nbgrader["points"])))
    return rows


def format_table(rows: list[Row]) -> str:
    """A plain-text table with a total line per notebook."""
    lines = [f"{'notebook':<24} {'exercise':<30} {'status':<26} {'points':>7}  detail"]
    lines.append("-" * 100)
    for notebook in dict.fromkeys(r.notebook for r in rows):
        mine = [r for r in rows if r.notebook == notebook]
        for r in mine:
            points = "" if r.status in (WRITTEN, UNANSWERED) else f"{r.points:g}/{r.max_points:g}"
            detail = r.detail if len(r.detail) <= 60 else r.detail[:57] + "..."
            lines.append(f"{r.notebook:<24} {r.exercise:<30} {r.status:<26} {points:>7}  {detail}")
        auto = [r for r in mine if r.status not in (WRITTEN, UNANSWERED)]
        done = sum(r.status == PASSED for r in auto)
        lines.append(f"{'':<24} {'total':<30} {f'{done} of {len(auto)} exercises pass':<26} "
                     f"{sum(r.points for r in auto):g}/{sum(r.max_points for r in auto):g}")
        lines.append("")
    lines.append("Only the visible tests ran: hidden tests run when your work is graded, so a "
                 "passing exercise\ncan still lose points. Written answers are graded by hand.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check your notebooks against their visible tests.")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to check (default: every notebook under notebooks/)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(
        p for p in (COURSE_ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    if not paths:
        print("No notebooks found: run `make notebooks` first.", file=sys.stderr)
        return 1
    rows: list[Row] = []
    for path in tqdm(paths, desc="running notebooks", unit="notebook"):
        try:
            rows += check_notebook(path)
        except Exception as exc:  # a broken notebook must not hide the others' results
            rows.append(Row(Path(path).stem, "(whole notebook)", FAILED, 0, 0, f"could not run: {exc}"))
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
