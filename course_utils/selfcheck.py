"""Where do I stand? Run your notebooks as Validate does and get one table for the whole course.

    make check                      # every notebook under notebooks/
    make check ASSIGNMENT=01_probability                            # that notebook only
    course-check notebooks/01_probability/probability.ipynb   # or: python -m course_utils.selfcheck

Each notebook runs from a fresh kernel, top to bottom, exactly as nbgrader's
Validate button runs it. Only the visible tests are in your copy, so "passed"
here means "passes the tests you can see": more tests run when your work is
graded.

The report starts with the first real error outside the test cells of each
notebook (a syntax error in an answer, a missing data file): every later cell
that needs what that cell defines fails too, so it is the one to fix first.

Every cell has a time limit (``c.Execute.timeout`` in nbgrader_config.py, the
one grading uses). On a busy or slow machine a training cell can run past it;
give every cell more time with ``COURSE_CELL_TIMEOUT=300 make check`` or
``--timeout 300``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbformat import NotebookNode
from nbgrader import utils
from tqdm.auto import tqdm
from traitlets.config import Config

from . import COURSE_ROOT, nbtools
from .kernel import CourseExecute

PASSED, FAILED, NOT_ATTEMPTED = "passed", "failed", "not attempted"
WRITTEN, UNANSWERED = "answered (graded by hand)", "not answered yet"
# The stub of an unfilled exercise raises this; it is "not attempted", not an error to report.
STUB_ERROR = "NotImplementedError"
# nbclient interrupts a cell at the time limit (KeyboardInterrupt inside the kernel) and
# nbgrader's Execute then appends this error of its own: together they mean "stopped by the clock".
TIMEOUT_ERROR = "CellTimeoutError"
TIMEOUT_ENV = "COURSE_CELL_TIMEOUT"
"""Environment variable: seconds each cell may run in ``make check`` (overrides the course's limit)."""

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_CELL_LINE = re.compile(r"Cell In\[\d*\], line (\d+)")
_TMP_FILE = re.compile(r" \([^()]*\.py, line \d+\)$", re.MULTILINE)


@dataclass
class Row:
    notebook: str
    exercise: str
    status: str
    points: float
    max_points: float
    detail: str = ""


@dataclass
class FirstError:
    """The first error a cell other than a test cell raised: where, and its message's first line."""

    cell: int
    """1-based position of the cell in the notebook."""
    place: str
    """The answer cell of an exercise, or the lecture section the cell is in."""
    line: int | None
    message: str
    timeout: int | None = None
    """Set when the cell was stopped at the time limit: that limit, in seconds."""

    def __str__(self) -> str:
        line = f", line {self.line}" if self.line is not None else ""
        return f"cell {self.cell} ({self.place}){line}: {self.message}"


def timeout_message(seconds: int | None, what: str = "the cell") -> str:
    """What to tell a student whose cell was stopped at the time limit, and how to give it more time."""
    limit = f"{seconds} s" if seconds else "the time limit"
    return (f"{what} ran past {limit} (the time limit per cell) and was stopped. This is most likely the "
            f"machine's speed (a busy or slow computer), not your code: run it again with more time, "
            f"`{TIMEOUT_ENV}=300 make check` (or `python -m course_utils.selfcheck --timeout 300`). "
            f"If it runs out of time again, look for a loop in your code that never ends")


@dataclass
class NotebookReport:
    """One notebook's exercises and written answers, and its first error outside the tests."""

    label: str
    rows: list[Row] = field(default_factory=list)
    first_error: FirstError | None = None


class _QuietExecute(CourseExecute):
    """nbgrader's Execute on the course's interpreter, with the kernel's own stderr discarded.

    The kernel process logs there ("Kernel is running over TCP without encryption"),
    which lands in the middle of the progress bar; what cells print to stderr
    reaches the notebook over the kernel's channels all the same.
    """

    async def async_start_new_kernel(self, **kwargs: Any) -> None:
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        await super().async_start_new_kernel(**kwargs)

    # nbclient binds the synchronous twin to its own coroutine: bind it to this one
    start_new_kernel = run_sync(async_start_new_kernel)


def _untouched(cell) -> bool:
    """True when an answer cell is exactly as it was released (nbgrader's checksum)."""
    checksum = cell.metadata.get("nbgrader", {}).get("checksum")
    return checksum is not None and checksum == utils.compute_checksum(cell)


def _section(nb: NotebookNode, index: int) -> str:
    """The heading of the lecture section that cell ``index`` is in."""
    for cell in reversed(nb.cells[:index]):
        if cell.cell_type == "markdown":
            headings = [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
            if headings:
                return f'under "{headings[-1]}"'
    return "at the top"


def _defined_names(source: str) -> set[str]:
    """Names a cell binds (what later cells miss when it stops early): :func:`.nbtools.names_bound`,
    or for a cell Python cannot read (IPython syntax) its plain assignments and definitions."""
    try:
        return nbtools.names_bound(ast.parse(source))
    except SyntaxError:
        return set(re.findall(r"^(?:def |class )?([A-Za-z_]\w*)\s*[=(:]", source, re.MULTILINE))


def _timed_out(cell) -> bool:
    return any(o.output_type == "error" and o.ename == TIMEOUT_ERROR for o in cell.get("outputs", []))


def first_error(executed: NotebookNode, timeout: int | None = None) -> FirstError | None:
    """The first real error raised by a cell that is not a test cell.

    Not real: the NotImplementedError of an exercise not yet done, and what may follow
    from it: any error of a lecture cell after it (the lecture uses the exercises'
    results), and an answer cell's NameError for a name such a cell would have defined.
    A syntax error in an answer, or a lecture cell failing before any unfilled
    exercise (a missing data file), is reported. A cell stopped at the time limit
    (``timeout`` seconds) is reported as such, with how to give it more time: its
    KeyboardInterrupt is the clock's, not the student's.
    """
    undone: set[str] = set()
    for index, cell in enumerate(executed.cells):
        if cell.cell_type != "code" or nbtools.is_test_cell(cell):
            continue
        if _timed_out(cell):
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            place = f"the answer cell of {grade_id}" if utils.is_solution(cell) and grade_id else _section(executed, index)
            return FirstError(index + 1, place, None, timeout_message(timeout), timeout)
        for output in cell.get("outputs", []):
            if output.output_type != "error":
                continue
            missing = re.match(r"name '(\w+)' is not defined", output.evalue or "")
            follows = (output.ename == STUB_ERROR or (undone and not utils.is_solution(cell))
                       or (output.ename == "NameError" and missing and missing.group(1) in undone))
            if follows:
                undone |= _defined_names(cell.source) or {"(a stub)"}
                continue
            traceback = _ANSI.sub("", "\n".join(output.get("traceback", [])))
            found = _CELL_LINE.search(traceback)
            # a SyntaxError's value ends with the kernel's temporary file name: noise here
            evalue = _TMP_FILE.sub("", (output.evalue or "").strip()).splitlines()
            message = f"{output.ename}: {evalue[0]}" if evalue else output.ename
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
            place = f"the answer cell of {grade_id}" if utils.is_solution(cell) and grade_id else _section(executed, index)
            return FirstError(index + 1, place, int(found.group(1)) if found else None, message)
    return None


def cell_timeout(timeout: int | None = None) -> int | None:
    """The per-cell time limit to use: ``timeout``, else $COURSE_CELL_TIMEOUT, else None (the course's)."""
    if timeout is not None:
        return timeout
    value = os.environ.get(TIMEOUT_ENV, "").strip()
    if not value:
        return None
    try:
        seconds = int(value)
    except ValueError:
        raise SystemExit(f"{TIMEOUT_ENV}={value!r} is not a whole number of seconds; try {TIMEOUT_ENV}=300") from None
    if seconds <= 0:
        raise SystemExit(f"{TIMEOUT_ENV}={value!r} must be a positive number of seconds; try {TIMEOUT_ENV}=300")
    return seconds


def run_notebook(path: Path, root: Path = COURSE_ROOT, label: str | None = None,
                 timeout: int | None = None) -> NotebookReport:
    """Execute one notebook like Validate: every exercise and written answer, and the first error.

    ``timeout``: seconds each cell may run (default: $COURSE_CELL_TIMEOUT, else the course's limit).
    """
    path = Path(path)
    config = nbtools.load_config(root) if (Path(root) / "nbgrader_config.py").exists() else None
    nb = nbtools.read(path)
    executed = copy.deepcopy(nb)
    timeout = cell_timeout(timeout)
    if timeout is not None:
        # through the configuration: preprocess() applies it again, over any keyword or attribute
        config = copy.deepcopy(config) if config is not None else Config()
        config.Execute.timeout = timeout
    with utils.setenv(NBGRADER_VALIDATING="1", NBGRADER_EXECUTION="validate"):
        execute = _QuietExecute(config=config)
        execute.preprocess(executed, {"metadata": {"path": str(path.parent)}})
    return score(nb, executed, config, label or path.stem, timeout=execute.timeout)


def score(nb: NotebookNode, executed: NotebookNode, config=None, label: str = "",
          timeout: int | None = None) -> NotebookReport:
    """Each exercise and written answer of ``nb``, scored from its executed copy ``executed``.

    ``timeout``: the per-cell limit the run had, named in the message of a cell stopped by it.
    """
    report = NotebookReport(label, first_error=first_error(executed, timeout))
    scorer = nbtools.CellScorer(config)
    for grade_id, ex in nbtools.exercises(nb).items():
        tests = [executed.cells[i] for i in ex.test_indices]
        max_points = sum(float(t.metadata.nbgrader["points"]) for t in tests)
        if _untouched(nb.cells[ex.solution_index]):
            report.rows.append(Row(report.label, grade_id, NOT_ATTEMPTED, 0, max_points))
            continue
        failed = [t for t in tests if not scorer.passed(t)]
        earned = sum(float(t.metadata.nbgrader["points"]) for t in tests if t not in failed)
        detail = nbtools.error_summary(failed[0]) if failed else ""
        if failed and _timed_out(failed[0]):
            detail = timeout_message(timeout, "the test cell")
        report.rows.append(Row(report.label, grade_id, FAILED if failed else PASSED, earned, max_points, detail))
    for cell in nb.cells:
        if cell.cell_type == "markdown" and utils.is_solution(cell) and utils.is_grade(cell):
            status = UNANSWERED if _untouched(cell) else WRITTEN
            report.rows.append(Row(report.label, cell.metadata.nbgrader["grade_id"], status, 0,
                                   float(cell.metadata.nbgrader["points"])))
    return report


def check_notebook(path: Path, root: Path = COURSE_ROOT) -> list[Row]:
    """Execute one notebook like Validate and report every exercise and written answer."""
    return run_notebook(path, root).rows


def labels(paths: list[Path]) -> dict[Path, str]:
    """Each notebook's label: its assignment folder, with the notebook's name when a folder has several."""
    per_folder: dict[Path, int] = {}
    for path in paths:
        per_folder[Path(path).parent] = per_folder.get(Path(path).parent, 0) + 1
    return {Path(p): Path(p).parent.name if per_folder[Path(p).parent] == 1 else f"{Path(p).parent.name}/{Path(p).stem}"
            for p in paths}


def _points(rows: list[Row]) -> str:
    return f"{sum(r.points for r in rows):g}/{sum(r.max_points for r in rows):g}"


def format_report(reports: list[NotebookReport]) -> str:
    """The first errors, one table of every exercise (each message's full first line), the totals."""
    out = []
    errors = [r for r in reports if r.first_error is not None]
    if errors:
        out.append("First error outside the test cells (fix it first: the cells after it depend on it):")
        out.extend(f"  {r.label}: {r.first_error}" for r in errors)
        out.append("")
    rows = [row for r in reports for row in r.rows]
    label_w = max([len("assignment"), *(len(r.label) for r in reports)])
    ex_w = max([len("exercise"), len("total"), *(len(r.exercise) for r in rows)])
    status_w = max(len(WRITTEN), len("99 of 99 exercises pass"))
    out.append(f"{'assignment':<{label_w}}  {'exercise':<{ex_w}}  {'status':<{status_w}}  {'points':>7}")
    out.append("-" * (label_w + ex_w + status_w + 13))
    for report in reports:
        auto = [r for r in report.rows if r.status not in (WRITTEN, UNANSWERED)]
        for r in report.rows:
            points = "" if r.status in (WRITTEN, UNANSWERED) else f"{r.points:g}/{r.max_points:g}"
            out.append(f"{r.notebook:<{label_w}}  {r.exercise:<{ex_w}}  {r.status:<{status_w}}  {points:>7}")
            if r.detail:
                later = report.first_error is not None and r.detail.startswith("NameError")
                out.append(f"{'':<{label_w}}    {r.detail}" + (" (see the first error above)" if later else ""))
        done = sum(r.status == PASSED for r in auto)
        out.append(f"{'':<{label_w}}  {'total':<{ex_w}}  {f'{done} of {len(auto)} exercises pass':<{status_w}}  "
                   f"{_points(auto):>7}")
        out.append("")
    auto = [r for r in rows if r.status not in (WRITTEN, UNANSWERED)]
    written = [r for r in rows if r.status in (WRITTEN, UNANSWERED)]
    out.append(f"Course total: {sum(r.status == PASSED for r in auto)} of {len(auto)} exercises pass, "
               f"{_points(auto)} points from the visible tests; "
               f"{sum(r.status == WRITTEN for r in written)} of {len(written)} written answers given.")
    out.append("Only the visible tests ran: hidden tests run when your work is graded, so a passing "
               "exercise\ncan still lose points. Written answers are graded by hand.")
    return "\n".join(out)


def summary(report: NotebookReport) -> str:
    """One paragraph: how many exercises pass, which fail, which are not attempted, which answers are missing."""
    auto = [r for r in report.rows if r.status not in (WRITTEN, UNANSWERED)]
    parts = [f"{sum(r.status == PASSED for r in auto)} of {len(auto)} exercises pass the visible tests"]
    for status, name in ((FAILED, "failing"), (NOT_ATTEMPTED, "not attempted")):
        names = [r.exercise for r in auto if r.status == status]
        if names:
            parts.append(f"{name}: {', '.join(names)}")
    missing = [r.exercise for r in report.rows if r.status == UNANSWERED]
    if missing:
        parts.append(f"written answers missing: {', '.join(missing)}")
    text = "; ".join(parts) + "."
    if report.first_error is not None:
        text += f"\nFirst error outside the test cells (fix it first): {report.first_error}"
    return text


def format_table(rows: list[Row]) -> str:
    """The table of :func:`format_report` for rows alone (no first errors)."""
    grouped: dict[str, NotebookReport] = {}
    for row in rows:
        grouped.setdefault(row.notebook, NotebookReport(row.notebook)).rows.append(row)
    return format_report(list(grouped.values()))


def _notebooks(folder: Path) -> list[Path]:
    return sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def resolve(arg: Path, root: Path = COURSE_ROOT) -> list[Path]:
    """The notebooks ``arg`` names: a notebook, a folder of them, or an assignment of ``notebooks/``."""
    if arg.is_file():
        return [arg]
    for folder in (arg, Path(root) / "notebooks" / arg):
        if folder.is_dir() and _notebooks(folder):
            return _notebooks(folder)
    known = sorted(p.name for p in (Path(root) / "notebooks").iterdir() if p.is_dir()) \
        if (Path(root) / "notebooks").is_dir() else []
    raise FileNotFoundError(f"no notebook or assignment named {str(arg)!r}; the assignments are "
                            f"{', '.join(known) or '(none yet: run `make notebooks`)'}, "
                            f"e.g. make check ASSIGNMENT={known[0] if known else '01_probability'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check your notebooks against their visible tests.")
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks, folders or assignments (01_probability) to check "
                             "(default: every notebook under notebooks/)")
    parser.add_argument("--timeout", type=int, default=None, metavar="SECONDS",
                        help=f"seconds each cell may run (default: ${TIMEOUT_ENV}, else the course's limit)")
    args = parser.parse_args(argv)
    if args.timeout is not None and args.timeout <= 0:
        parser.error("--timeout must be a positive number of seconds, e.g. --timeout 300")
    timeout = cell_timeout(args.timeout)
    try:
        paths = [p for arg in args.notebooks for p in resolve(arg)] if args.notebooks else _notebooks(
            COURSE_ROOT / "notebooks")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print("No notebooks found: run `make notebooks` first.", file=sys.stderr)
        return 1
    names = labels(paths)
    reports: list[NotebookReport] = []
    progress = tqdm(paths, desc="running notebooks", unit="notebook")
    for path in progress:
        progress.set_postfix_str(names[Path(path)])  # which notebook is running: some take minutes
        try:
            reports.append(run_notebook(path, label=names[Path(path)], timeout=timeout))
        except Exception as exc:  # a broken notebook must not hide the others' results
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            reports.append(NotebookReport(names[Path(path)], [
                Row(names[Path(path)], "(whole notebook)", FAILED, 0, 0, f"could not run: {first}")]))
    print(format_report(reports))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
