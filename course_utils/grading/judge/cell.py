"""Running a test cell through the judge, with any nbclient ``NotebookClient``.

The kernel runs the judge's serve code in the test cell's place while the judge executes
the cell's source in a thread of the grader. The cell then gets the judge's outcome as its
outputs: what the student's code printed, then, if the test failed, one error output.
nbgrader scores that as it scores any test cell.
"""

from __future__ import annotations

import threading

import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

from .session import Judge, Outcome

GRACE_SECONDS = 5.0
"""How long the judge may still need once the kernel has stopped serving (normally milliseconds)."""


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
    cell.outputs = outputs(outcome, serve.get("outputs", []), cell.execution_count)
    return cell


def _attempt(client, judge: Judge, cell: NotebookNode, index: int, execute) -> tuple[Outcome, NotebookNode]:
    result: dict[str, Outcome] = {}
    thread = threading.Thread(target=lambda: result.update(outcome=judge.run_cell(cell.source)),
                              name="judge", daemon=True)
    serve = nbformat.v4.new_code_cell(judge.serve_code)
    thread.start()
    try:
        (execute or (lambda c, i: client.execute_cell(c, i, store_history=False)))(serve, index)
    finally:
        thread.join(0.05)
        if thread.is_alive() and not judge.waiting:  # the judge may still need a moment
            thread.join(GRACE_SECONDS)
        if thread.is_alive():
            judge.cancel()
            thread.join()
        client.nb.cells[index] = cell  # nbclient stores the cell it executed (the serve cell) there
    return result.get("outcome") or Outcome(False, "RuntimeError", "the test could not be run"), serve


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


def outputs(outcome: Outcome, kernel_outputs: list, execution_count=None) -> list[NotebookNode]:
    """The test cell's outputs: the student's printed text, the test's, then the failure if any."""
    text = "".join(o.get("text", "") for o in kernel_outputs
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    found = []
    if text or outcome.stdout:
        found.append(nbformat.v4.new_output("stream", name="stdout", text=(text + outcome.stdout)[:100_000]))
    if not outcome.passed:
        # IPython's way of naming the failing line of a cell, which the feedback reads (and hides
        # when the line is in a hidden block); never the line's text.
        where = [f"Cell In[{execution_count}], line {outcome.line}"] if outcome.line else []
        found.append(nbformat.v4.new_output(
            "error", ename=outcome.ename, evalue=outcome.evalue,
            traceback=[*where, f"{outcome.ename}: {outcome.evalue}", *outcome.detail]))
    return found
