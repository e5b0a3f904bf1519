"""The course's kernel: this very interpreter, whatever kernelspecs the machine has.

Every notebook names the kernelspec ``bigram-course`` (``make setup`` installs it into
``.venv``, for JupyterLab). The course's own commands (``make check``, Validate, grading)
do not look it up at all: :class:`CourseKernelManager` starts ``sys.executable``, so a
user-level ``python3`` or ``bigram-course`` kernelspec pointing at another Python can
never run the notebooks.

    python -m course_utils.kernel     # install the kernelspec into this environment
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbgrader.preprocessors import Execute
from traitlets import Integer, default

KERNEL_NAME = "bigram-course"
DISPLAY_NAME = "Python 3 (bigram course)"
KERNELSPEC = {"display_name": DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
"""The notebooks' ``kernelspec`` metadata: what JupyterLab writes for the installed spec."""


def course_spec() -> KernelSpec:
    """An ipykernel on the interpreter running this code."""
    return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                      display_name=DISPLAY_NAME, language="python", metadata={"debugger": True})


class CourseKernelSpecManager(KernelSpecManager):
    """Resolves every kernel name to :func:`course_spec`.

    The course's notebooks are all Python; a submission whose metadata names another kernel
    (``python3`` from an older copy, one a student picked) is still run on the course's Python.
    """

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return course_spec()


class CourseKernelManager(AsyncKernelManager):
    """nbclient's kernel manager, starting the course's interpreter (see the module docstring)."""

    @default("kernel_spec_manager")
    def _course_specs(self) -> KernelSpecManager:
        return CourseKernelSpecManager(data_dir=self.data_dir)


class CourseExecute(Execute):
    """nbgrader's Execute on :class:`CourseKernelManager`.

    nbgrader's ``Execute.__init__`` passes its kernel manager class as a keyword, which beats
    the configuration, so the course's manager is passed the same way.
    """

    # nbclient waits 4 s for a cell's last IOPub message once the kernel has answered, and
    # nbgrader's Execute turns that wait into an error that stops the whole notebook (no cell
    # named, no exercise scored). On a busy machine (load ~30 on 2 cores) the kernel's final
    # "idle" status can come later than that; grading's TrackedExecute waits 30 s, so do these.
    iopub_timeout = Integer(
        30, help="Seconds to wait for a cell's last output once the kernel has answered (nbclient's 4 s "
                 "is too short for a kernel on a busy machine)").tag(config=True)

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", CourseKernelManager)
        super().__init__(**kwargs)


HINTS_ARGUMENT = "--IPKernelApp.extra_extensions=course_utils.notebook_hints"
"""JupyterLab's kernel loads :mod:`course_utils.notebook_hints`: one line for a cell that fails only
because an exercise is not done yet. :func:`course_spec` (make check, Validate, grading) does not."""


def install(prefix: str = sys.prefix) -> str:
    """Install the ``bigram-course`` kernelspec under ``prefix``; returns its folder."""
    from ipykernel.kernelspec import install as ipykernel_install

    folder = ipykernel_install(kernel_name=KERNEL_NAME, display_name=DISPLAY_NAME, prefix=prefix)
    spec_file = Path(folder) / "kernel.json"
    spec = json.loads(spec_file.read_text())
    if HINTS_ARGUMENT not in spec["argv"]:
        spec["argv"].append(HINTS_ARGUMENT)
    spec_file.write_text(json.dumps(spec, indent=1) + "\n")
    return folder


if __name__ == "__main__":
    print(f"Installed the {KERNEL_NAME!r} kernel ({sys.executable}) in {install()}")
