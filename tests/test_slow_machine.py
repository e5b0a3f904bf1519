"""The course's execution (make check, Validate) survives a busy machine's late kernel messages."""

from __future__ import annotations

import nbformat
import pytest

from course_utils import selfcheck

# The kernel answers the cell at once, but its "idle" status (the last message nbclient waits for
# on IOPub) comes 6 s later, as on a machine at load ~30: past nbclient's 4 s default.
LATE_IDLE = """\
import time
kernel = get_ipython().kernel
publish = kernel._publish_status
def late(status, *args, **kwargs):
    if status == "idle":
        kernel._publish_status = publish
        time.sleep(6)
    return publish(status, *args, **kwargs)
kernel._publish_status = late
"""


@pytest.mark.notebook
def test_late_kernel_output_does_not_fail_the_whole_notebook(tmp_path):
    path = tmp_path / "late.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(LATE_IDLE),
        nbformat.v4.new_code_cell("print('after')"),
    ]), str(path))
    report = selfcheck.run_notebook(path)
    assert report.first_error is None, report.first_error
