"""First program inside the grading sandbox (see :mod:`course_utils.grading.sandbox`).

bubblewrap starts this script as root inside the new namespaces, with the file
system already arranged. It

1. copies the submission (bind-mounted read-only) into the working directory,
   a size-limited tmpfs, skipping anything that is not a file, folder or link;
2. gives the writable places (working directory, /tmp, /dev/shm) to the
   unprivileged user the kernel will run as;
3. sets the resource limits it is given (:class:`BootSpec`'s ``limits``) and
   ``no_new_privs``;
4. drops to that user and group (no supplementary groups, so no capabilities)
   and replaces itself with the kernel command.

It runs as ``python -I -S boot.py SPEC -- KERNEL-COMMAND...`` and uses
only the standard library; SPEC is a :class:`BootSpec` as JSON. The kernel manager
imports this module for :class:`BootSpec` and :data:`SETUP_FAILED`, so that both ends
share one definition.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import stat
import sys
from dataclasses import asdict, dataclass, field

PR_SET_NO_NEW_PRIVS = 38
SETUP_FAILED = 70
"""This script's exit status when it cannot set the sandbox up (its message goes to stderr)."""


@dataclass
class BootSpec:
    """What to prepare inside the sandbox before the kernel starts, and its limits."""

    uid: int
    gid: int
    cwd: str
    """The working directory: a size-limited tmpfs the submission is copied into."""
    limits: dict[str, list[int]]
    """Resource limits: a name in :mod:`resource` (``RLIMIT_AS``) -> [soft, hard]."""
    submission: str | None = None
    """Where the submission is mounted read-only, if there is one."""
    copy_files: list[list[str]] = field(default_factory=list)
    """[source, destination] pairs copied before dropping privileges (caches: failures ignored)."""
    make_dirs: list[str] = field(default_factory=list)
    owned: list[str] = field(default_factory=list)
    """Places given to the kernel's user."""
    sticky: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> BootSpec:
        return cls(**json.loads(text))


def fail(message: str) -> None:
    sys.stderr.write(f"sandbox: {message}\n")
    sys.stderr.flush()
    os._exit(SETUP_FAILED)


def copy_tree(src: str, dst: str) -> None:
    """Copy regular files, folders and symbolic links (as links) from ``src`` into ``dst``."""
    os.makedirs(dst, exist_ok=True)
    with os.scandir(src) as entries:
        for entry in entries:
            target = os.path.join(dst, entry.name)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(entry.path), target)
            elif stat.S_ISDIR(mode):
                copy_tree(entry.path, target)
            elif stat.S_ISREG(mode):
                fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                try:
                    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                    try:
                        while True:
                            chunk = os.read(fd, 1 << 20)
                            if not chunk:
                                break
                            os.write(out, chunk)
                    finally:
                        os.close(out)
                finally:
                    os.close(fd)


def chown_tree(path: str, uid: int, gid: int) -> None:
    """Give ``path`` and what is below it on the same file system to ``uid``."""
    device = os.lstat(path).st_dev
    os.lchown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(root, d)).st_dev == device]
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


def main(argv: list[str]) -> None:
    if len(argv) < 4 or argv[2] != "--":
        fail("usage: boot.py SPEC -- COMMAND...")
    try:
        spec = BootSpec.from_json(argv[1])
    except (ValueError, TypeError) as exc:
        fail(f"unreadable SPEC: {exc}")
    command = argv[3:]
    uid, gid, cwd = int(spec.uid), int(spec.gid), spec.cwd

    try:
        os.makedirs(cwd, exist_ok=True)
        if spec.submission:
            copy_tree(spec.submission, cwd)
        for src, dst in spec.copy_files:
            try:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(src, "rb") as f_in, open(dst, "wb") as f_out:
                    f_out.write(f_in.read())
            except OSError:
                pass  # only a cache; the kernel rebuilds it
        for path in spec.make_dirs:
            os.makedirs(path, exist_ok=True)
        for path in spec.owned:
            chown_tree(path, uid, gid)
        for path in spec.sticky:
            os.chmod(path, 0o1777)
    except OSError as exc:
        fail(f"could not prepare the working directory {cwd}: {exc}")

    try:
        for name, (soft, hard) in spec.limits.items():
            resource.setrlimit(getattr(resource, name), (soft, hard))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            fail("prctl(PR_SET_NO_NEW_PRIVS) failed")
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    except (OSError, ValueError, AttributeError) as exc:
        fail(f"could not drop privileges or set limits: {exc}")
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        fail("still privileged after setresuid")
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        fail("could get root back after dropping it")

    os.chdir(cwd)
    # The kernel's parent is the sandbox's init (pid 1): ipykernel would take the host's
    # JPY_PARENT_PID for a dead parent and quit. bwrap --die-with-parent does that job.
    os.environ["JPY_PARENT_PID"] = "1"  # ipykernel: no parent poller, no console banner
    try:
        os.execvp(command[0], command)
    except OSError as exc:
        fail(f"could not start {command[0]}: {exc}")


if __name__ == "__main__":
    main(sys.argv)
