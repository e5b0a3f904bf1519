"""The nbgrader preprocessors of the course's autograding, each written around one of nbgrader's.

:class:`TrackedExecute` (nbgrader's ``Execute`` in the grading sandbox, with test cells judged
outside the student's kernel, an output budget, and the cell named when the kernel died or hung)
and :class:`CourseAutograde` (keeps the exception nbgrader only logs). ``nbgrader_config.py``
routes ``nbgrader autograde`` and the Formgrader through them; :mod:`.autograde` drives them for
``make grade``.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_core.utils import ensure_async, run_sync
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.converters import Autograde
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from ..kernel import CourseExecute
from ..nbtools import is_test_cell
from ..upstream import forget_exit_cleanup
from . import integrity
from .course import COURSE_ROOT, SOURCE_DIR
from .judge import Judge, run_test_cell
from .judge.cell import JUDGED
from .sandbox import configured_kernel_manager, sandbox_of
from .sandbox.provisioner import Usage, tree_usage
from .settings import Grading

TIMEOUT_ERRORS = ("CellTimeoutError", "TimeoutError")  # the second: a judged test cell that ran out of time
FINDINGS = "course_findings"
"""The key of nbgrader's resources under which :class:`TrackedExecute` leaves its :class:`Findings`."""
RELEASE = "course_release"
"""The key of nbgrader's resources under which :class:`CourseAutograde` hands over the student version."""


@dataclass
class Findings:
    """What the grader saw while one notebook ran, for the grading command (as data, not as text
    to read back from the notebook)."""

    replaced: list[tuple[str, list[str]]] = field(default_factory=list)
    """(test cell, what was replaced) for each test cell the run-time integrity check scored 0."""
    stopped: list[str] = field(default_factory=list)
    """The cells stopped at the time limit per cell, described for an instructor."""


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


class KernelDidNotStart(RuntimeError):
    """The kernel died or stayed silent before it answered: the grader's fault, never the
    student's (none of the notebook's code runs before the kernel answers)."""


class CellStuck(RuntimeError):
    def __init__(self, where: str):
        super().__init__(where)
        self.where = where


TICK_SECONDS = 0.25
"""How often a running cell's clock is read."""
GRACE_SECONDS = 5.0
"""What a cell interrupted at its time limit may still use, on the same clock, before it counts as
not stopping (answering an interrupt takes a well-behaved kernel a fraction of a second)."""
STOPPED = "CellTimeoutError"
"""The error name of the output that marks a cell stopped at its time limit (nbgrader's own)."""


class CellClock:
    """The time one cell has used of its limit, measured on its kernel's process tree so that a
    busy machine does not change it.

    Each reading adds the CPU seconds the tree used since the last one; or, when more, the time
    that passed minus the longest any of its threads waited for a CPU (``schedstat``): what a tree
    that sleeps or is blocked on something else than the CPU uses. On an idle machine both are the
    wall clock of a single-threaded cell; on a busy one the waiting for a CPU is left out. With
    ``cpu_only`` (a cell whose kernel waits for the grader, e.g. a judged test cell) only CPU
    seconds count.
    """

    def __init__(self, sample: Callable[[], Usage | None], cpu_only: bool = False):
        self._sample = sample
        self.cpu_only = cpu_only
        self._last = (time.monotonic(), sample())
        self.used = 0.0

    def read(self) -> float:
        """Seconds used so far."""
        now, usage = time.monotonic(), self._sample()
        then, before = self._last
        if usage is None or before is None:
            return self.used
        self._last = (now, usage)
        step = max(0.0, usage.cpu - before.cpu)
        if not self.cpu_only and usage.waits is not None and before.waits is not None:
            waited = max([0, *(ns - before.waits.get(tid, 0) for tid, ns in usage.waits.items())]) / 1e9
            step = max(step, now - then - waited)
        self.used += step
        return self.used


@dataclass
class CellWatch:
    """The watch over one running cell: interrupted at its limit, killed if that does not stop it."""

    clock: CellClock
    limit: float
    task: asyncio.Task | None = None
    interrupted_at: float | None = None
    stuck: bool = False


MAX_NOTEBOOK_OUTPUT_BYTES = 16_000_000
"""Output kept per notebook, all cells together: a course notebook with its figures has a few MB."""
MAX_ERROR_CHARS = 4_000
"""An error kept past the budget is cut to this many characters of message and traceback."""
MAX_KEPT_ERRORS = 5
"""Errors kept per cell past the budget (one suffices to fail the cell)."""
DISPLAY_MESSAGES = frozenset({"execute_result", "display_data", "update_display_data"})
"""The messages with which a display id rewrites the outputs that carry it (nbclient's list)."""


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
    iopub_timeout = Integer(
        30, help="Seconds to wait for a cell's last output once the kernel has answered (nbclient's 4 s "
                 "is too short for a kernel on a busy machine)").tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # ``timeout`` is the cell's time limit on its CellClock (CPU seconds, not wall clock): nbclient
        # gets only the far larger wall-clock backstop, against a kernel stuck beyond measure.
        self.timeout_func = self.wall_backstop
        self._watch: CellWatch | None = None
        self._last_watch: CellWatch | None = None
        self._judging = False
        self._wall_factor: float | None = None
        # nbgrader passes AsyncKernelManager as a keyword, which beats the config: apply
        # c.TrackedExecute.kernel_manager_class (the grading sandbox) here.
        manager = configured_kernel_manager(self)
        if manager is not None:
            self.kernel_manager_class = manager
        self._plan: integrity.Plan | None = None
        self._monitor: integrity.Monitor | None = None
        self._output_bytes: dict[int, int] = {}
        self._release: nbformat.NotebookNode | None = None
        self._judge: Judge | None = None
        self._findings = Findings()

    def wall_backstop(self, cell=None) -> int | None:
        """Wall-clock seconds a cell may take, whatever its clock says (``c.Grading.wall_factor``
        times its time limit)."""
        if not self.timeout or self.timeout < 0:
            return None
        if self._wall_factor is None:
            self._wall_factor = Grading(config=self.config).wall_factor
        factor = self._wall_factor
        return math.ceil(max(factor * self.timeout, self.timeout + 2 * GRACE_SECONDS))

    # nbclient's hooks: each code cell runs under a CellWatch.

    def on_cell_execute(self, cell, cell_index) -> None:
        self._stop_watch()
        sample = self._usage_sampler()
        if not self.timeout or self.timeout < 0 or sample is None:
            return
        watch = CellWatch(CellClock(sample, cpu_only=self._judging), float(self.timeout))
        watch.task = asyncio.get_running_loop().create_task(self._watch_cell(watch))
        self._watch = watch

    def on_cell_executed(self, **kwargs) -> None:
        super().on_cell_executed(**kwargs)
        watch = self._stop_watch()
        if watch is not None and watch.interrupted_at is not None:
            kind = "CPU seconds" if watch.clock.cpu_only else "seconds of CPU or waiting"
            message = (f"the cell used up its time limit ({watch.limit:g} {kind} of its kernel's "
                       "processes) and was stopped")
            kwargs["cell"].outputs.append(nbformat.v4.new_output(
                "error", ename=STOPPED, evalue=message, traceback=[f"{STOPPED}: {message}"]))

    def _usage_sampler(self) -> Callable[[], Usage | None] | None:
        box = sandbox_of(self.km)
        if box is not None:
            return box.usage
        pid = getattr(getattr(self.km, "provisioner", None), "pid", None)
        return (lambda: tree_usage(pid)) if pid else None

    async def _watch_cell(self, watch: CellWatch) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            used = watch.clock.read()
            if watch.interrupted_at is None:
                if used >= watch.limit:
                    watch.interrupted_at = used
                    self.log.warning("the cell used up its time limit (%g s); interrupting the kernel", watch.limit)
                    await ensure_async(self.km.interrupt_kernel())
            elif used - watch.interrupted_at >= GRACE_SECONDS:
                watch.stuck = True
                self.log.warning("the cell did not stop when interrupted; killing the kernel")
                box = sandbox_of(self.km)
                if box is not None:
                    box.stop_sandbox("the cell did not stop when interrupted at its time limit")
                else:
                    await ensure_async(self.km.signal_kernel(signal.SIGKILL))
                return

    def _stop_watch(self) -> CellWatch | None:
        watch, self._watch = self._watch, None
        if watch is not None:
            if watch.task is not None:
                watch.task.cancel()
            self._last_watch = watch
        return watch

    def preprocess(self, nb, resources=None, km=None):
        self._watch = self._last_watch = None
        self._monitor = None
        self._output_bytes = {}
        self._plan = None
        self._release = self._course_version(resources or {}, nb)
        if self.check_integrity and not self.judge:
            self._plan = integrity.Plan.from_release(self._release)
        self._findings = Findings()
        if resources is not None:
            resources[FINDINGS] = self._findings
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if self._judge is not None:
                self._judge.close()
                self._judge = None

    async def async_start_new_kernel_client(self):
        try:
            return await super().async_start_new_kernel_client()
        except Exception as exc:
            # nbclient has already cleaned the kernel up but leaves its exit-time clean-up
            # registered, which then fails (its kernel manager is gone) in the worker's log.
            forget_exit_cleanup(self)
            raise KernelDidNotStart(f"the kernel did not start ({type(exc).__name__}: {exc})") from exc

    # nbconvert's preprocess sets the kernel up through the synchronous twin.
    start_new_kernel_client = run_sync(async_start_new_kernel_client)

    def _course_version(self, resources: dict, nb):
        """The course's own version of the notebook: what it imports is the judge's, never the submission's.

        The grading command hands it over (:data:`RELEASE`); plain nbgrader commands read it here.
        """
        if resources.get(RELEASE) is not None:
            return resources[RELEASE]
        info = resources.get("nbgrader", {})
        assignment, notebook = info.get("assignment"), info.get("notebook")
        source = COURSE_ROOT / SOURCE_DIR / str(assignment) / f"{notebook}.ipynb"
        if assignment and notebook and source.is_file():
            return nbformat.read(str(source), as_version=4)
        if self.judge:
            raise FileNotFoundError(f"the judge needs the course's {source.relative_to(COURSE_ROOT)}")
        return nb

    def _judged(self, cell, resources, index):
        """The test cell run by the judge while the kernel answers its requests."""
        if self._judge is None:
            box = sandbox_of(self.km)
            # One request may take as long as the cell's wall-clock backstop: the cell's own clock
            # (the kernel's CPU seconds) ends it first, by interrupting the kernel.
            self._judge = Judge.for_release(self._release, folder=box.sandbox_path if box else None,
                                            timeout=(self.wall_backstop() or 60) + 30)
        self._judging = True
        try:
            return run_test_cell(self, self._judge, cell, index,
                                 execute=lambda c, i: Execute.preprocess_cell(self, c, resources, i))
        finally:
            self._judging = False

    def output(self, outs, msg, display_id, cell_index):
        """nbclient's output handler, within the cell's and the notebook's output budget
        (:class:`OutputBudget`): a notebook that prints, raises or displays gigabytes would
        otherwise fill the grader's memory and the autograded notebook (nbgrader's
        ``LimitOutput`` counts lines, and only after the run)."""
        msg = self._budget().admit(outs, msg, cell_index)
        return None if msg is None else super().output(outs, msg, display_id, cell_index)

    def process_message(self, msg, cell, cell_index):
        """nbclient's message handler, with display updates within the notebook's output budget:
        a message carrying a display id rewrites earlier outputs without passing through
        :meth:`output`. Past the budget the earlier outputs stay as they are; a new display still
        goes to :meth:`output`, which drops it with its note."""
        content = msg.get("content") or {}
        transient = content.get("transient")
        display_id = transient.get("display_id") if isinstance(transient, dict) else None
        if display_id and msg.get("msg_type") in DISPLAY_MESSAGES and not self._budget().admit_update(msg):
            if msg["msg_type"] == "update_display_data":
                return None
            msg = {**msg, "content": {**content, "transient": None}}
        return super().process_message(msg, cell, cell_index)

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
        self._last_watch = None
        try:
            if self.judge and is_test_cell(cell):
                cell = self._judged(cell, resources, index)
                if not any(is_test_cell(c) for c in self.nb.cells[index + 1:]):
                    # Hang up now: a kernel still linked to the judge takes seconds longer to shut down.
                    self._judge.close()
                    self._judge = None
            else:
                # Only the judge writes this key (it carries the failing line to the feedback as data):
                # a cell that ran in the kernel keeps no value the submission brought along.
                cell.metadata.pop(JUDGED, None)
                cell, resources = super().preprocess_cell(cell, resources, index)
            box = sandbox_of(self.km)
            # Only code runs: a markdown cell leaves nothing behind, and has no outputs to say so in.
            stopped = box.stop_strays() if box and cell.cell_type == "code" else 0
            if stopped:
                cell.outputs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[the grader stopped {stopped} processes this cell left running]\n"))
            if self._monitor is not None and is_test_cell(cell):
                problems = self._monitor.check(cell)
                if problems:
                    # First, so that nbgrader's determine_grade sees it before any result.
                    cell.outputs.insert(0, integrity.error_output(problems))
                    name = cell.metadata.get("nbgrader", {}).get("grade_id", f"cell {index + 1}")
                    self._findings.replaced.append((name, problems))
            if any(o.get("output_type") == "error" and o.get("ename") in TIMEOUT_ERRORS
                   for o in cell.get("outputs", [])):
                self._findings.stopped.append(describe_cell(self.nb, index))
        except DeadKernelError:
            watch = self._stop_watch() or self._last_watch
            if watch is not None and watch.stuck:
                raise CellStuck(describe_cell(self.nb, index)) from None
            box = sandbox_of(self.km)
            why = box.exit_reason() if box else None
            raise KernelDied(describe_cell(self.nb, index), why) from None
        except CellTimeoutError:
            # The cell ran past its wall-clock backstop and did not stop when interrupted.
            raise CellStuck(describe_cell(self.nb, index)) from None
        finally:
            self._stop_watch()
        return cell, resources


class CourseAutograde(Autograde):
    """nbgrader's ``Autograde``, handing :class:`TrackedExecute` the student version of each notebook
    (``releases``: notebook name -> notebook) and keeping the exception that failed a notebook and
    what :class:`TrackedExecute` found in each (notebook name -> :class:`Findings`)."""

    failure: tuple[str, BaseException] | None = None
    findings: dict[str, Findings] | None = None
    releases: dict[str, nbformat.NotebookNode] | None = None

    def init_single_notebook_resources(self, notebook_filename: str) -> dict:
        resources = super().init_single_notebook_resources(notebook_filename)
        resources[RELEASE] = (self.releases or {}).get(resources["nbgrader"]["notebook"])
        return resources

    def write_single_notebook(self, output: str, resources) -> None:
        if self.findings is None:
            self.findings = {}
        self.findings[resources["nbgrader"]["notebook"]] = resources.get(FINDINGS) or Findings()
        super().write_single_notebook(output, resources)

    def convert_single_notebook(self, notebook_filename: str) -> None:
        try:
            super().convert_single_notebook(notebook_filename)
        except Exception as exc:
            self.failure = (Path(notebook_filename).name, exc)
            raise
