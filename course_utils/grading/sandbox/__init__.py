"""Running a submission's kernel in a bubblewrap sandbox while it is autograded.

Switched on in ``nbgrader_config.py`` for the grading command's ``Execute``
preprocessor (``TrackedExecute`` in :mod:`..execute`)::

    c.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    c.SandboxedKernelManager.memory_mb = 4096     # optional: the limits below
    c.SandboxedKernelManager.cpu_seconds = 300

That section, not ``c.Execute``, so that nbgrader's own commands (a student's
Validate button, whose copy of the course has no ``course_utils.grading``) never
try to import this module. nbgrader's ``Execute.__init__`` passes its kernel
manager as a keyword, which beats the config; the grading command applies the
configured class with :func:`configured_kernel_manager`. Each kernel then runs
under Debian's ``bwrap`` (bubblewrap), with

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
``c.SandboxedKernelManager.allow_unsandboxed = True`` or the environment
variable ``COURSE_GRADING_UNSANDBOXED=1``; the kernel then runs as before and
every start logs a warning. :func:`preflight` makes the same check once, before
grading starts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from traitlets import Bool, CaselessStrEnum, Integer, List, Unicode, default

from ...kernel import CourseKernelManager
from .boot import SETUP_FAILED, BootSpec

INSTALL_HINT = (
    "Install bubblewrap with `sudo apt-get install bubblewrap` (Debian/Ubuntu; "
    "`dnf install bubblewrap` on Fedora)"
)
OPT_OUT_ENV = "COURSE_GRADING_UNSANDBOXED"
OPT_OUT_HINT = (
    f"or, only if you accept that students' code runs with your rights, set {OPT_OUT_ENV}=1 "
    "(or c.SandboxedKernelManager.allow_unsandboxed = True)"
)
UNSANDBOXED_WARNING = (
    "!!! SANDBOX OFF: students' code runs UNSANDBOXED with the grader's rights: it can read the "
    "hidden tests, rewrite the gradebook, read other submissions and reach the network "
    f"({OPT_OUT_ENV} / SandboxedKernelManager.allow_unsandboxed) !!!"
)
INIT_SCRIPT = Path(__file__).with_name("boot.py")
COURSE_ROOT = Path(__file__).resolve().parents[3]
PACKAGE_DIR = Path(__file__).resolve().parents[2]
UID_BASE, UID_SPAN = 1_600_000_000, 100_000_000
"""Sandbox user ids: random in [UID_BASE, UID_BASE + UID_SPAN), far above any real account."""
SUBMISSION_MOUNT = "/.submission"
RUNTIME_ENV = "COURSE_SANDBOX_RUNTIME_DIR"
DEFAULT_ENV_KEEP = [
    "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ",
    "COURSE_NAMES_FILE", "NBGRADER_EXECUTION", "PYTHONHASHSEED", "MPLBACKEND",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "JPY_SESSION_NAME", "PYDEVD_DISABLE_FILE_VALIDATION",
]

log = logging.getLogger(__name__)
_CHECKED: dict[str, str] = {}
"""bwrap programs already checked in this process: name -> path."""


MAX_TEMP_BASE = 40
"""Longest temporary folder that leaves room for the Unix socket paths below it (108 bytes on
Linux), e.g. <base>/grade-run-<pid>-xxxxxxxx/nbsandbox-<pid>-xxxxxxxx/judge/judge.sock."""


def short_temp_dir() -> str:
    """The system's temporary folder, or /tmp when that is too long for socket paths below it."""
    base = tempfile.gettempdir()
    return base if len(base) <= MAX_TEMP_BASE or not os.path.isdir("/tmp") else "/tmp"


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def opted_out(allow_unsandboxed: bool = False) -> bool:
    return bool(allow_unsandboxed) or os.environ.get(OPT_OUT_ENV, "").strip().lower() in {
        "1", "true", "yes"}


def find_bwrap(name: str = "bwrap") -> str | None:
    return shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)


def check_bwrap(name: str = "bwrap") -> str:
    """The path of a ``bwrap`` that can build this module's sandbox, else :class:`SandboxUnavailable`."""
    path = find_bwrap(name)
    if path is not None and os.geteuid() != 0:
        raise SandboxUnavailable(
            "the grading sandbox runs bubblewrap as root (it gives each kernel an unprivileged user id "
            "of its own): run the grading command as root, e.g. with sudo, "
            f"{OPT_OUT_HINT}.")
    if path is None:
        raise SandboxUnavailable(
            f"the grading sandbox needs bubblewrap, and `{name}` is not installed. "
            f"{INSTALL_HINT}, {OPT_OUT_HINT}.")
    probe = [path, "--ro-bind", "/", "/", "--unshare-net", "--unshare-pid", "--unshare-ipc",
             "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev",
             "--tmpfs", "/tmp", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SandboxUnavailable(f"bubblewrap ({path}) could not be run: {exc}. {OPT_OUT_HINT}.") from None
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"bubblewrap ({path}) cannot create a sandbox here: {done.stderr.strip() or done.returncode}. "
            "It needs root or unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1); "
            f"inside a container, run it with --privileged. {OPT_OUT_HINT}.")
    return path


def configured_kernel_manager(preprocessor) -> type | None:
    """The ``kernel_manager_class`` set in the config for an ``Execute`` preprocessor (or None).

    nbgrader's ``Execute.__init__`` passes ``AsyncKernelManager`` as a keyword,
    which wins over ``c.Execute.kernel_manager_class``; the grading command
    calls this after creating its preprocessor and applies the result.
    """
    from traitlets.utils.importstring import import_item

    config = preprocessor.config
    for cls in type(preprocessor).__mro__:
        section = cls.__name__
        if section in config and "kernel_manager_class" in config[section]:
            value = config[section]["kernel_manager_class"]
            return import_item(value) if isinstance(value, str) else value
    return None


def preflight(config=None) -> str:
    """Check once, before grading, that the configured sandbox can run.

    Returns a line for the log ("sandbox: on ...", "sandbox: OFF ..."), or
    raises :class:`SandboxUnavailable` with the install instructions.
    """
    from traitlets.config import Config

    config = config if config is not None else Config()
    name = None
    for section in ("TrackedExecute", "Execute", "ExecutePreprocessor", "NotebookClient"):
        if section in config and "kernel_manager_class" in config[section]:
            name = config[section]["kernel_manager_class"]
            break
    cls = name if isinstance(name, type) else None
    if isinstance(name, str):
        from traitlets.utils.importstring import import_item
        cls = import_item(name)
    if cls is None or not issubclass(cls, SandboxedKernelManager):
        return "sandbox: not configured (c.TrackedExecute.kernel_manager_class): kernels run unsandboxed"
    km = cls(config=config)
    try:
        path = check_bwrap(km.bwrap)
    except SandboxUnavailable:
        if not opted_out(km.allow_unsandboxed):
            raise
        log.warning(UNSANDBOXED_WARNING)
        return UNSANDBOXED_WARNING
    return (f"sandbox: on ({path}; per notebook: {km.memory_mb} MB, {km.cpu_seconds} s CPU, "
            f"{km.wall_seconds} s wall clock, {km.max_processes} processes/threads, no network)")


def _is_ancestor_or_same(path: Path, other: Path) -> bool:
    try:
        other.relative_to(path)
        return True
    except ValueError:
        return False


class _Mounts:
    """bwrap mount arguments, creating each mount point's missing parents with mode 0755.

    (bwrap would make missing parents 0700, which the unprivileged kernel could not pass.)
    Parents inside a read-only bind exist already; elsewhere (the sandbox's own root,
    a tmpfs) they are created.
    """

    def __init__(self, args: list[str]):
        self.args = args
        self.fixed: list[str] = []
        self.made: set[str] = set()

    def _inside_fixed(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.fixed)

    def add(self, kind: str, src: str | None, dest: str, size_mb: int | None = None) -> None:
        parents = []
        parent = os.path.dirname(dest)
        while parent not in ("/", "") and parent not in self.made and not self._inside_fixed(parent):
            parents.append(parent)
            parent = os.path.dirname(parent)
        for path in reversed(parents):
            self.args += ["--perms", "0755", "--dir", path]
            self.made.add(path)
        if size_mb is not None:
            self.args += ["--size", str(size_mb << 20)]
        self.args += [kind, *([src] if src is not None else []), dest]
        if kind != "--tmpfs":
            self.fixed.append(dest)


def _running(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


class SandboxedKernelManager(CourseKernelManager):
    """The course's kernel manager, its kernels inside bubblewrap (see the module docstring)."""

    memory_mb = Integer(4096, config=True, help="Address-space limit of each process in the sandbox (MB).")
    cpu_seconds = Integer(300, config=True, help="CPU-time limit of the kernel process (s); SIGXCPU after it.")
    wall_seconds = Integer(
        600, config=True,
        help="Wall-clock limit per kernel, i.e. per notebook (s); the sandbox is killed after it.")
    max_processes = Integer(
        256, config=True,
        help="Processes and threads the sandbox's user may have at once (RLIMIT_NPROC).")
    scratch_mb = Integer(512, config=True, help="Size of the scratch working directory and of /tmp (MB each).")
    file_mb = Integer(512, config=True, help="Largest file the kernel may write (MB).")
    open_files = Integer(1024, config=True, help="Open files per process.")
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap program.")
    allow_unsandboxed = Bool(
        False, config=True,
        help=f"Run kernels without a sandbox when bwrap is missing (also: {OPT_OUT_ENV}=1). Unsafe.")
    read_only_paths = List(
        Unicode(), config=True,
        help="More host paths the notebooks may read (bound read-only at the same place).")
    env_keep = List(
        Unicode(), DEFAULT_ENV_KEEP, config=True,
        help="Environment variables passed to the kernel; the rest of the grader's environment is not.")
    hide_cwd_under = List(
        Unicode(), config=True,
        help="The working directory is not copied into the sandbox when it contains one of these "
             "folders (default: the course folder and the home folder).")

    transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)
    runtime_dir = Unicode(
        config=True,
        help=f"Host folder for the kernels' connection folders (default: ${RUNTIME_ENV}, else the "
             "system's temporary folder). Each is named nbsandbox-<pid of this process>-..., so "
             "the grading command can remove those of a worker it had to kill.")
    seal_seconds = Integer(
        60, config=True,
        help="How long to wait for the kernel to bind its sockets before its connection folder is "
             "taken back (it is taken back then anyway, and a kernel that had not bound fails to start).")

    @default("runtime_dir")
    def _runtime_default(self):
        return os.environ.get(RUNTIME_ENV) or short_temp_dir()

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._sandbox_dir: str | None = None
        self._timer: threading.Timer | None = None
        self._why: str | None = None
        self.sandbox_uid: int | None = None
        """The user id the kernel runs as (unique to this kernel); None before start or unsandboxed."""
        self.sandboxed = False
        self.sandbox_path: str | None = None
        """The host folder of the kernel's connection file and sockets (removed at shutdown)."""
        self.returncode: int | None = None
        """bwrap's exit status once the kernel has ended (128 + signal when a signal killed the kernel)."""

    @default("hide_cwd_under")
    def _hide_default(self):
        return [str(COURSE_ROOT), str(Path.home()), "/"]

    # ------------------------------------------------------------------ start

    async def _async_pre_start_kernel(self, **kw):
        self._why = None
        self.returncode = None
        if self._sandbox_dir:  # a restart: the previous kernel is gone
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
        self._sandbox_dir = self.sandbox_path = tempfile.mkdtemp(
            prefix=f"nbsandbox-{os.getpid()}-", dir=self.runtime_dir)
        self.connection_file = os.path.join(self._sandbox_dir, "kernel.json")
        if self.transport == "ipc":
            self.ip = os.path.join(self._sandbox_dir, "kernel")
        return await super()._async_pre_start_kernel(**kw)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        try:
            await self._launch_sandboxed(kernel_cmd, **kw)
        except BaseException:
            if self._sandbox_dir:
                shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            raise

    async def _launch_sandboxed(self, kernel_cmd, **kw):
        bwrap = _CHECKED.get(self.bwrap)
        if bwrap is None:
            try:
                bwrap = _CHECKED[self.bwrap] = check_bwrap(self.bwrap)
            except SandboxUnavailable:
                if not opted_out(self.allow_unsandboxed):
                    raise
        if bwrap is None:
            self.log.warning(UNSANDBOXED_WARNING)
            print(UNSANDBOXED_WARNING, file=sys.stderr, flush=True)
            self.sandboxed = False
        else:
            kernel_cmd, kw = self._wrap(bwrap, kernel_cmd, kw)
            self.sandboxed = True
        await super()._async_launch_kernel(kernel_cmd, **kw)
        if self.sandboxed:
            await self._seal()
        if self.wall_seconds:
            self._timer = threading.Timer(self.wall_seconds, self._wall_clock_expired)
            self._timer.daemon = True
            self._timer.start()

    def _wrap(self, bwrap: str, kernel_cmd: list[str], kw: dict) -> tuple[list[str], dict]:
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        self.sandbox_uid = uid
        box = self._sandbox_dir
        assert box is not None
        os.chmod(box, 0o700)
        for path in (box, self.connection_file):
            os.chown(path, uid, uid)

        source = kw.pop("cwd", None)
        cwd = os.path.realpath(source) if source else "/tmp/work"
        submission = source and os.path.isdir(source) and self._may_copy(Path(cwd), Path(box))
        if source and not submission:
            self.log.warning("sandbox: %s is not copied into the sandbox (it holds the course folder, "
                             "a home folder or /); the kernel starts in an empty folder", cwd)

        env = {k: v for k, v in (kw.pop("env", None) or os.environ).items() if k in self.env_keep}
        home = "/tmp/home"
        env.update({
            "HOME": home, "TMPDIR": "/tmp", "USER": "student", "LOGNAME": "student",
            "MPLCONFIGDIR": f"{home}/.config/matplotlib", "PYTHONNOUSERSITE": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        })

        args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        mounts = _Mounts(args)
        for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                mounts.add("--ro-bind", top, top)
        for top in ("/usr", "/etc", "/sys/devices/system/cpu", "/var/cache/fontconfig"):
            if os.path.isdir(top):
                mounts.add("--ro-bind", top, top)
        mounts.add("--proc", None, "/proc")
        mounts.add("--dev", None, "/dev")
        mounts.add("--tmpfs", None, "/tmp", size_mb=self.scratch_mb)
        mounts.add("--tmpfs", None, "/dev/shm", size_mb=64)
        mounts.add("--tmpfs", None, cwd, size_mb=self.scratch_mb)
        for path in self._readable_paths():
            mounts.add("--ro-bind", path, path)
        mounts.add("--bind", box, box)
        spec_copy = []
        mpl_cache = self._matplotlib_cache()
        if mpl_cache:
            mounts.add("--ro-bind", mpl_cache, "/.mplcache")
            spec_copy.append(["/.mplcache", f"{env['MPLCONFIGDIR']}/{Path(mpl_cache).name}"])
        if submission:
            mounts.add("--ro-bind", cwd, SUBMISSION_MOUNT)
        spec = BootSpec(
            uid=uid, gid=uid, cwd=cwd, submission=SUBMISSION_MOUNT if submission else None,
            copy_files=spec_copy, make_dirs=[env["MPLCONFIGDIR"]], owned=[cwd, home],
            sticky=["/tmp", "/dev/shm"], memory_mb=self.memory_mb, cpu_seconds=self.cpu_seconds,
            max_processes=self.max_processes, file_mb=self.file_mb, open_files=self.open_files)
        args += ["--chdir", "/", "--", sys.executable, "-I", "-S", str(INIT_SCRIPT), spec.to_json(), "--",
                 *kernel_cmd]
        kw["env"] = env
        kw["cwd"] = box
        self.log.debug("sandbox: %s", args)
        return args, kw

    async def _seal(self) -> None:
        """Give the connection folder back to root once the kernel has bound its sockets.

        It is the only host folder the kernel could write to, and ipykernel needs it only
        to create its Unix sockets at start-up (no code of the notebook runs before that:
        cells are sent once the kernel answers on those sockets). Root, which the grader
        is, still connects through it.
        """
        import asyncio
        import time

        box = self._sandbox_dir
        if not box:
            return
        ports = [self.shell_port, self.iopub_port, self.stdin_port, self.hb_port, self.control_port]
        sockets = [f"{self.ip}-{port}" for port in ports] if self.transport == "ipc" else []
        process = getattr(self.provisioner, "process", None)
        deadline = time.monotonic() + self.seal_seconds
        while sockets and time.monotonic() < deadline:
            if all(os.path.exists(path) for path in sockets):
                break
            if process is not None and process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        for path in (box, self.connection_file):
            try:
                os.chown(path, 0, 0)
            except OSError:
                pass
        # Traversable, not listable: the kernel still reaches the judge's socket inside (judge/).
        os.chmod(box, 0o711)
        # ipykernel reads its connection file again right after binding (to merge in the ports):
        # it must stay readable, or a kernel sealed at that moment dies before it answers.
        with contextlib.suppress(OSError):
            os.chmod(self.connection_file, 0o644)

    def _may_copy(self, cwd: Path, box: Path) -> bool:
        hidden = [Path(p).resolve() for p in self.hide_cwd_under] + [box]
        return not any(_is_ancestor_or_same(cwd, p) for p in hidden)

    def _readable_paths(self) -> list[str]:
        """Host paths bound read-only at the same place: Python, the venv, course_utils, the data."""
        paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                 str(Path(os.path.realpath(sys.executable)).parents[1]), str(PACKAGE_DIR)}
        names = os.environ.get("COURSE_NAMES_FILE")
        for candidate in ([names] if names else []) + [str(COURSE_ROOT / "data" / "names.txt")]:
            if os.path.isfile(candidate):
                paths.update({os.path.realpath(candidate), os.path.abspath(candidate)})
        paths.update(self.read_only_paths)
        system = ("/usr", "/etc", "/bin", "/lib")
        chosen = []
        for path in sorted({os.path.abspath(p) for p in paths if p and os.path.exists(p)}, key=len):
            if any(path == s or path.startswith(s + "/") for s in system):
                continue
            if any(path == c or path.startswith(c + "/") for c in chosen):
                continue
            chosen.append(path)
        return chosen

    @staticmethod
    def _matplotlib_cache() -> str | None:
        base = os.environ.get("MPLCONFIGDIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
        found = sorted(Path(base).glob("fontlist-v*.json")) if os.path.isdir(base) else []
        return str(found[-1]) if found else None

    # ------------------------------------------------------------------ limits and shutdown

    def _wall_clock_expired(self) -> None:
        self._timer = None
        process = getattr(self.provisioner, "process", None)
        if process is None or process.poll() is not None:
            return  # already over (and its pid may belong to someone else by now)
        self._why = (f"the sandbox's wall-clock limit ({self.wall_seconds} s per notebook) "
                     "was reached and the kernel was killed")
        self.log.warning("sandbox: %s", self._why)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # bwrap leads its process group
        except OSError:
            process.kill()

    async def _async_interrupt_kernel(self):
        # A signal to the process group would reach bwrap (and kill the sandbox), not
        # the kernel in its own session: interrupt with a message on the control channel.
        if self.sandboxed and self.has_kernel:
            msg = self.session.msg("interrupt_request", content={})
            self._connect_control_socket()
            self.session.send(self._control_socket, msg)
            return
        await super()._async_interrupt_kernel()

    async def _async_cleanup_resources(self, restart: bool = False):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        await super()._async_cleanup_resources(restart=restart)
        if self._sandbox_dir and not restart:
            shutil.rmtree(self._sandbox_dir, ignore_errors=True)
            self._sandbox_dir = None

    async def _async_is_alive(self) -> bool:
        alive = await super()._async_is_alive()
        self._note_returncode()
        return alive

    async def _async_kill_kernel(self, restart: bool = False):
        self._note_returncode()
        await super()._async_kill_kernel(restart=restart)

    def stop_strays(self) -> int:
        """Kill every process the notebook left running in the sandbox, but the kernel.

        Called between cells: a notebook of this course never needs a process to outlive
        its cell, and a fork bomb's children would otherwise hold the sandbox's process
        limit (and the CPU) until the notebook ends. bwrap runs an init process in the
        sandbox's pid namespace, whose first child is the kernel; anything else under it
        is a stray. Returns how many were killed.
        """
        import psutil

        process = getattr(self.provisioner, "process", None)
        if not self.sandboxed or process is None or process.poll() is not None:
            return 0
        stopped = 0
        for _round in range(10):  # a fork bomb's children may fork while they are being killed
            try:
                inits = psutil.Process(process.pid).children()
                below = inits[0].children() if len(inits) == 1 else []
                if not below:
                    return stopped
                kernel = min(below, key=lambda p: (p.create_time(), p.pid))
                # Zombies are dead already (only their parent, the kernel, could reap them).
                strays = [p for p in inits[0].children(recursive=True)
                          if p.pid != kernel.pid and _running(p)]
            except psutil.Error:
                return stopped
            if not strays:
                return stopped
            for stray in strays:
                try:
                    stray.kill()
                except psutil.Error:
                    pass
            psutil.wait_procs(strays, timeout=2)
            stopped += len(strays)
        return stopped

    def _note_returncode(self) -> None:
        process = getattr(self.provisioner, "process", None)
        if process is not None and process.poll() is not None and self.returncode is None:
            self.returncode = process.returncode

    # AsyncKernelManager binds its public coroutines to KernelManager's functions
    # (``interrupt_kernel = KernelManager._async_interrupt_kernel``); point them at ours.
    interrupt_kernel = _async_interrupt_kernel
    cleanup_resources = _async_cleanup_resources
    is_alive = _async_is_alive

    def exit_reason(self) -> str | None:
        """Why the sandboxed kernel died, in words for an instructor; None when no limit explains it.

        bwrap exits with 128 + the signal that killed the kernel inside.
        """
        if self._why:
            return self._why
        self._note_returncode()
        code = self.returncode
        if not self.sandboxed or code is None:
            return None
        if code == 128 + signal.SIGXCPU:
            return f"the kernel used up the sandbox's CPU-time limit ({self.cpu_seconds} s) and was stopped"
        if code == 128 + signal.SIGKILL:
            return (f"the kernel was killed inside the sandbox: past its CPU-time limit ({self.cpu_seconds} s) "
                    "or out of memory")
        if code == SETUP_FAILED:
            return "the sandbox could not start the kernel (its message is in the grading log)"
        if code - 128 in (signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS):
            return (f"the kernel crashed ({signal.Signals(code - 128).name}); in the sandbox the usual "
                    f"cause is its memory limit ({self.memory_mb} MB)")
        return None
