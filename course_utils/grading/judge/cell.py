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
    result: dict[str, Outcome] = {}
    thread = threading.Thread(target=lambda: result.update(outcome=judge.run_cell(cell.source)),
                              name="judge", daemon=True)
    serve = nbformat.v4.new_code_cell(judge.serve_code)
    thread.start()
    try:
        (execute or (lambda c, i: client.execute_cell(c, i, store_history=False)))(serve, index)
    finally:
        thread.join(GRACE_SECONDS)
        if thread.is_alive():
            judge.cancel()
            thread.join()
        client.nb.cells[index] = cell  # nbclient stores the cell it executed (the serve cell) there
    outcome = result.get("outcome") or Outcome(False, "RuntimeError", "the test could not be run")
    cell.outputs = outputs(outcome, serve.get("outputs", []))
    cell.execution_count = serve.get("execution_count")
    return cell


def outputs(outcome: Outcome, kernel_outputs: list) -> list[NotebookNode]:
    """The test cell's outputs: the student's printed text, the test's, then the failure if any."""
    text = "".join(o.get("text", "") for o in kernel_outputs
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    found = []
    if text or outcome.stdout:
        found.append(nbformat.v4.new_output("stream", name="stdout", text=(text + outcome.stdout)[:100_000]))
    if not outcome.passed:
        found.append(nbformat.v4.new_output(
            "error", ename=outcome.ename, evalue=outcome.evalue,
            traceback=[f"{outcome.ename}: {outcome.evalue}", *outcome.detail]))
    return found
