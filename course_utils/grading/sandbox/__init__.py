"""Running a submission's kernel in a bubblewrap sandbox while it is autograded.

Switched on in ``nbgrader_config.py`` for the grading command's ``Execute``
preprocessor (``TrackedExecute`` in :mod:`..execute`)::

    c.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    c.SandboxProvisioner.memory_mb = 4096     # optional: the limits below
    c.SandboxProvisioner.cpu_seconds = 300

That section, not ``c.Execute``, so that nbgrader's own commands (a student's
Validate button, whose copy of the course has no ``course_utils.grading``) never
try to import this module. nbgrader's ``Execute.__init__`` passes its kernel
manager as a keyword, which beats the config; the grading command applies the
configured class with :func:`configured_kernel_manager`. The manager's kernel spec names
:class:`SandboxProvisioner` (jupyter_client's provisioner API, registered as the entry point
``course-sandbox``), which starts each kernel under Debian's ``bwrap`` (bubblewrap), with

- no network: a network namespace of its own, with only a loopback. The
  grader talks to the kernel over Unix sockets (jupyter's ``ipc`` transport) in
  a private folder, the one folder bound into the sandbox from outside that the
  kernel can write to;
- a file system that shows only what a notebook needs, read-only: /usr, /etc,
  the Python installation and its virtual environment, the ``course_utils``
  package, the names data (``COURSE_NAMES_FILE`` and ``data/names.txt``).
  Nothing else of the course folder (gradebook, ``solutions/``, ``submitted/``,
  ``autograded/``, ``tests/``), of the instructor's home or of /work is there;
- a working directory that is a scratch copy of the submission's folder (a
  size-limited tmpfs at the same path; nothing written there reaches the disk),
  a private /tmp (``HOME``, ``MPLCONFIGDIR`` and ``TMPDIR`` point into it), and
  a private /dev/shm, all three size-limited tmpfs that vanish with the sandbox
  however it ends. The connection folder on the host is the kernel's only until
  it has bound its sockets: then it is given back to root, so the kernel cannot
  write a byte more to the host's disk (and a killed worker's folder is removed
  by the grading command, see ``runtime_dir``);
- an unprivileged user id of its own (random, unused) and limits on address
  space, CPU time, processes/threads, file size and open files; a wall-clock
  limit per notebook, after which the whole sandbox is killed;
- its own pid namespace, started with ``--die-with-parent`` and
  ``--new-session``: when the kernel exits, is killed or the grader dies, every
  process the notebook started dies with it.

Without ``bwrap`` a kernel does not start (:class:`SandboxUnavailable`, saying
how to install it) unless the instructor opts out explicitly with
``c.SandboxProvisioner.allow_unsandboxed = True`` (``make grade UNSANDBOXED=1`` sets it;
the environment variable ``COURSE_GRADING_UNSANDBOXED`` that once did is refused with
that advice); the kernel then runs as before and every start logs a warning. :func:`preflight` makes the same check once, before
grading starts.
"""

from .boot import SETUP_FAILED, BootSpec
from .bwrap import (
    OPT_OUT_ENV,
    UNSANDBOXED_WARNING,
    SandboxUnavailable,
    check_bwrap,
    find_bwrap,
    opted_out,
    short_temp_dir,
)
from .manager import (
    PROVISIONER_NAME,
    SandboxedKernelManager,
    configured_kernel_manager,
    preflight,
    sandbox_of,
    sandbox_spec,
)
from .provisioner import UID_BASE, SandboxProvisioner

__all__ = [
    "OPT_OUT_ENV", "PROVISIONER_NAME", "SETUP_FAILED", "UID_BASE", "UNSANDBOXED_WARNING",
    "BootSpec", "SandboxProvisioner", "SandboxUnavailable", "SandboxedKernelManager", "check_bwrap",
    "configured_kernel_manager", "find_bwrap", "opted_out", "preflight", "sandbox_of", "sandbox_spec",
    "short_temp_dir",
]
