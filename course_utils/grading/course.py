"""The course folder: where things live, which submissions there are, how nbgrader is configured.

One place for the layout the grading commands share: ``solutions/`` (the instructor's
notebooks), ``submitted/<student>/<assignment>/`` (nbgrader's), ``autograded/`` and the
gradebook; a submission is a :class:`Task`.
"""

from __future__ import annotations

import hashlib
import os
import stat
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from traitlets.config import Config

from .. import COURSE_ROOT, nbtools

SOURCE_DIR = "solutions"
RELEASE_DIR = "notebooks"
SUBMITTED = "submitted"
AUTOGRADED = "autograded"
TIMESTAMP = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 256
"""nbgrader writes one line such as ``2026-01-01 12:00:00.000000 UTC``; anything longer is not one."""


def default_db_url(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with 1 <= i <= n; ``"auto"``: the job array task's (:mod:`.cluster`)."""
    if not text:
        return None
    if text == "auto":
        from .cluster import shard_from_engine

        return shard_from_engine()
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like 1/3 (or auto, in a job array), not {text!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return i, n


def in_shard(student: str, shard: tuple[int, int] | None) -> bool:
    """Whether ``student`` belongs to shard ``i`` of ``n`` (the same answer on every machine)."""
    if shard is None:
        return True
    i, n = shard
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n == i - 1


@dataclass
class Task:
    student: str
    assignment: str
    submitted: str
    link: str | None = None
    """Where the submission folder points when it is a symbolic link (it is then not graded)."""


def is_real_dir(path: Path) -> bool:
    """A folder, not a link to one."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


def find_submissions(root: Path, assignments: list[str], shard=None,
                     students: list[str] | None = None) -> list[Task]:
    """Every ``submitted/<student>/<assignment>/`` folder, for the given assignments and shard
    (and students, when given).

    Links are never followed: a student folder that is a link is left out (with a warning),
    and an assignment folder that is a link becomes a task carrying ``link``, which the run
    records as failed without reading it (it could point at ``solutions/`` or at another
    student's folder).
    """
    base = Path(root) / SUBMITTED
    tasks = []
    if not is_real_dir(base):
        return tasks
    for student_dir in sorted(p for p in base.iterdir() if not p.name.startswith(".")):
        if not in_shard(student_dir.name, shard) or (students and student_dir.name not in students):
            continue
        if student_dir.is_symlink():
            print(f"warning: {SUBMITTED}/{student_dir.name} is a symbolic link; not followed, not graded",
                  file=sys.stderr)
            continue
        if not is_real_dir(student_dir):
            continue
        for assignment in assignments:
            folder = student_dir / assignment
            if folder.is_symlink():
                tasks.append(Task(student_dir.name, assignment, str(folder), link=os.readlink(folder)))
            elif is_real_dir(folder):
                tasks.append(Task(student_dir.name, assignment, str(folder)))
    return tasks


def read_timestamp(folder: str | Path) -> str | None:
    """The submission's ``timestamp.txt`` when it is a small regular file holding a time nbgrader
    can read (:func:`parse_timestamp`), else None. Never follows a link, never blocks (a FIFO),
    never raises."""
    path = os.path.join(str(folder), TIMESTAMP)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return None
            data = os.read(fd, MAX_TIMESTAMP_BYTES + 1)
        finally:
            os.close(fd)
        if len(data) > MAX_TIMESTAMP_BYTES:
            return None
        text = data.decode("utf-8").strip()
        return text if parse_timestamp(text) is not None else None
    except Exception:  # noqa: BLE001  (a bad timestamp is ignored; the grader notes it in detail)
        return None


def scripts_on_path() -> None:
    """Put this environment's scripts folder on PATH, for this process and those it starts, when
    it is not there yet.

    nbgrader creates a gradebook by running the ``alembic`` script it finds on PATH, so a command
    started without activating the environment (``.venv/bin/course-grade``, ``.venv/bin/python -m
    ...``) could not create one. The commands that may create a gradebook call this first thing
    in their ``main``; importing the package changes nothing.
    """
    scripts = str(Path(sys.executable).parent)
    if scripts not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(p for p in (scripts, os.environ.get("PATH")) if p)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the new one, never half
    of one: a temporary file beside it, named after this process (two writers never share one),
    then ``os.replace``. The course's one way of writing a file others may be reading."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_config(root: Path = COURSE_ROOT, **overrides: str) -> Config:
    """This course's nbgrader configuration (see :func:`course_utils.nbtools.load_config`)."""
    return nbtools.load_config(root, **overrides)


def assignments(root: Path = COURSE_ROOT) -> list[str]:
    """Assignment ids: the folders of ``solutions/`` that hold a notebook, in course order."""
    source = Path(root) / SOURCE_DIR
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def source_notebooks(assignment: str, root: Path = COURSE_ROOT) -> list[Path]:
    """The instructor's notebooks of one assignment."""
    return sorted((Path(root) / SOURCE_DIR / assignment).glob("*.ipynb"))


def autograded_notebook(root: Path, student: str, assignment: str, name: str) -> Path:
    """Where nbgrader writes the autograded copy of notebook ``name`` (no .ipynb) of a submission."""
    return Path(root) / AUTOGRADED / student / assignment / f"{name}.ipynb"


def parse_timestamp(text: str | None) -> datetime | None:
    """nbgrader's reading of a ``timestamp.txt`` text (naive UTC), or None when there is none or
    it is unreadable: the course's one parser of submission times."""
    from nbgrader import utils

    try:
        return utils.parse_utc(text) if text else None
    except Exception:  # noqa: BLE001  (an unreadable timestamp counts as none)
        return None
