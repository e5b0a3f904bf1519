"""Running a test cell through the judge, with any nbclient ``NotebookClient``.

The kernel runs the judge's serve code in the test cell's place while the judge executes
the cell's source in a thread of the grader. The cell then gets the judge's outcome as its
outputs: what the student's code printed, then, if the test failed, one error output.
nbgrader scores that as it scores any test cell. The line of the cell that failed goes to the
feedback as data, in the cell's metadata (:data:`JUDGED`).
"""

from __future__ import annotations

import ctypes
import threading
import time

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from .session import OVER_LIMIT, Judge, JudgeStopped, Outcome

GRACE_SECONDS = 5.0
"""How long the judge may still need once the kernel has stopped serving (normally milliseconds)."""
WATCH_SECONDS = 0.25
"""How often the judge's own CPU time is read against the cell's limit."""
JUDGED = "course_judge"
"""The key of a judged test cell's metadata where the judge leaves what the feedback needs as data:
``{"failing_line": n}``, the line of the cell's own code that failed (None when it passed or the
line is not known)."""


def run_test_cell(client: NotebookClient, judge: Judge, cell: NotebookNode, index: int,
                  execute=None) -> NotebookNode:
    """Judge ``cell`` (a test cell) against the kernel of ``client``; returns the cell with its outputs.

    ``execute(cell, index)`` runs a cell in the kernel; by default ``client.execute_cell``.
    """
    outcome, serve = _attempt(client, judge, cell, index, execute)
    if _stray_interrupt(outcome, serve):
        # The interrupt that stopped the previous cell at its time limit reached the kernel only
        # now and broke the serving loop at once: that is the grader's timing, not this test's.
        outcome, serve = _attempt(client, judge, cell, index, execute)
    cell.execution_count = serve.get("execution_count")
    cell.outputs = outputs(outcome, serve.get("outputs", []))
    # Set on every judged run, passed or not: whatever a submission wrote under this key is replaced.
    cell.metadata[JUDGED] = {"failing_line": None if outcome.passed else outcome.line}
    return cell


def _attempt(client, judge: Judge, cell: NotebookNode, index: int, execute) -> tuple[Outcome, NotebookNode]:
    result: dict[str, Outcome] = {}

    def judged() -> None:
        try:
            result.update(outcome=judge.run_cell(cell.source))
        except JudgeStopped:  # arrived after run_cell had caught its own
            result.update(outcome=Outcome(False, "TimeoutError", OVER_LIMIT))
            if judge.lent:
                judge.abandoned = True  # stopped midway, it may not have put the student's own functions back

    thread = threading.Thread(target=judged, name="judge", daemon=True)
    thread.judge = judge
    serve = nbformat.v4.new_code_cell(judge.serve_code)
    thread.start()
    finished = threading.Event()
    if client.timeout and client.timeout > 0:
        threading.Thread(target=_watch, args=(thread, judge, float(client.timeout), finished),
                         name="judge-watch", daemon=True).start()
    try:
        (execute or (lambda c, i: client.execute_cell(c, i, store_history=False)))(serve, index)
    finally:
        thread.join(0.05)
        if thread.is_alive() and not judge.waiting:  # the judge may still need a moment
            thread.join(GRACE_SECONDS)
        stopped = thread.is_alive()
        if stopped:
            judge.cancel()
            thread.join(GRACE_SECONDS)  # a request to the kernel ends at once now
            _stop(thread)
        finished.set()
        client.nb.cells[index] = cell  # nbclient stores the cell it executed (the serve cell) there
    if stopped and "outcome" not in result:
        if judge.lent:
            judge.abandoned = True  # stopped midway, it may not have put the student's own functions back
        return Outcome(False, "TimeoutError", OVER_LIMIT), serve
    return result.get("outcome") or Outcome(False, "RuntimeError", "the test could not be run"), serve


def _watch(thread: threading.Thread, judge: Judge, limit: float, finished: threading.Event) -> None:
    """Stop the judge's own work on a cell once it has used the cell's time limit in CPU seconds.

    The kernel's clock does not see it (the kernel only waits meanwhile), so without this a test
    kept busy by the student's answer would run until the wall-clock backstop. The link is dropped
    too: the kernel then connects anew, and the judge puts back what it lent and releases it.
    """
    try:
        clock = time.pthread_getcpuclockid(thread.ident)
        start = time.clock_gettime(clock)
    except (OSError, AttributeError, TypeError):
        return
    while not finished.wait(WATCH_SECONDS) and thread.is_alive():
        try:
            used = time.clock_gettime(clock) - start
        except OSError:
            return
        if used > limit:
            judge.over_time = True
            _raise_in(thread)
            judge.drop_link()
            return


def _raise_in(thread: threading.Thread, patience: float = GRACE_SECONDS) -> None:
    """Raise :class:`JudgeStopped` in ``thread``, once it is not importing a module (stopped half-way,
    torch and the like stay broken in this process: "duplicate registrations")."""
    deadline = time.monotonic() + patience
    while _importing(thread) and time.monotonic() < deadline:
        time.sleep(0.05)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(JudgeStopped))


def _importing(thread: threading.Thread) -> bool:
    import importlib._bootstrap as bootstrap  # the import system's per-module locks, with their owner

    locks = [ref() for ref in list(getattr(bootstrap, "_module_locks", {}).values())]
    return any(getattr(lock, "owner", None) == thread.ident for lock in locks if lock is not None)


def _stop(thread: threading.Thread) -> None:
    """End the judge's thread, which is running only the judge's own Python code by now (the kernel
    is gone): the cell's time is up. Left running, it would share the judge with the next cell."""
    for _ in range(2):
        if not thread.is_alive():
            return
        _raise_in(thread)
        thread.join(GRACE_SECONDS)
    if thread.is_alive():
        # Stuck inside one C call: leave it (a daemon thread) and grade no more cells with this judge.
        judge_of = getattr(thread, "judge", None)
        if judge_of is not None:
            judge_of.abandoned = True


def _stray_interrupt(outcome: Outcome, serve: NotebookNode) -> bool:
    """An interrupt this cell did not earn: the kernel stopped serving with a KeyboardInterrupt,
    yet the client did not stop the cell. A client that stops a cell at its time limit marks it
    with a ``CellTimeoutError`` output (nbgrader's ``error_on_timeout``, the grader's cell clock),
    so no timing is guessed at: a busy machine can delay an interrupt by any amount. (A plain
    client that marks nothing gets its timed-out cell run once more.)
    """
    errors = [o.get("ename") for o in serve.get("outputs", []) if o.get("output_type") == "error"]
    return (not outcome.passed and outcome.ename == "TimeoutError"
            and errors == ["KeyboardInterrupt"])


def outputs(outcome: Outcome, kernel_outputs: list) -> list[NotebookNode]:
    """The test cell's outputs: the student's printed text, the test's, then the failure if any."""
    text = "".join(o.get("text", "") for o in kernel_outputs
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    found = []
    if text or outcome.stdout:
        found.append(nbformat.v4.new_output("stream", name="stdout", text=(text + outcome.stdout)[:100_000]))
    if not outcome.passed:
        # For the reader only (the Formgrader, a page's visible test): the feedback takes the line
        # from the cell's metadata (JUDGED). Never the line's text, which may be hidden code.
        where = [f"Test cell, line {outcome.line}"] if outcome.line else []
        found.append(nbformat.v4.new_output(
            "error", ename=outcome.ename, evalue=outcome.evalue,
            traceback=[*where, f"{outcome.ename}: {outcome.evalue}", *outcome.detail]))
    return found
