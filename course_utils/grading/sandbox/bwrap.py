"""The bubblewrap program: whether it can build the grading sandbox here, and its mount arguments."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile

INSTALL_HINT = (
    "Install bubblewrap with `sudo apt-get install bubblewrap` (Debian/Ubuntu; "
    "`dnf install bubblewrap` on Fedora)"
)
OPT_OUT_HINT = (
    "or, only if you accept that students' code runs with your rights, grade with "
    "`make grade UNSANDBOXED=1` (c.SandboxProvisioner.allow_unsandboxed = True in nbgrader_config.py)"
)
OPT_OUT_ENV = "COURSE_GRADING_UNSANDBOXED"
"""The environment variable that once opted out; it is refused now (:func:`opted_out`), so that
the trait is the one switch and a setting left in a shell cannot turn the sandbox off unseen."""
UNSANDBOXED_WARNING = (
    "!!! SANDBOX OFF: students' code runs UNSANDBOXED with the grader's rights: it can read the "
    "hidden tests, rewrite the gradebook, read other submissions and reach the network "
    "(SandboxProvisioner.allow_unsandboxed) !!!"
)
MAX_TEMP_BASE = 40
"""Longest temporary folder that leaves room for the Unix socket paths below it (108 bytes on
Linux), e.g. <base>/grade-run-<pid>-xxxxxxxx/nbsandbox-<pid>-xxxxxxxx/judge/judge.sock."""


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


def short_temp_dir() -> str:
    """The system's temporary folder, or /tmp when that is too long for socket paths below it."""
    base = tempfile.gettempdir()
    return base if len(base) <= MAX_TEMP_BASE or not os.path.isdir("/tmp") else "/tmp"


def opted_out(allow_unsandboxed: bool = False) -> bool:
    """Whether the instructor chose to run kernels unsandboxed when bubblewrap cannot run
    (``c.SandboxProvisioner.allow_unsandboxed``). :class:`SandboxUnavailable` when the old
    environment variable is set: it is not read any more, and ignoring it would grade sandboxed
    where its author expected otherwise, or the other way round once it is unset."""
    if os.environ.get(OPT_OUT_ENV, "").strip():
        raise SandboxUnavailable(
            f"{OPT_OUT_ENV} is not read any more: unset it and grade with `make grade UNSANDBOXED=1` "
            "(c.SandboxProvisioner.allow_unsandboxed = True in nbgrader_config.py) if you accept that "
            "students' code runs with your rights.")
    return bool(allow_unsandboxed)


def find_bwrap(name: str = "bwrap") -> str | None:
    return shutil.which(name) if os.sep not in name else (name if os.access(name, os.X_OK) else None)


def check_bwrap(name: str = "bwrap") -> str:
    """The path of a ``bwrap`` that can build the grading sandbox, else :class:`SandboxUnavailable`."""
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
            f"{namespace_fix()} {OPT_OUT_HINT}.")
    return path


def namespace_fix() -> str:
    """What lets bubblewrap build its namespaces on this machine, as far as it can tell."""
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read().strip()
        except OSError:
            return ""

    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor restricts namespaces here (Ubuntu 24.04 and later): allow bwrap with an AppArmor "
                "profile (`userns,` for /usr/bin/bwrap, as Ubuntu's bwrap-userns-restrict profile does) or "
                "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`.")
    if os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv") or "KUBERNETES_SERVICE_HOST" in os.environ:
        return ("This looks like a container: run it as root with CAP_SYS_ADMIN and unconfined seccomp and "
                "AppArmor profiles (Kubernetes: the securityContext of cluster/kubernetes/grade-job.yaml; "
                "Docker: --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined).")
    return ("It needs root, or unprivileged user namespaces (`sudo sysctl kernel.unprivileged_userns_clone=1`, "
            "and user.max_user_namespaces above 0).")


class Mounts:
    """bwrap mount arguments, creating each mount point's missing parents with mode 0755.

    (bwrap would make missing parents 0700, which the unprivileged kernel could not pass.)
    A parent exists when the deepest mount holding it is a bind (the host has it) or it is
    that mount's own top; elsewhere (the sandbox's own root, a tmpfs, also one laid over part
    of a bind to hide it) it is created.
    """

    def __init__(self, args: list[str]):
        self.args = args
        self.mounts: dict[str, bool] = {}
        """Mount point -> whether it shows a host path (a bind); the last one at a place wins."""
        self.made: set[str] = set()

    def _exists(self, path: str) -> bool:
        if path in self.made:
            return True
        holders = [m for m in self.mounts if path == m or path.startswith(m.rstrip("/") + "/")]
        if not holders:
            return False
        deepest = max(holders, key=len)
        return self.mounts[deepest] or path == deepest

    def add(self, kind: str, src: str | None, dest: str, size_mb: int | None = None) -> None:
        parents = []
        parent = os.path.dirname(dest)
        while parent not in ("/", "") and not self._exists(parent):
            parents.append(parent)
            parent = os.path.dirname(parent)
        for path in reversed(parents):
            self.args += ["--perms", "0755", "--dir", path]
            self.made.add(path)
        if size_mb is not None:
            self.args += ["--size", str(size_mb << 20)]
        self.args += [kind, *([src] if src is not None else []), dest]
        if kind in ("--tmpfs", "--dir"):
            self.made -= {p for p in self.made if p.startswith(dest.rstrip("/") + "/")}
        self.mounts[dest] = kind not in ("--tmpfs", "--dir")  # --proc and --dev come whole
