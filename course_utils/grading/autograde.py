"""Autograding one submission with nbgrader's ``Autograde`` converter, and saying why it failed.

The submitted folder is never written to: its notebooks are read, repaired
(:mod:`.repair`) and staged in a scratch folder that nbgrader then uses as its
``submitted`` directory. nbgrader does the rest as usual (``OverwriteCells``
with ``add_missing_cells``, ``Execute``, ``IgnorePattern``, ``SaveAutoGrades``
into the gradebook, the notebook written to ``autograded/``). Three small
subclasses are written around it: :class:`TrackedExecute` knows which cell was
running when the kernel died or hung, :class:`CourseAutograde` keeps the
exception nbgrader only logs (both to give the instructor a reason in words), and
:class:`CourseSaveAutoGrades` keeps the "being graded" mark of
:func:`.gradebook.start` in the gradebook until the whole submission is done
(nbgrader commits grades cell by cell, so without it a run killed half-way would
leave a submission that looks graded).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters import Autograde
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    Execute,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)
from nbgrader.preprocessors.execute import UnresponsiveKernelError
from traitlets import Bool, Integer

from ..kernel import CourseExecute
from . import gradebook as gbk
from . import integrity
from .course import COURSE_ROOT, SOURCE_DIR, load_config
from .faults import environment_fault
from .ingest import BadSubmission, Submission, read_submission
from .judge import Judge, run_test_cell
from .repair import Unrepairable, looks_like, parse, repair

TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError")  # the second: a judged test cell that ran out of time
MAX_CELLS, MAX_CELLS_FACTOR = 500, 5
"""A notebook with more than max(MAX_CELLS, MAX_CELLS_FACTOR x the release's cells) is not run:
nobody adds thousands of cells to answer an exercise, and running them would hold a worker."""


def describe_cell(nb, index: int) -> str:
    """'cell 12 (answer cell 'x')', the way an instructor finds it in the notebook."""
    cell = nb.cells[index]
    meta = cell.get("metadata", {}).get("nbgrader", {})
    gid = meta.get("grade_id")
    if gid and meta.get("solution") and not meta.get("grade"):
        what = f"answer cell {gid!r}"
    elif gid and meta.get("grade"):
        what = f"test cell {gid!r}" if cell.cell_type == "code" else f"written answer {gid!r}"
    else:
        first = next((line.strip() for line in cell.source.splitlines() if line.strip()), "")
        what = f"a cell without grading metadata: {first[:40]!r}"
    return f"cell {index + 1} ({what})"


class KernelDied(RuntimeError):
    def __init__(self, where: str, why: str | None = None):
        super().__init__(where)
        self.where = where
        self.why = why


class CellStuck(RuntimeError):
    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


MAX_NOTEBOOK_OUTPUT_BYTES = 16_000_000
"""Output kept per notebook, all cells together: a course notebook with its figures has a few MB."""
MAX_ERROR_CHARS = 4_000
"""An error kept past the budget is cut to this many characters of message and traceback."""
MAX_KEPT_ERRORS = 5
"""Errors kept per cell past the budget (one suffices to fail the cell)."""


def payload_size(value, limit: int) -> int:
    """Characters in ``value``'s strings, keys and numbers, counted without recursion and
    stopping soon after ``limit`` (a message may be nested arbitrarily deep or be huge)."""
    size, stack = 0, [value]
    while stack and size <= limit:
        item = stack.pop()
        if isinstance(item, str):
            size += len(item)
        elif isinstance(item, dict):
            size += 2 * len(item)
            for key, child in item.items():
                size += len(key) if isinstance(key, str) else 8
                stack.append(child)
        elif isinstance(item, (list, tuple)):
            size += len(item) + 2
            stack.extend(item)
        elif isinstance(item, (bytes, bytearray, memoryview)):
            size += len(item)
        else:
            size += 8
    return size


class OutputBudget:
    """What one notebook's kernel may add to the autograded notebook, counted as messages arrive.

    Every kind counts (stream text, display and result data with their metadata, error names,
    messages and tracebacks, display updates, widget messages) against a cap per cell and a cap
    per notebook. Past either, output is dropped with one note per cell, except that a cell's
    errors (and its first stderr) are still kept, cut short: they decide its score, and dropping
    them would turn a failing cell into a passing one.
    """

    def __init__(self, nb, cell_bytes: int, notebook_bytes: int = MAX_NOTEBOOK_OUTPUT_BYTES):
        self.nb = nb
        self.cell_bytes, self.notebook_bytes = cell_bytes, notebook_bytes
        self.used: dict[int, int] = {}
        self.total = 0
        self.noted: set[int] = set()
        self.kept_errors: dict[int, int] = {}
        self.kept_stderr: set[int] = set()

    def _fits(self, cell_index: int | None, size: int) -> bool:
        cell_ok = cell_index is None or self.used.get(cell_index, 0) + size <= self.cell_bytes
        return cell_ok and self.total + size <= self.notebook_bytes

    def _charge(self, cell_index: int | None, size: int) -> None:
        self.total += size
        if cell_index is not None:
            self.used[cell_index] = self.used.get(cell_index, 0) + size

    def admit(self, outs: list, msg: dict, cell_index: int) -> dict | None:
        """``msg`` when it fits, a shortened copy when it must be kept, or None (dropped)."""
        kind = msg.get("msg_type")
        content = msg.get("content") or {}
        limit = max(self.cell_bytes, self.notebook_bytes)
        size = payload_size(content, limit)
        if self._fits(cell_index, size):
            self._charge(cell_index, size)
            return msg
        short = None
        if kind == "error" and self.kept_errors.get(cell_index, 0) < MAX_KEPT_ERRORS:
            self.kept_errors[cell_index] = self.kept_errors.get(cell_index, 0) + 1
            trace = content.get("traceback")
            trace = "\n".join(map(str, trace)) if isinstance(trace, list) else str(trace or "")
            short = {"ename": str(content.get("ename", "Error"))[:200],
                     "evalue": _cut(str(content.get("evalue", "")), MAX_ERROR_CHARS),
                     "traceback": [_cut(trace, MAX_ERROR_CHARS)]}
        elif kind == "stream" and content.get("name") == "stderr" and cell_index not in self.kept_stderr:
            self.kept_stderr.add(cell_index)
            short = {"name": "stderr", "text": _cut(str(content.get("text", "")), MAX_ERROR_CHARS)}
        if cell_index not in self.noted:
            self.noted.add(cell_index)
            whole = self.total + size > self.notebook_bytes
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout",
                text=f"\n[output cut by the grader: this {'notebook' if whole else 'cell'} produced more "
                     f"than {self.notebook_bytes if whole else self.cell_bytes:,} bytes of output]\n"))
        if short is None:
            return None
        self._charge(cell_index, payload_size(short, limit))
        return {**msg, "content": short}

    def admit_update(self, msg: dict) -> bool:
        """Whether a display update or widget message fits the notebook's budget (and count it)."""
        size = payload_size(msg.get("content") or {}, self.notebook_bytes)
        if self.total + size > self.notebook_bytes:
            return False
        self.total += size
        return True


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit:,} characters cut by the grader]"


class TrackedExecute(CourseExecute):
    """nbgrader's ``Execute``, in the grading sandbox, naming the cell where the kernel died or hung,
    with every test cell judged outside the student's kernel (:mod:`.judge`)."""

    judge = Bool(True, help="Run test cells in the grader's judge, against the kernel's objects, "
                            "instead of in the student's kernel (see course_utils.grading.judge)"
                 ).tag(config=True)

    check_integrity = Bool(True, help="Without the judge: check after each test cell that the functions "
                                      "the tests rely on were not replaced (course_utils.grading.integrity)"
                           ).tag(config=True)
    max_output_bytes = Integer(1_000_000, help="Output kept per cell (bytes); what a cell prints "
                                               "beyond it is dropped while it runs").tag(config=True)
    releases: dict[tuple[str, str], nbformat.NotebookNode] = {}
    """(assignment, notebook name) -> the student version, set by the grading command: what the
    course imports comes from there, not from the submission."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # nbgrader passes AsyncKernelManager as a keyword, which beats the config: apply
        # c.TrackedExecute.kernel_manager_class (the grading sandbox) here.
        from .sandbox import configured_kernel_manager

        manager = configured_kernel_manager(self)
        if manager is not None:
            self.kernel_manager_class = manager
        self._plan: integrity.Plan | None = None
        self._monitor: integrity.Monitor | None = None
        self._output_bytes: dict[int, int] = {}
        self._release: nbformat.NotebookNode | None = None
        self._judge: Judge | None = None

    def preprocess(self, nb, resources=None, km=None):
        self._monitor = None
        self._output_bytes = {}
        self._plan = None
        info = (resources or {}).get("nbgrader", {})
        self._release = self._course_version(info.get("assignment"), info.get("notebook"), nb)
        if self.check_integrity and not self.judge:
            self._plan = integrity.Plan.from_release(self._release)
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._judge is not None:
                self._judge.close()
                self._judge = None

    def _course_version(self, assignment: str | None, notebook: str | None, nb):
        """The course's own version of the notebook: what it imports is the judge's, never the submission's."""
        found = self.releases.get((assignment, notebook))
        if found is not None:
            return found
        source = COURSE_ROOT / SOURCE_DIR / str(assignment) / f"{notebook}.ipynb"
        if assignment and notebook and source.is_file():
            return nbformat.read(str(source), as_version=4)
        if self.judge:
            raise FileNotFoundError(f"the judge needs the course's {source.relative_to(COURSE_ROOT)}")
        return nb

    def _judged(self, cell, resources, index):
        """The test cell run by the judge while the kernel answers its requests."""
        if self._judge is None:
            self._judge = Judge.for_release(self._release, folder=getattr(self.km, "sandbox_path", None),
                                            timeout=(self.timeout or 60) + 30)
        return run_test_cell(self, self._judge, cell, index,
                             execute=lambda c, i: Execute.preprocess_cell(self, c, resources, i))

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, within the cell's and the notebook's output budget
        (:class:`OutputBudget`): a notebook that prints, raises or displays gigabytes would
        otherwise fill the grader's memory and the autograded notebook (nbgrader's
        ``LimitOutput`` counts lines, and only after the run)."""
        msg = self._budget().admit(outs, msg, cell_index)
        return None if msg is None else super().output(outs, msg, display_id, cell_index)

    def _update_display_id(self, display_id, msg):
        # update_display_data rewrites earlier outputs without passing through output().
        if self._budget().admit_update(msg):
            super()._update_display_id(display_id, msg)

    def handle_comm_msg(self, outs, msg, cell_index):
        # Widget state is kept in the notebook's metadata: it counts like output.
        if self._budget().admit_update(msg):
            super().handle_comm_msg(outs, msg, cell_index)

    def _budget(self) -> OutputBudget:
        budget = getattr(self, "_output_budget", None)
        if budget is None or budget.nb is not self.nb:  # a new notebook
            budget = self._output_budget = OutputBudget(self.nb, self.max_output_bytes)
        return budget

    def preprocess_cell(self, cell, resources, index):
        if self._plan is not None and self._monitor is None:
            self._monitor = integrity.Monitor(self, self._plan)
            try:
                self._monitor.start()  # before any of the notebook's code
            except integrity.ProbeFailed as exc:
                self.log.warning("integrity check not possible: %s", exc)
                self._plan = self._monitor = None
        try:
            if self.judge and integrity.is_test(cell):
                cell = self._judged(cell, resources, index)
                if not any(integrity.is_test(c) for c in self.nb.cells[index + 1:]):
                    # Hang up now: a kernel still linked to the judge takes seconds longer to shut down.
                    self._judge.close()
                    self._judge = None
            else:
                cell, resources = super().preprocess_cell(cell, resources, index)
            stopped = getattr(self.km, "stop_strays", lambda: 0)()
            if stopped:
                cell.outputs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[the grader stopped {stopped} processes this cell left running]\n"))
            if self._monitor is not None and integrity.is_test(cell):
                problems = self._monitor.check(cell)
                if problems:
                    # First, so that nbgrader's determine_grade sees it before any result.
                    cell.outputs.insert(0, integrity.error_output(problems))
        except DeadKernelError:
            why = getattr(self.km, "exit_reason", lambda: None)()
            raise KernelDied(describe_cell(self.nb, index), why) from None
        except CellTimeoutError:
            # The cell ran past Execute.timeout and did not stop when interrupted.
            raise CellStuck(describe_cell(self.nb, index)) from None
        return cell, resources


class CourseSaveAutoGrades(SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, keeping the lines these tools add to automatic comments.

    nbgrader rewrites each answer cell's automatic comment ("No response." or
    nothing); the grading mark of :func:`.gradebook.start` must survive that until
    the whole submission is done.
    """

    def _add_comment(self, cell, resources) -> None:
        comment = self.gradebook.find_comment(
            cell.metadata["nbgrader"]["grade_id"], self.notebook_id, self.assignment_id,
            self.student_id)
        ours = gbk.our_lines(comment.auto_comment)
        super()._add_comment(cell, resources)
        if ours:
            comment.auto_comment = "\n".join(filter(None, [comment.auto_comment, *ours]))
            self.gradebook.db.commit()


class CourseAutograde(Autograde):
    """nbgrader's ``Autograde``, keeping the exception that failed a notebook."""

    failure: tuple[str, BaseException] | None = None

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except Exception as exc:
            self.failure = (Path(notebook_filename).name, exc)
            raise


def explain(notebook: str, exc: BaseException | None) -> str:
    """A failure reason in words for an instructor."""
    if isinstance(exc, KernelDied) and exc.why:
        return f"kernel died at {exc.where} of {notebook}: {exc.why}"
    if isinstance(exc, KernelDied):
        return (f"kernel died at {exc.where} of {notebook}: the student's code ended the Python "
                "process (os._exit, a crash or running out of memory)")
    if isinstance(exc, CellStuck):
        return (f"over the time limit: {exc.where} of {notebook} ran past the time limit per cell "
                "and did not stop when interrupted (an endless loop that catches KeyboardInterrupt?)")
    if isinstance(exc, CellTimeoutError):
        return f"over the time limit: a cell of {notebook} did not stop when interrupted"
    if isinstance(exc, DeadKernelError):
        return f"kernel died while running {notebook}"
    if isinstance(exc, UnresponsiveKernelError):
        return (f"over the time limit: the kernel running {notebook} stopped responding "
                "and could not be interrupted")
    if exc is None:
        return "nbgrader could not autograde the submission (see the grading log)"
    text = str(exc).strip().splitlines()
    message = text[0][:200] if text else ""
    if "metadata may be corrupted" in message or "nbgrader metadata" in message:
        return f"metadata damaged beyond repair in {notebook}: {message}"
    return f"nbgrader could not grade {notebook}: {type(exc).__name__}: {message}"


@dataclass
class Task:
    student: str
    assignment: str
    submitted: str
    """Folder of the submission: submitted/<student>/<assignment>."""


@dataclass
class Result:
    student: str
    assignment: str
    row: list[str]
    seconds: float
    notes: list[str] = field(default_factory=list)


@dataclass
class Grader:
    """Grades submissions one at a time into ``db_url`` (one per worker process)."""

    root: Path
    db_url: str
    course_id: str
    releases: dict[str, dict[str, nbformat.NotebookNode]]
    """assignment -> notebook name (no .ipynb) -> the student version it was made from."""
    stage: Path
    cell_timeout: int | None = None
    log_dir: Path | None = None

    def __post_init__(self) -> None:
        TrackedExecute.releases = {(a, name): nb for a, nbs in self.releases.items()
                                   for name, nb in nbs.items()}
        self._plans = {key: integrity.Plan.from_release(nb) for key, nb in TrackedExecute.releases.items()}

    def _order(self, assignment: str) -> dict[str, list[str]]:
        return {name: [c.metadata.nbgrader["grade_id"] for c in nb.cells if utils.is_solution(c)]
                for name, nb in self.releases[assignment].items()}

    def resolve(self, submission: Submission, assignment: str) -> tuple[dict[str, str], list[str]]:
        """The submitted file for each notebook of the assignment, and notes on renamed ones."""
        expected = self.releases[assignment]
        files = submission.notebooks
        found, notes = {}, []
        for name in expected:
            if f"{name}.ipynb" in files:
                found[name] = f"{name}.ipynb"
            elif f"{name}.ipynb" in submission.not_files:
                raise Unrepairable(f"not a notebook: {name}.ipynb is {submission.not_files[f'{name}.ipynb']}")
        missing = [n for n in expected if n not in found]
        others = sorted(n for n in files if n[:-6] not in expected)
        for name in missing:
            candidates = []
            for other in others:
                try:
                    nb = parse(files[other], other)
                except Unrepairable:
                    continue
                if looks_like(nb, expected[name]):
                    candidates.append(other)
            if len(candidates) == 1 and len(missing) == 1:
                found[name] = candidates[0]
                notes.append(f"{candidates[0]} was graded as {name}.ipynb (the notebook was renamed)")
                continue
            extra = f"; found {', '.join(others)} instead" if others else ""
            raise Unrepairable(f"missing notebook: the submission has no {name}.ipynb{extra}")
        return found, notes

    def grade(self, task: Task) -> Result:
        started = time.perf_counter()
        folder = Path(task.submitted)
        stage = self.stage / task.student / task.assignment
        shutil.rmtree(self.stage / task.student, ignore_errors=True)
        stage.mkdir(parents=True)
        notes: dict[str, list[str]] = {}
        flags: dict[str, list[str]] = {}
        timestamp = _timestamp(folder)
        log = self._logger(task)
        order = self._order(task.assignment)
        try:
            try:
                submission = read_submission(folder)
            except BadSubmission as exc:
                raise Unrepairable(f"not graded: {exc}") from None
            found, renamed = self.resolve(submission, task.assignment)
            for name, filename in found.items():
                release = self.releases[task.assignment][name]
                submitted = parse(submission.notebooks[filename], filename)
                limit = max(MAX_CELLS, MAX_CELLS_FACTOR * len(release.cells))
                if len(submitted.cells) > limit:
                    raise Unrepairable(
                        f"too many cells: {filename} has {len(submitted.cells):,} cells (the assignment "
                        f"has {len(release.cells)}; more than {limit} are not run); review it by hand")
                fixed = repair(submitted, release, f"{name}.ipynb")
                flags[name] = self._scan(task, name, fixed.nb)
                notes[name] = [n for n in renamed if n.endswith(f"as {name}.ipynb (the notebook was renamed)")]
                notes[name] += fixed.notes
                nbformat.write(fixed.nb, str(stage / f"{name}.ipynb"))
            if submission.notes:
                notes[next(iter(found))] += submission.notes
        except Unrepairable as exc:
            log.warning("not graded: %s", exc)
            with Gradebook(self.db_url, self.course_id) as gb:
                gbk.record_failure(gb, task.assignment, task.student, str(exc),
                                   order=next(iter(order.values()), None), timestamp=timestamp)
            return self._result(task, started)

        with Gradebook(self.db_url, self.course_id) as gb:
            gbk.start(gb, task.assignment, task.student, order=next(iter(order.values()), None),
                      timestamp=timestamp)
        app = self._autograde(task, log)
        try:
            app.start()
            failure = None
        except NbGraderException:
            failure = app.failure or (next(iter(found)) + ".ipynb", None)
        except Exception as exc:  # noqa: BLE001  (anything else nbgrader raises)
            failure = app.failure or (next(iter(found)) + ".ipynb", exc)
        with Gradebook(self.db_url, self.course_id) as gb:
            if failure is not None:
                notebook, exc = failure
                log.warning("failed: %s", exc)
                reason = explain(notebook, exc)
                flagged = [line for lines in self._flag_lines(flags, {}).values() for line in lines]
                if flagged:
                    reason += "; flagged for review: " + "; ".join(flagged)
                gbk.record_failure(gb, task.assignment, task.student, reason,
                                   notebook=Path(notebook).stem, order=order.get(Path(notebook).stem),
                                   timestamp=timestamp)
            elif fault := self._environment_fault(task, found):
                log.warning("grading environment: %s", fault)
                gbk.record_failure(gb, task.assignment, task.student, f"grading environment: {fault}",
                                   order=next(iter(order.values()), None), timestamp=timestamp)
            else:
                for name in found:
                    notes[name] += self._timeouts(task, name)
                runtime = {name: self._replaced(task, name) for name in found}
                gbk.finish(gb, task.assignment, task.student, notes, order,
                           self._flag_lines(flags, runtime))
        return self._result(task, started)

    def _result(self, task: Task, started: float) -> Result:
        with Gradebook(self.db_url, self.course_id) as gb:
            row = gbk.row(gb.find_submission(task.assignment, task.student)).csv()
        return Result(task.student, task.assignment, row, time.perf_counter() - started)

    def _autograde(self, task: Task, log: logging.Logger) -> CourseAutograde:
        config = load_config(self.root, submitted_directory=str(self.stage), db_url=self.db_url)
        config.OverwriteCells.add_missing_cells = True
        if self.cell_timeout:
            config.Execute.timeout = self.cell_timeout
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = task.assignment
        coursedir.student_id = task.student
        app = CourseAutograde(coursedir=coursedir, config=config)
        app.log = log
        app.force = True
        app.create_student = True
        # nbgrader's own autograde preprocessors, with Execute and SaveAutoGrades subclassed (above).
        app.autograde_preprocessors = [
            TrackedExecute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
            CourseSaveAutoGrades, AssignLatePenalties, CheckCellMetadata]
        return app

    def _environment_fault(self, task: Task, found) -> str | None:
        """The grader's fault in any of the autograded notebooks (a score then means nothing)."""
        for name in found:
            path = self.root / "autograded" / task.student / task.assignment / f"{name}.ipynb"
            try:
                nb = nbformat.read(str(path), as_version=4)
            except (OSError, ValueError):
                continue
            fault = environment_fault(nb, self.releases[task.assignment][name])
            if fault:
                return f"{name}.ipynb {fault}"
        return None

    def _scan(self, task: Task, name: str, nb) -> list[str]:
        """Code in the cells the student can edit that replaces what the tests rely on."""
        plan = self._plans[(task.assignment, name)]
        return [f"code that {what} at cell {index + 1} line {line}"
                for index, line, what in integrity.scan(nb, plan)]

    def _replaced(self, task: Task, name: str) -> list[str]:
        """The run-time integrity check's findings, from the autograded notebook."""
        path = self.root / "autograded" / task.student / task.assignment / f"{name}.ipynb"
        try:
            nb = nbformat.read(str(path), as_version=4)
        except (OSError, ValueError):
            return []
        found = integrity.runtime_findings(nb)
        if not found:
            return []
        problems = list(dict.fromkeys(p for _, message in found for p in integrity.problems_of(message)))
        cells = [nb.cells[i].metadata.get("nbgrader", {}).get("grade_id", f"cell {i + 1}") for i, _ in found]
        shown = ", ".join(cells[:3]) + (f" and {len(cells) - 3} more" if len(cells) > 3 else "")
        return [f"{'; '.join(problems)} while the tests ran: {len(cells)} "
                f"test cell{'' if len(cells) == 1 else 's'} scored 0 ({shown})"]

    @staticmethod
    def _flag_lines(flags: dict[str, list[str]], runtime: dict[str, list[str]]) -> dict[str, list[str]]:
        """One line per notebook for the gradebook: what was replaced, then the code that did it."""
        lines = {}
        for name in sorted(set(flags) | set(runtime)):
            found = runtime.get(name, []) + flags.get(name, [])
            if found:
                tail = "" if runtime.get(name) else " (scores not changed)"
                lines[name] = [f"{name}.ipynb: " + "; ".join(found) + tail]
        return lines

    def _timeouts(self, task: Task, name: str) -> list[str]:
        path = self.root / "autograded" / task.student / task.assignment / f"{name}.ipynb"
        try:
            nb = nbformat.read(str(path), as_version=4)
        except (OSError, ValueError):
            return []
        notes = []
        for index, cell in enumerate(nb.cells):
            if any(o.get("output_type") == "error" and o.get("ename") in TIMEOUT_ERRORS
                   for o in cell.get("outputs", [])):
                notes.append(f"{name}.ipynb {describe_cell(nb, index)} was stopped at the time "
                             "limit per cell (an endless loop or very slow code); it scored 0")
        return notes

    def _logger(self, task: Task) -> logging.Logger:
        log = logging.getLogger(f"course_grade.{task.assignment}.{task.student}")
        log.handlers.clear()
        log.propagate = False
        log.setLevel(logging.INFO)
        if self.log_dir is not None:
            path = self.log_dir / task.assignment / f"{task.student}.log"
            path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(path, mode="w")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)
        else:
            log.addHandler(logging.NullHandler())
        return log


def _timestamp(folder: Path) -> str | None:
    from .grade import read_timestamp  # the grading command's reader: no link, no FIFO, no error

    return read_timestamp(folder)


def parse_timestamp(text: str | None):
    try:
        return utils.parse_utc(text) if text else None
    except Exception:  # noqa: BLE001  (an unreadable timestamp counts as none)
        return None


def is_finished(gb: Gradebook, root: Path, task: Task, notebooks: list[str]) -> bool:
    """Graded (or failed) already, for the same hand-in, with its autograded notebooks on disk."""
    timestamp = parse_timestamp(_timestamp(Path(task.submitted)))
    if not gbk.is_finished(gb, task.assignment, task.student, timestamp):
        return False
    row = gbk.row(gb.find_submission(task.assignment, task.student))
    if row.status == "failed":
        return True
    for name in notebooks:
        path = root / "autograded" / task.student / task.assignment / f"{name}.ipynb"
        try:
            json.loads(path.read_text())
        except (OSError, ValueError):
            return False
    return True
