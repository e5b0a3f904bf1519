"""The kernel provisioner that starts a submission's kernel inside bubblewrap, with the sandbox's limits.

A jupyter_client kernel provisioner: it owns the kernel's launch, its process and its
clean-up, so the kernel manager stays jupyter_client's. Its limits are configured as
``c.SandboxProvisioner.<limit>`` (see the package docstring for what the sandbox is).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Integer, List, Unicode, default

from ... import COURSE_ROOT
from .boot import SETUP_FAILED, BootSpec
from .bwrap import (
    UNSANDBOXED_WARNING,
    Mounts,
    SandboxUnavailable,
    check_bwrap,
    opted_out,
    short_temp_dir,
)

INIT_SCRIPT = Path(__file__).with_name("boot.py")
PACKAGE_DIR = Path(__file__).resolve().parents[2]
UID_BASE, UID_SPAN = 1_600_000_000, 100_000_000
"""Sandbox user ids: random in [UID_BASE, UID_BASE + UID_SPAN), far above any real account."""
SUBMISSION_MOUNT = "/.submission"
KERNEL_SIDE = ("__init__.py", "judge/__init__.py", "judge/kernel.py", "judge/wire.py", "sandbox/boot.py")
"""The files of ``course_utils/grading`` the sandbox shows (the judge's kernel side and this
sandbox's first program); the rest of the grader (references, authoring, templates) is not there."""
MAX_SUBMISSION_FILES = 1000
"""Files of the working folder bound into the sandbox at most (nbgrader copies the assignment's
released files there; a course ships a handful)."""
DEFAULT_ENV_KEEP = [
    "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ",
    "COURSE_NAMES_FILE", "NBGRADER_EXECUTION", "PYTHONHASHSEED", "MPLBACKEND",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "JPY_SESSION_NAME", "PYDEVD_DISABLE_FILE_VALIDATION",
]
_CHECKED: dict[str, str] = {}
"""bwrap programs already checked in this process: name -> path."""


def _is_ancestor_or_same(path: Path, other: Path) -> bool:
    try:
        other.relative_to(path)
        return True
    except ValueError:
        return False


def _running(process) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _strays(init, kernel) -> list:
    """The processes under the sandbox's init that still run, but the kernel (zombies are dead
    already: only their parent could reap them)."""
    import psutil

    try:
        return [p for p in init.children(recursive=True) if p.pid != kernel.pid and _running(p)]
    except psutil.Error:
        return []


def _wait_ended(processes: list, seconds: float) -> None:
    """Wait, ``seconds`` at most, until every one of ``processes`` has ended (a zombie counts as
    ended: psutil.wait_procs would wait for the reaping, which only their parent can do)."""
    deadline = time.monotonic() + seconds
    while any(_running(p) for p in processes) and time.monotonic() < deadline:
        time.sleep(0.01)


WATCH_SECONDS = 0.5
"""How often the per-notebook limits are checked."""


@dataclass(frozen=True)
class Usage:
    """What a kernel's process tree has used: the measure of its time limits, which a busy machine
    does not change (wall-clock time it does)."""

    cpu: float
    """CPU seconds of every process in the tree, and of the children they reaped."""
    waits: dict[int, int] | None
    """Thread id -> nanoseconds it spent runnable but waiting for a CPU (``/proc/*/schedstat``);
    None where the kernel does not report it."""


def tree_usage(pid: int) -> Usage | None:
    """The :class:`Usage` of process ``pid`` and its descendants; None when it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        # psutil lists a parent before its children: a child reaped while the tree is read is then
        # missed by this one reading (its parent was read before), never counted twice.
        tree = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    cpu, waits = 0.0, {}
    for process in tree:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        cpu += times.user + times.system + times.children_user + times.children_system
        if waits is not None:
            waits = _add_waits(process.pid, waits)
    return Usage(cpu, waits)


def _add_waits(pid: int, waits: dict[int, int]) -> dict[int, int] | None:
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return waits
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                waits[int(tid)] = int(f.read().split()[1])
        except FileNotFoundError:
            if not os.path.exists("/proc/self/schedstat"):
                return None  # a kernel without schedstats
        except (OSError, ValueError, IndexError):
            continue
    return waits


class SandboxProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, its kernel started under bwrap with the limits below."""

    memory_mb = Integer(4096, config=True, help="Address-space limit of each process in the sandbox (MB).")
    cpu_seconds = Integer(
        300, config=True,
        help="CPU seconds per notebook: the kernel and every process it starts, together (reaped ones "
             "included); the sandbox is killed past it. Each process also has it as RLIMIT_CPU.")
    wall_seconds = Integer(
        3000, config=True,
        help="Wall-clock backstop per notebook (s), against a kernel stuck without using CPU; far "
             "larger than cpu_seconds, since a busy machine stretches CPU seconds into more wall clock.")
    max_processes = Integer(
        256, config=True,
        help="Processes and threads the sandbox's user may have at once (RLIMIT_NPROC).")
    scratch_mb = Integer(512, config=True, help="Size of the scratch working directory and of /tmp (MB each).")
    file_mb = Integer(512, config=True, help="Largest file the kernel may write (MB).")
    open_files = Integer(1024, config=True, help="Open files per process.")
    bwrap = Unicode("bwrap", config=True, help="The bubblewrap program.")
    allow_unsandboxed = Bool(
        False, config=True,
        help="Run kernels without a sandbox when bwrap is missing (also: COURSE_GRADING_UNSANDBOXED=1). "
             "Unsafe.")
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
    runtime_dir = Unicode(
        config=True,
        help="Host folder for the kernels' connection folders (default: the system's temporary "
             "folder; the grading command gives its workers one per run). Each is named "
             "nbsandbox-<pid of this process>-..., so the grading command can remove those of a "
             "worker it had to kill.")
    seal_seconds = Integer(
        60, config=True,
        help="How long to wait for the kernel to bind its sockets before its connection folder is "
             "taken back (it is taken back then anyway, and a kernel that had not bound fails to start).")

    @default("runtime_dir")
    def _runtime_default(self):
        return short_temp_dir()

    @default("hide_cwd_under")
    def _hide_default(self):
        return [str(COURSE_ROOT), str(Path.home()), "/"]

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._watch_stop: threading.Event | None = None
        self._why: str | None = None
        self.sandboxed = False
        self.sandbox_uid: int | None = None
        """The user id the kernel runs as (unique to this kernel); None before start or unsandboxed."""
        self._kernel = None
        """The kernel's psutil.Process, once stop_strays has looked for it."""
        self.sandbox_path: str | None = None
        """The host folder of the kernel's connection file and sockets (removed at clean-up)."""
        self.returncode: int | None = None
        """bwrap's exit status once the kernel has ended (128 + signal when a signal killed the kernel)."""

    # ------------------------------------------------------------------ launch

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        self._why = self.returncode = self.sandbox_uid = self._kernel = None
        self.sandboxed = False
        if self.sandbox_path:  # a restart: the previous kernel is gone
            shutil.rmtree(self.sandbox_path, ignore_errors=True)
        box = self.sandbox_path = tempfile.mkdtemp(prefix=f"nbsandbox-{os.getpid()}-", dir=self.runtime_dir)
        km = self.parent
        try:
            # The connection file and the ipc sockets live in the one folder the kernel may write to.
            km.connection_file = os.path.join(box, "kernel.json")
            if km.transport == "ipc":
                km.ip = os.path.join(box, "kernel")
            kwargs = await super().pre_launch(**kwargs)
            bwrap = self._bwrap()
            if bwrap is None:
                self.log.warning(UNSANDBOXED_WARNING)
                print(UNSANDBOXED_WARNING, file=sys.stderr, flush=True)
            else:
                kwargs = self._wrap(bwrap, kwargs)
                self.sandboxed = True
        except BaseException:
            shutil.rmtree(box, ignore_errors=True)
            raise
        return kwargs

    def _bwrap(self) -> str | None:
        """The checked bwrap program, or None when the instructor opted out and it cannot run."""
        if self.bwrap not in _CHECKED:
            try:
                _CHECKED[self.bwrap] = check_bwrap(self.bwrap)
            except SandboxUnavailable:
                if not opted_out(self.allow_unsandboxed):
                    raise
                return None
        return _CHECKED[self.bwrap]

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        try:
            info = await super().launch_kernel(cmd, **kwargs)
            if self.sandboxed:
                await self._seal()
        except BaseException:
            shutil.rmtree(self.sandbox_path, ignore_errors=True)
            raise
        self._watch_stop = threading.Event()
        threading.Thread(target=self._watch_limits, args=(self._watch_stop, self.process),
                         name="sandbox-limits", daemon=True).start()
        return info

    def _wrap(self, bwrap: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """The launch arguments with the kernel command inside bwrap, its environment filtered."""
        uid = UID_BASE + secrets.randbelow(UID_SPAN)
        self.sandbox_uid = uid
        box = self.sandbox_path
        connection_file = self.parent.connection_file
        os.chmod(box, 0o700)
        for path in (box, connection_file):
            os.chown(path, uid, uid)

        source = kwargs.pop("cwd", None)
        cwd = os.path.realpath(source) if source else "/tmp/work"
        copied = source and os.path.isdir(source) and self._may_copy(Path(cwd), Path(box))
        if source and not copied:
            self.log.warning("sandbox: %s is not copied into the sandbox (it holds the course folder, "
                             "a home folder or /); the kernel starts in an empty folder", cwd)
        files = self._submission_files(cwd) if copied else []

        env = {k: v for k, v in (kwargs.pop("env", None) or os.environ).items() if k in self.env_keep}
        home = "/tmp/home"
        env.update({
            "HOME": home, "TMPDIR": "/tmp", "USER": "student", "LOGNAME": "student",
            "MPLCONFIGDIR": f"{home}/.config/matplotlib", "PYTHONNOUSERSITE": "1",
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        })

        args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
        mounts = Mounts(args)
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
        readable = self._readable_paths()
        for path in readable:
            mounts.add("--ro-bind", path, path)
        self._hide_grader(mounts, readable)
        mounts.add("--bind", box, box)
        spec_copy = []
        mpl_cache = self._matplotlib_cache()
        if mpl_cache:
            mounts.add("--ro-bind", mpl_cache, "/.mplcache")
            spec_copy.append(["/.mplcache", f"{env['MPLCONFIGDIR']}/{Path(mpl_cache).name}"])
        # File by file, never the folder: nbgrader autogrades in a folder that also holds the
        # sanitised notebook (its hidden tests restored) and the assignment's other graded notebooks.
        for option, relative, target in files:
            source = target if option == "--symlink" else None if option == "--dir" else os.path.join(cwd, relative)
            mounts.add(option, source, f"{SUBMISSION_MOUNT}/{relative}")
        spec = BootSpec(
            uid=uid, gid=uid, cwd=cwd, submission=SUBMISSION_MOUNT if files else None,
            copy_files=spec_copy, make_dirs=[env["MPLCONFIGDIR"]], owned=[cwd, home],
            sticky=["/tmp", "/dev/shm"], limits=self.rlimits())
        args += ["--chdir", "/", "--", sys.executable, "-I", "-S", str(INIT_SCRIPT), spec.to_json(), "--",
                 *kwargs["cmd"]]
        self.log.debug("sandbox: %s", args)
        return {**kwargs, "cmd": args, "env": env, "cwd": box}

    async def _seal(self) -> None:
        """Give the connection folder back to root once the kernel has bound its sockets.

        It is the only host folder the kernel could write to, and ipykernel needs it only
        to create its Unix sockets at start-up (no code of the notebook runs before that:
        cells are sent once the kernel answers on those sockets). Root, which the grader
        is, still connects through it.
        """
        box, info = self.sandbox_path, self.connection_info
        names = ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")
        sockets = [f"{info['ip']}-{info[n]}" for n in names] if info.get("transport") == "ipc" else []
        deadline = time.monotonic() + self.seal_seconds
        while sockets and time.monotonic() < deadline:
            if all(os.path.exists(path) for path in sockets):
                break
            if self.process is not None and self.process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        connection_file = self.parent.connection_file
        # Modes first, owner second: ipykernel stats and reads its connection file right after
        # binding (to merge in the ports), so at no instant may the folder be untraversable or
        # the file unreadable to the kernel; chown keeps these modes. Traversable, not listable:
        # the kernel still reaches the judge's socket inside (judge/).
        os.chmod(box, 0o711)
        with contextlib.suppress(OSError):
            os.chmod(connection_file, 0o644)
        for path in (box, connection_file):
            with contextlib.suppress(OSError):
                os.chown(path, 0, 0)

    def rlimits(self) -> dict[str, list[int]]:
        """The resource limits of every process in the sandbox: name in :mod:`resource` -> [soft, hard]."""
        mb = 1 << 20
        return {
            "RLIMIT_AS": [self.memory_mb * mb] * 2,
            "RLIMIT_CPU": [self.cpu_seconds, self.cpu_seconds + 5],  # SIGXCPU first, SIGKILL 5 s later
            "RLIMIT_NPROC": [self.max_processes] * 2,
            "RLIMIT_FSIZE": [self.file_mb * mb] * 2,
            "RLIMIT_NOFILE": [self.open_files] * 2,
            "RLIMIT_CORE": [0, 0],
        }

    def _may_copy(self, cwd: Path, box: Path) -> bool:
        hidden = [Path(p).resolve() for p in self.hide_cwd_under] + [box]
        return not any(_is_ancestor_or_same(cwd, p) for p in hidden)

    def _submission_files(self, folder: str) -> list[tuple[str, str, str | None]]:
        """What of the kernel's working folder it may have: (bwrap option, path in it, link target).

        The folder is nbgrader's ``autograded/<student>/<assignment>/``: the files released with
        the assignment (copied from its source folder) and the notebooks being graded, written
        there with their hidden tests. Folders, regular files and links (as links) are shown,
        never a notebook: the one being graded reaches the kernel cell by cell, its test cells
        never; a student's other files were left out when the submission was read.
        """
        found: list[tuple[str, str, str | None]] = []
        for root, dirs, names in os.walk(folder):
            entries = [(name, True) for name in dirs if name != ".ipynb_checkpoints"]
            entries += [(name, False) for name in names if not name.endswith(".ipynb")]
            dirs[:] = []
            for name, is_dir in sorted(entries):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, folder)
                if len(found) == MAX_SUBMISSION_FILES:
                    self.log.warning("sandbox: only the first %d files of %s are copied into the sandbox",
                                     MAX_SUBMISSION_FILES, folder)
                    return found
                if os.path.islink(path):
                    found.append(("--symlink", relative, os.readlink(path)))
                elif is_dir:
                    found.append(("--dir", relative, None))
                    dirs.append(name)
                elif os.path.isfile(path):
                    found.append(("--ro-bind", relative, None))
        return found

    @staticmethod
    def _hide_grader(mounts: Mounts, readable: list[str]) -> None:
        """Of ``course_utils/grading``, only :data:`KERNEL_SIDE` (and their bytecode) in the sandbox."""
        package = str(PACKAGE_DIR)
        if not any(package == p or package.startswith(p + "/") for p in readable):
            return
        grading = PACKAGE_DIR / "grading"
        mounts.add("--tmpfs", None, str(grading), size_mb=1)
        for relative in KERNEL_SIDE:
            source = grading / relative
            for path in (source, Path(importlib.util.cache_from_source(str(source)))):
                if path.is_file():
                    mounts.add("--ro-bind", str(path), str(path))

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

    # ------------------------------------------------------------------ running, limits, the end

    async def poll(self) -> int | None:
        code = await super().poll()
        if self.process is not None and code is not None and self.returncode is None:
            self.returncode = code  # wait() forgets the process once it is reaped
        return code

    async def kill(self, restart: bool = False) -> None:
        await self.poll()  # a kernel a limit stopped keeps its own exit status, not our SIGKILL's
        await super().kill(restart=restart)

    async def cleanup(self, restart: bool = False) -> None:
        if self._watch_stop is not None:
            self._watch_stop.set()
            self._watch_stop = None
        await super().cleanup(restart=restart)
        if self.sandbox_path and not restart:
            shutil.rmtree(self.sandbox_path, ignore_errors=True)

    def usage(self) -> Usage | None:
        """What the kernel's process tree has used so far (None once it has ended)."""
        process = self.process
        if process is None or process.poll() is not None:
            return None
        return tree_usage(process.pid)

    def _watch_limits(self, stop: threading.Event, process) -> None:
        """The per-notebook limits, checked twice a second until clean-up: the CPU seconds of the
        whole process tree (RLIMIT_CPU bounds each process alone) and the wall-clock backstop."""
        started = time.monotonic()
        while not stop.wait(WATCH_SECONDS):
            if process.poll() is not None:
                return  # over (and its pid may belong to someone else by now)
            if self.wall_seconds and time.monotonic() - started >= self.wall_seconds:
                self.stop_sandbox(f"the sandbox's wall-clock limit ({self.wall_seconds} s per notebook) "
                          "was reached and the kernel was killed")
                return
            used = tree_usage(process.pid)
            if self.cpu_seconds and used is not None and used.cpu >= self.cpu_seconds:
                self.stop_sandbox(f"the kernel and the processes it started used up the sandbox's CPU-time limit "
                          f"({self.cpu_seconds} s) per notebook and were stopped")
                return

    def stop_sandbox(self, why: str) -> None:
        """Kill the whole sandbox now, ``why`` becoming the kernel's :meth:`exit_reason`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        self._why = why
        self.log.warning("sandbox: %s", why)
        try:
            os.killpg(process.pid, signal.SIGKILL)  # bwrap leads its process group
        except OSError:
            process.kill()

    def stop_strays(self) -> int:
        """Kill every process the notebook left running in the sandbox, but the kernel.

        Called after each code cell: a notebook of this course never needs a process to
        outlive its cell, and a fork bomb's children would otherwise hold the sandbox's
        process limit (and the CPU) until the notebook ends. bwrap runs an init process in
        the sandbox's pid namespace, whose eldest child is the kernel; anything else under
        it is a stray. Returns how many were killed.

        Every process of the sandbox's user is stopped at once first (``kill -STOP -1`` as
        that user, which no fork outruns), the strays are killed, and the kernel and the
        init are let go on by the grader itself. Killed as they were read, strays that fork
        and exit had moved on to new pids, and a busy machine let some outlive the call.
        """
        import psutil

        process = self.process
        if not self.sandboxed or process is None or process.poll() is not None:
            return 0
        try:
            (init,) = psutil.Process(process.pid).children()
        except (psutil.Error, ValueError):
            return 0
        kernel = self._kernel_of(init)
        if kernel is None or not _strays(init, kernel):
            return 0
        self._stop_sandbox_user()
        killed: set[int] = set()
        try:
            # More than one round: a fork under way when the stop came ends with a child, stopped
            # too, that the first reading missed (and strays fork on if the stop could not be sent).
            for _round in range(10):
                strays = _strays(init, kernel)
                if not strays:
                    break
                for stray in strays:
                    with contextlib.suppress(psutil.Error):
                        stray.kill()
                killed.update(stray.pid for stray in strays)
                _wait_ended(strays, seconds=2)
        finally:
            self._resume(init, kernel)
        return len(killed)

    def _stop_sandbox_user(self) -> None:
        """SIGSTOP every process of the sandbox's user (its uid is this kernel's alone).

        Only a process of that user may signal them all in one system call; the grader has
        threads, so that process is a fresh program (subprocess forks and drops to the user
        in C) rather than a fork of the grader."""
        import subprocess

        try:
            done = subprocess.run(["/bin/sh", "-c", "kill -s STOP -- -1"], user=self.sandbox_uid,
                                  group=self.sandbox_uid, extra_groups=[], env={}, cwd="/",
                                  capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError) as e:
            done = e
        if not isinstance(done, subprocess.CompletedProcess) or done.returncode:
            self.log.warning("sandbox: could not stop the sandbox's processes at once (%s); "
                             "killing its strays as they are found", getattr(done, "stderr", done))

    @staticmethod
    def _resume(init, kernel) -> None:
        """SIGCONT the sandbox's init and kernel, from the grader, which may signal any process: a
        kernel left stopped could never answer. Nothing else: a stray not killed stays stopped."""
        import psutil

        for process in (init, kernel):
            with contextlib.suppress(psutil.Error):
                process.send_signal(signal.SIGCONT)  # psutil refuses a pid reused by another process

    def _kernel_of(self, init):
        """The kernel's process: the init's eldest child (orphans it adopts are younger), remembered."""
        import psutil

        if self._kernel is None:
            ages = []
            for child in init.children():
                with contextlib.suppress(psutil.Error):
                    ages.append((child.create_time(), child.pid, child))
            self._kernel = min(ages)[2] if ages else None
        return self._kernel

    def exit_reason(self) -> str | None:
        """Why the sandboxed kernel died, in words for an instructor; None when no limit explains it.

        bwrap exits with 128 + the signal that killed the kernel inside.
        """
        if self._why:
            return self._why
        if self.process is not None and self.returncode is None:
            self.returncode = self.process.poll()
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
