"""Autograding one submission with nbgrader's ``Autograde`` converter, and saying why it failed.

The submitted folder is never written to: its notebooks are read, repaired
(:mod:`.repair`) and staged in a scratch folder that nbgrader then uses as its
``submitted`` directory. nbgrader does the rest as usual, through the course's
preprocessors (:mod:`.pipelines`, :mod:`.execute`): ``OverwriteCells`` with
``add_missing_cells``, the sandboxed and judged ``Execute``, ``IgnorePattern``, ``SaveAutoGrades``
into the gradebook, the notebook written to ``autograded/``. The outcome is recorded in the
gradebook (:mod:`.gradebook`), with its reason (:mod:`.errors`) when it failed.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.converters.base import NbGraderException
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors.execute import UnresponsiveKernelError

from . import errors, integrity
from . import gradebook as gbk
from .course import Task, autograded_notebook, read_timestamp
from .execute import (
    CellStuck,
    CourseAutograde,
    Findings,
    KernelDidNotStart,
    KernelDied,
)
from .faults import environment_fault
from .ingest import BadSubmission, Submission, read_submission
from .pipelines import autograde_preprocessors
from .repair import Unrepairable, looks_like, parse, repair
from .settings import Grading


def explain(notebook: str, exc: BaseException | None) -> errors.GradingFailure:
    """Why nbgrader's autograde of ``notebook`` failed, as the reason to record (:mod:`.errors`)."""
    if isinstance(exc, KernelDied) and exc.why:
        return errors.KernelDied(f"kernel died at {exc.where} of {notebook}: {exc.why}")
    if isinstance(exc, KernelDied):
        return errors.KernelDied(f"kernel died at {exc.where} of {notebook}: the student's code ended the "
                                 "Python process (os._exit, a crash or running out of memory)")
    if isinstance(exc, CellStuck):
        return errors.OverTimeLimit(
            f"over the time limit: {exc.where} of {notebook} ran past the time limit per cell "
            "and did not stop when interrupted (an endless loop that catches KeyboardInterrupt?)")
    if isinstance(exc, CellTimeoutError):
        return errors.OverTimeLimit(f"over the time limit: a cell of {notebook} did not stop when interrupted")
    if isinstance(exc, DeadKernelError):
        return errors.KernelDied(f"kernel died while running {notebook}")
    if isinstance(exc, UnresponsiveKernelError):
        return errors.OverTimeLimit(f"over the time limit: the kernel running {notebook} stopped responding "
                                    "and could not be interrupted")
    if exc is None:
        return errors.NbgraderFailed("nbgrader could not autograde the submission (see the grading log)")
    text = str(exc).strip().splitlines()
    message = text[0][:200] if text else ""
    if "metadata may be corrupted" in message or "nbgrader metadata" in message:
        return errors.NotGradable(f"metadata damaged beyond repair in {notebook}: {message}")
    return errors.NbgraderFailed(f"nbgrader could not grade {notebook}: {type(exc).__name__}: {message}")


@dataclass
class Result:
    """What grading one submission came to: its row of grades.csv, as the gradebook now holds it."""

    row: gbk.Row
    seconds: float


@dataclass
class Grader:
    """Grades submissions one at a time into the gradebook (one per worker process)."""

    settings: Grading
    releases: dict[str, dict[str, nbformat.NotebookNode]]
    """assignment -> notebook name (no .ipynb) -> the student version it was made from."""
    stage: Path
    log_dir: Path | None = None
    runtime_dir: str | None = None
    """Where the sandbox puts the kernels' connection folders (``c.SandboxProvisioner.runtime_dir``,
    which reaches the provisioner through the config nbgrader's Execute hands its kernel manager)."""

    @property
    def root(self) -> Path:
        return self.settings.root

    @property
    def db_url(self) -> str:
        return self.settings.gradebook

    @property
    def course_id(self) -> str:
        return self.settings.course_id

    def __post_init__(self) -> None:
        self._plans = {(a, name): integrity.Plan.from_release(nb)
                       for a, nbs in self.releases.items() for name, nb in nbs.items()}

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
        timestamp = read_timestamp(folder)
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
                # Nobody adds thousands of cells to answer an exercise; running them would hold a worker.
                limit = max(self.settings.max_cells, self.settings.max_cells_factor * len(release.cells))
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
                gbk.record_failure(gb, task.assignment, task.student, errors.NotGradable(str(exc)),
                                   order=next(iter(order.values()), None), timestamp=timestamp)
                return self._result(gb, task, started)

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
        if failure is not None and isinstance(failure[1], KernelDidNotStart):
            raise failure[1]  # the pool tries the submission once more, then records the fault
        with Gradebook(self.db_url, self.course_id) as gb:
            if failure is not None:
                notebook, exc = failure
                log.warning("failed: %s", exc)
                reason = explain(notebook, exc)
                flagged = [line for lines in self._flag_lines(flags, {}).values() for line in lines]
                if flagged:
                    reason.why += "; flagged for review: " + "; ".join(flagged)
                gbk.record_failure(gb, task.assignment, task.student, reason,
                                   notebook=Path(notebook).stem, order=order.get(Path(notebook).stem),
                                   timestamp=timestamp)
            elif fault := self._environment_fault(task, self._autograded(task, found)):
                log.warning("grading environment: %s", fault)
                gbk.record_failure(gb, task.assignment, task.student, errors.EnvironmentFault(fault),
                                   order=next(iter(order.values()), None), timestamp=timestamp)
            else:
                findings = app.findings or {}
                for name in found:
                    notes[name] += [f"{name}.ipynb {where} was stopped at the time limit per cell (an "
                                    "endless loop or very slow code); it scored 0"
                                    for where in findings.get(name, Findings()).stopped]
                runtime = {name: self._replaced(findings.get(name, Findings())) for name in found}
                gbk.finish(gb, task.assignment, task.student, notes, order,
                           self._flag_lines(flags, runtime))
            return self._result(gb, task, started)

    @staticmethod
    def _result(gb: Gradebook, task: Task, started: float) -> Result:
        """The submission's row as the session that recorded its outcome sees it."""
        return Result(gbk.row(gb.find_submission(task.assignment, task.student)),
                      time.perf_counter() - started)

    def _autograde(self, task: Task, log: logging.Logger) -> CourseAutograde:
        config = self.settings.nbgrader_config(submitted_directory=str(self.stage))
        config.OverwriteCells.add_missing_cells = True
        if self.runtime_dir:
            config.SandboxProvisioner.runtime_dir = self.runtime_dir
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = task.assignment
        coursedir.student_id = task.student
        app = CourseAutograde(coursedir=coursedir, config=config)
        app.releases = self.releases[task.assignment]
        app.log = log
        app.force = True
        app.create_student = True
        # The pipeline nbgrader's own autograde runs, less the steps this command takes itself
        # (preflight, fault attribution, the outcome).
        app.autograde_preprocessors = autograde_preprocessors(standalone=False)
        return app

    def _autograded(self, task: Task, found) -> dict[str, nbformat.NotebookNode]:
        """The autograded notebooks nbgrader wrote (name -> notebook), each read once."""
        graded = {}
        for name in found:
            try:
                graded[name] = nbformat.read(
                    str(autograded_notebook(self.root, task.student, task.assignment, name)), as_version=4)
            except (OSError, ValueError):
                continue
        return graded

    def _environment_fault(self, task: Task, graded: dict[str, nbformat.NotebookNode]) -> str | None:
        """The grader's fault in any of the autograded notebooks (a score then means nothing)."""
        for name, nb in graded.items():
            fault = environment_fault(nb, self.releases[task.assignment][name])
            if fault:
                return f"{name}.ipynb {fault}"
        return None

    def _scan(self, task: Task, name: str, nb) -> list[str]:
        """Code in the cells the student can edit that replaces what the tests rely on."""
        plan = self._plans[(task.assignment, name)]
        return [f"code that {what} at cell {index + 1} line {line}"
                for index, line, what in integrity.scan(nb, plan)]

    @staticmethod
    def _replaced(findings: Findings) -> list[str]:
        """The run-time integrity check's findings in one line."""
        if not findings.replaced:
            return []
        problems = list(dict.fromkeys(p for _, found in findings.replaced for p in found))
        cells = [cell for cell, _ in findings.replaced]
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
