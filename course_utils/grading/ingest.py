"""Reading a submission folder as data: no link followed, nothing but the expected files taken.

A submission is written by a student and read by a grader running as root, so it is
read here without trusting anything in it: only regular files whose names the
assignment expects (its notebooks) are read, through ``O_NOFOLLOW`` and a check of
the opened file, and only up to a size cap. Links, FIFOs, devices, folders and files
the assignment does not expect are named (for ``detail``) and never opened, copied
or followed. What the sandbox later sees is a fresh copy written by the grader.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 * 2**20
IGNORED_QUIETLY = {"timestamp.txt", ".ipynb_checkpoints"}


class BadSubmission(Exception):
    """The submission folder itself cannot be read as a submission."""


@dataclass
class Submission:
    notebooks: dict[str, bytes] = field(default_factory=dict)
    """File name (``x.ipynb``) -> its bytes, for every regular ``.ipynb`` file in the folder."""
    notes: list[str] = field(default_factory=list)
    """What was left out, and why, in words for ``detail``."""
    not_files: dict[str, str] = field(default_factory=dict)
    """``x.ipynb`` entries that are not regular files -> what they are."""


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read_submission(folder: Path) -> Submission:
    """The notebooks of a submission folder, read without following anything."""
    try:
        mode = os.lstat(folder).st_mode
    except OSError as exc:
        raise BadSubmission(f"the submission folder cannot be read ({exc.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise BadSubmission(f"the submission folder is {_kind(mode)}; it is not followed")
    found = Submission()
    with os.scandir(folder) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            mode = entry.stat(follow_symlinks=False).st_mode
            is_notebook = entry.name.endswith(".ipynb")
            if is_notebook and stat.S_ISREG(mode):
                found.notebooks[entry.name] = _read_regular(Path(folder) / entry.name)
            elif is_notebook:
                found.not_files[entry.name] = _kind(mode)
                found.notes.append(f"{entry.name[:80]!r} ({_kind(mode)}) was ignored: it is not a file")
            elif entry.name not in IGNORED_QUIETLY or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                what = "a file" if stat.S_ISREG(mode) else _kind(mode)
                found.notes.append(f"{entry.name[:80]!r} ({what}) was ignored: only the assignment's "
                                   "notebooks are graded")
    return found


def _read_regular(path: Path) -> bytes:
    """A regular file's bytes, opened without following a link or blocking; capped in size."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise BadSubmission(f"{path.name} changed while it was read")
        chunks, size = [], 0
        while chunk := os.read(fd, 2**20):
            size += len(chunk)
            if size > MAX_NOTEBOOK_BYTES:
                return b"\0too large"  # parse() reports it as not a notebook, named with its size below
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
