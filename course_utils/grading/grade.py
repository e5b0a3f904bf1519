"""Grade a whole class: parallel, resumable autograding with honest statuses, into nbgrader's gradebook.

    python -m course_utils.grading.grade [ASSIGNMENT ...] [--jobs N] [--shard i/n]
                                         [--db-url URL] [--force] [--time-limit S]

(``make grade`` runs this.) Every submission under
``submitted/<student_id>/<assignment_id>/`` (nbgrader's layout) is autograded by
nbgrader's own ``Autograde`` converter, ``--jobs`` at a time (default: one per
core), into the gradebook (default ``gradebook.db``; a PostgreSQL URL lets
several machines share it). Then ``grades.csv`` is written from the gradebook:
one row per student and assignment with ``student_id, assignment, score,
max_score, status, detail``, where ``status`` is

- ``graded``: scored in full (``detail`` lists any repair, e.g. a deleted test
  cell that was put back);
- ``needs_manual``: the automatic part is scored; written answers wait for a
  hand grade in nbgrader's formgrader (``detail`` names them);
- ``flagged``: scored, but the submission replaced functions the tests rely on
  (``detail`` says what, see :mod:`.integrity`): the tests that ran with a
  replacement scored 0, and the instructor should review it;
- ``failed``: not graded, and ``detail`` says why (not a notebook, invalid JSON,
  kernel died at cell X, metadata damaged beyond repair, missing notebook, over
  the time limit). ``score`` is then empty, never a 0.

Safe to re-run: ``submitted/`` is only read; a submission already graded (in
the gradebook, with its notebook in ``autograded/``) is skipped unless
``--force`` or the student handed in again (a newer ``timestamp.txt``), so a
run killed half-way finishes the job when started again. ``--shard i/n``
grades the students whose id hashes to shard ``i`` of ``n`` (1 <= i <= n), so
``n`` machines with the same ``submitted/`` share the work of one PostgreSQL
gradebook; ``--export-only`` then writes the complete ``grades.csv`` anywhere.
The log of each submission is in ``autograded/.logs/<assignment>/<student>.log``.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import multiprocessing
import os
import random
import re
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

import nbformat

from . import gradebook as gbk
from .course import COURSE_ROOT, SOURCE_DIR, load_config
from .course import assignments as all_assignments

SUBMITTED = "submitted"
AUTOGRADED = "autograded"
DEFAULT_TIME_LIMIT = 600.0
TIMESTAMP = "timestamp.txt"
MAX_TIMESTAMP_BYTES = 256
"""nbgrader writes one line such as ``2026-01-01 12:00:00.000000 UTC``; anything longer is not one."""
RUNTIME_ENV = "COURSE_SANDBOX_RUNTIME_DIR"
"""Folder for the sandboxes' connection folders during a run (see ``sandbox.runtime_dir``)."""


def default_db_url(root: Path) -> str:
    return f"sqlite:///{Path(root).resolve() / 'gradebook.db'}"


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with 1 <= i <= n."""
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like 1/3, not {text!r}") from None
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


def _is_real_dir(path: Path) -> bool:
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
    if not _is_real_dir(base):
        return tasks
    for student_dir in sorted(p for p in base.iterdir() if not p.name.startswith(".")):
        if not in_shard(student_dir.name, shard) or (students and student_dir.name not in students):
            continue
        if student_dir.is_symlink():
            print(f"warning: {SUBMITTED}/{student_dir.name} is a symbolic link; not followed, not graded",
                  file=sys.stderr)
            continue
        if not _is_real_dir(student_dir):
            continue
        for assignment in assignments:
            folder = student_dir / assignment
            if folder.is_symlink():
                tasks.append(Task(student_dir.name, assignment, str(folder), link=os.readlink(folder)))
            elif _is_real_dir(folder):
                tasks.append(Task(student_dir.name, assignment, str(folder)))
    return tasks


def read_timestamp(folder: str | Path) -> str | None:
    """The submission's ``timestamp.txt`` when it is a small regular file holding a time nbgrader
    can read, else None. Never follows a link, never blocks (a FIFO), never raises."""
    from nbgrader import utils

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
        if not text:
            return None
        utils.parse_utc(text)
        return text
    except Exception:  # noqa: BLE001  (a bad timestamp is ignored; the grader notes it in detail)
        return None


TRANSIENT_DB_ERRORS = re.compile(
    r"OperationalError|IntegrityError|database is locked|already exists|deadlock|could not serialize", re.I)


def register(root: Path, assignments: list[str], db_url: str) -> dict[str, dict[str, str]]:
    """Record the assignments in the gradebook (nbgrader's ``generate_assignment``).

    Returns each assignment's student version: notebook name -> notebook JSON.
    Several machines may start at once on one gradebook, so the database's transient errors
    (a concurrent CREATE TABLE, a lock) are retried; a broken assignment fails at once.
    """
    from .release import generate

    releases = {}
    with tempfile.TemporaryDirectory(prefix="grade-release-") as tmp:
        for assignment in assignments:
            for attempt in range(6):
                try:
                    out = generate(assignment, Path(tmp) / str(attempt), root, db_url)
                    break
                except Exception as exc:
                    if attempt == 5 or not TRANSIENT_DB_ERRORS.search(f"{type(exc).__name__}: {exc}"):
                        raise
                    time.sleep(0.5 + random.random() * 2 ** attempt)
            releases[assignment] = {p.stem: p.read_text() for p in sorted(out.glob("*.ipynb"))}
    return releases


# --------------------------------------------------------------------------- workers

def _die_with_parent() -> None:
    """Linux: the worker is killed when the grading command dies (e.g. kill -9)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _source(root: Path, assignment: str, name: str) -> nbformat.NotebookNode | None:
    """The instructor's version of a notebook (its test cells with the hidden tests), if readable."""
    try:
        return nbformat.read(str(root / SOURCE_DIR / assignment / f"{name}.ipynb"), as_version=4)
    except Exception:  # noqa: BLE001  (only an optimisation rides on it)
        return None


def _worker(conn, init: dict) -> None:
    """A worker process: receives tasks on ``conn``, autogrades them, sends results back."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process stops us
    if init.get("lock_fd") is not None:  # the run's lock belongs to the main process only
        try:
            os.close(init["lock_fd"])
        except OSError:
            pass
    if os.getppid() != init["parent"]:
        return
    log_dir = Path(init["log_dir"])
    log_dir.mkdir(parents=True, exist_ok=True)
    # nbgrader, the kernels and their libraries write to stderr; keep the terminal for the progress bar.
    out = os.open(log_dir / f"worker-{init['index']}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(out, 1)
    os.dup2(out, 2)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(init["threads"]))  # the kernels share the cores
    if init.get("runtime"):
        os.environ[RUNTIME_ENV] = init["runtime"]

    from .autograde import Grader
    from .autograde import Task as GraderTask

    grader = Grader(
        root=Path(init["root"]), db_url=init["db_url"], course_id=init["course_id"],
        releases={a: {n: nbformat.reads(t, as_version=4) for n, t in nbs.items()}
                  for a, nbs in init["releases"].items()},
        stage=Path(init["stage"]) / f"w{init['index']}", cell_timeout=init["cell_timeout"],
        log_dir=log_dir)
    if init.get("judge", True):
        # The judge's modules (torch, scipy.stats: seconds) load while the first kernel starts and
        # runs the notebook's first cells, instead of inside its first test cell.
        import threading

        from .judge.session import preload

        notebooks = [(nb, _source(Path(init["root"]), assignment, name))
                     for assignment, nbs in grader.releases.items() for name, nb in nbs.items()]
        threading.Thread(target=preload, args=(notebooks,), name="judge-preload", daemon=True).start()
    conn.send(("ready", None, None))
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        if item is None:
            return
        seq, task = item
        try:
            result = grader.grade(GraderTask(task.student, task.assignment, task.submitted))
            conn.send(("done", seq, result))
        except Exception as exc:  # noqa: BLE001  (reported; the main process retries once)
            import traceback
            traceback.print_exc()
            conn.send(("error", seq, f"{type(exc).__name__}: {exc}"))


class _Worker:
    def __init__(self, ctx, index: int, init: dict):
        self.index = index
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, {**init, "index": index}), daemon=True)
        self.proc.start()
        child.close()
        self.task: Task | None = None
        self.seq = -1
        self.started = 0.0
        self.ready = False

    def send(self, seq: int, task: Task) -> None:
        self.task, self.seq, self.started = task, seq, time.monotonic()
        self.conn.send((seq, task))

    def kill(self) -> None:
        """Kill the worker and its kernels (they run in their own sessions)."""
        try:
            import psutil
            proc = psutil.Process(self.proc.pid)
            victims = proc.children(recursive=True) + [proc]
            for p in victims:
                try:
                    p.kill()
                except psutil.NoSuchProcess:
                    pass
        except Exception:  # noqa: BLE001
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.kill()


@dataclass
class Summary:
    rows: list[gbk.Row]
    scope: list[tuple[str, str]]
    """(student, assignment) of the submissions this run was asked to grade."""
    graded_now: int = 0
    skipped: int = 0
    seconds: float = 0.0
    times: dict[tuple[str, str], float] = field(default_factory=dict)
    interrupted: bool = False
    output: Path | None = None

    def counts(self) -> Counter:
        scope = set(self.scope)
        return Counter(r.status for r in self.rows if (r.student_id, r.assignment) in scope)

    def describe(self) -> str:
        c = self.counts()
        if not self.scope:
            return (f"No submissions to grade under {SUBMITTED}/<student_id>/<assignment_id>/; "
                    f"wrote {self.output} from the gradebook ({len(self.rows)} rows).")
        lines = [
            f"{len(self.scope)} submission{'' if len(self.scope) == 1 else 's'}: {c['graded']} graded, {c['needs_manual']} need manual "
            f"grading, {c['flagged']} flagged for review, {c['failed']} failed ({self.graded_now} graded in this run in "
            f"{_clock(self.seconds)}, {self.skipped} already graded before; --force regrades them)"]
        if self.interrupted:
            lines.append("INTERRUPTED: run the same command again to finish the job.")
        scope = set(self.scope)
        failed = [r for r in self.rows if r.status == "failed" and (r.student_id, r.assignment) in scope]
        for r in failed[:20]:
            lines.append(f"  failed  {r.student_id}/{r.assignment}: {r.detail}")
        flagged = [r for r in self.rows if r.status == "flagged" and (r.student_id, r.assignment) in scope]
        for r in flagged[:20]:
            lines.append(f"  flagged {r.student_id}/{r.assignment}: {r.detail}")
        if len(failed) > 20:
            lines.append(f"  ... and {len(failed) - 20} more failed (see grades.csv)")
        slow = sorted(self.times.items(), key=lambda kv: -kv[1])[:5]
        if slow:
            lines.append("slowest: " + ", ".join(f"{s}/{a} {t:.1f} s" for (s, a), t in slow))
        if self.output is not None:
            lines.append(f"wrote {self.output}")
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}m{s:02d}s" if m else f"{seconds:.1f} s"


def grade(
    root: Path = COURSE_ROOT,
    assignments: list[str] | None = None,
    *,
    jobs: int | None = None,
    shard: tuple[int, int] | None = None,
    db_url: str | None = None,
    force: bool = False,
    cell_timeout: int | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    output: Path | None = None,
    progress: bool = True,
    export_only: bool = False,
    students: list[str] | None = None,
    skip_canary: bool = False,
) -> Summary:
    """Grade the submissions and write ``grades.csv``; see the module docstring.

    Before any student, the machine is checked (:func:`.canary.preflight`) and the instructor's
    solutions are graded the same way (:func:`.canary.check`, unless ``skip_canary``); a problem
    with either stops the run with a ``ValueError`` that says what to fix.
    """


    root = Path(root).resolve()
    db_url = db_url or default_db_url(root)
    config = load_config(root, db_url=db_url)
    if not export_only:
        from .sandbox import SandboxUnavailable, preflight

        try:
            note = preflight(config)
        except SandboxUnavailable as exc:
            raise ValueError(str(exc)) from None
        if progress:
            print(note, file=sys.stderr)
    course_id = config.CourseDirectory.get("course_id", "default_course")
    known = all_assignments(root)
    chosen = list(assignments) if assignments else known
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise ValueError(f"no such assignment in solutions/: {', '.join(unknown)}")
    output = Path(output) if output else root / "grades.csv"
    if not export_only:
        _before_grading(root, chosen, cell_timeout=cell_timeout, skip_canary=skip_canary, progress=progress)
    started = time.monotonic()

    lock = None if export_only else _lock(root, shard)
    try:
        return _grade(root, chosen, output, started, lock, jobs=jobs, shard=shard, db_url=db_url,
                      course_id=course_id, force=force, cell_timeout=cell_timeout,
                      time_limit=time_limit, progress=progress, export_only=export_only,
                      students=students, judge=bool(config.TrackedExecute.get("judge", True)))
    finally:
        if lock is not None:
            lock.close()


def _before_grading(root: Path, chosen: list[str], *, cell_timeout, skip_canary: bool, progress: bool) -> None:
    """Preflight and canary: a fault of the grading machine stops the run before any student."""
    from . import canary

    problems = canary.preflight(root, chosen)
    if problems:
        raise ValueError("this machine cannot grade the course yet (no student was graded):\n  "
                         + "\n  ".join(problems))
    if skip_canary:
        print("warning: --skip-canary: the instructor's solutions were not graded first, so a fault of "
              "the grading environment is caught only per submission ('grading environment' in detail)",
              file=sys.stderr)
        return
    if progress:
        print("canary: grading the instructor's solutions first, as the students will be...", file=sys.stderr)
    extra = ["--cell-timeout", str(cell_timeout)] if cell_timeout else []
    problems = canary.check(root, chosen, extra_args=extra)
    if problems:
        raise ValueError("canary: the instructor's own solution did not get full automatic marks in the "
                         "grading environment, so no student was graded:\n  " + "\n  ".join(problems)
                         + "\n(fix the environment and run again; --skip-canary grades anyway)")


def _lock(root: Path, shard):
    """One grading run at a time per course folder (and shard): a second one would grade the same
    submissions at the same time. The lock goes with the process, even when it is killed."""
    import fcntl

    name = ".grading.lock" if shard is None else f".grading-{shard[0]}of{shard[1]}.lock"
    path = root / AUTOGRADED / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("a+")
    for _attempt in range(20):  # a killed run's processes may take a moment to go
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            time.sleep(0.25)
    else:
        fh.close()
        raise ValueError(f"another grading run is working on {root} (lock {path}); "
                         "wait for it to finish or stop it first") from None
    fh.seek(0)
    fh.truncate()
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def _grade(root, chosen, output, started, lock, *, jobs, shard, db_url, course_id, force,
           cell_timeout, time_limit, progress, export_only, students, judge=True) -> Summary:
    from nbgrader.api import Gradebook

    from .autograde import Task as GraderTask
    from .autograde import is_finished

    tasks = [] if export_only else find_submissions(root, chosen, shard, students)
    summary = Summary([], [(t.student, t.assignment) for t in tasks], output=output)
    todo = []
    if tasks:
        releases = register(root, sorted({t.assignment for t in tasks}), db_url)
        names = {a: list(nbs) for a, nbs in releases.items()}
        orders = _orders(releases)
        for task in (t for t in tasks if t.link is not None):
            _record_failure(db_url, course_id, orders, task,
                            f"not graded: the submission folder is a symbolic link (to {task.link[:200]!r}); "
                            "links are not followed")
            summary.graded_now += 1

        def finished(gb, task: Task) -> bool:
            if force:
                return False
            ts = os.path.join(task.submitted, TIMESTAMP)
            if os.path.lexists(ts) and read_timestamp(task.submitted) is None:
                return False  # unreadable: the worker grades it and says why in detail
            try:
                return is_finished(gb, root, GraderTask(task.student, task.assignment, task.submitted),
                                   names[task.assignment])
            except Exception:  # noqa: BLE001  (one submission must not stop the class)
                return False

        with Gradebook(db_url, course_id) as gb:
            todo = [t for t in tasks if t.link is None and not finished(gb, t)]
        summary.skipped = len(tasks) - len(todo) - sum(t.link is not None for t in tasks)
        if todo:
            summary.interrupted = not _run_pool(
                todo, summary, root=root, db_url=db_url, course_id=course_id, releases=releases,
                lock_fd=lock.fileno() if lock is not None else None, shard=shard,
                jobs=jobs or os.cpu_count() or 1, cell_timeout=cell_timeout, time_limit=time_limit,
                progress=progress, judge=judge)

    def pending(student: str, assignment: str) -> bool:
        return _is_real_dir(root / SUBMITTED / student / assignment)

    no_gradebook = db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists()
    summary.rows = [] if no_gradebook else gbk.export(db_url, course_id, assignments=chosen,
                                                       pending=pending)
    gbk.write_csv(summary.rows, output)
    summary.seconds = time.monotonic() - started
    return summary


def _orders(releases: dict[str, dict[str, str]]) -> dict[str, dict[str, list[str]]]:
    """assignment -> notebook -> the grade ids of its answer cells, in order."""
    return {a: {n: [c.metadata.nbgrader["grade_id"] for c in nbformat.reads(t, as_version=4).cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
                for n, t in nbs.items()} for a, nbs in releases.items()}


def _record_failure(db_url: str, course_id: str, orders, task: Task, reason: str) -> None:
    """Mark ``task`` failed in the gradebook, as nbgrader does for a failed submission: its half-done
    autograded notebook is removed by the caller. Retried a few times (the gradebook may be busy)."""
    from nbgrader.api import Gradebook

    stamp = None if task.link is not None else read_timestamp(task.submitted)
    names = orders.get(task.assignment, {})
    for attempt in range(5):
        try:
            with Gradebook(db_url, course_id) as gb:
                gbk.record_failure(gb, task.assignment, task.student, reason,
                                   order=next(iter(names.values()), None), timestamp=stamp)
            return
        except Exception as exc:  # noqa: BLE001  (reported; the run goes on for the others)
            if attempt == 4:
                print(f"warning: could not record {task.student}/{task.assignment} as failed "
                      f"({type(exc).__name__}: {exc})", file=sys.stderr)
            else:
                time.sleep(0.2 * 2 ** attempt)


def _run_pool(todo: list[Task], summary: Summary, *, root, db_url, course_id, releases, jobs,
              cell_timeout, time_limit, progress, lock_fd=None, shard=None, judge=True) -> bool:
    """Grade ``todo`` on ``jobs`` worker processes. Returns False when interrupted."""
    from tqdm.auto import tqdm


    jobs = max(1, min(jobs, len(todo)))
    log_dir = root / AUTOGRADED / ".logs"
    # The repaired copies nbgrader grades (its submitted_directory); inside the course folder so
    # that a killed run leaves nothing elsewhere. The run's lock makes it ours alone.
    stage = root / AUTOGRADED / (".stage" if shard is None else f".stage-{shard[0]}of{shard[1]}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    # The kernels' connection folders (Unix sockets: the path must stay short, so not in the
    # course folder); removed with the run, and a killed worker's at once.
    _remove_stale_runtimes()
    runtime = tempfile.mkdtemp(prefix=f"grade-run-{os.getpid()}-", dir=_runtime_base())
    os.chmod(runtime, 0o711)
    init = {"root": str(root), "db_url": db_url, "course_id": course_id, "releases": releases,
            "stage": str(stage), "cell_timeout": cell_timeout, "log_dir": str(log_dir),
            "threads": max(1, (os.cpu_count() or 1) // jobs), "parent": os.getpid(),
            "lock_fd": lock_fd, "runtime": runtime, "judge": judge}
    order = _orders(releases)
    # fork starts a worker at once (nbgrader is imported already); spawn where there is no fork.
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    workers = [_Worker(ctx, i, init) for i in range(jobs)]
    queue = list(todo)
    retried: set[tuple[str, str]] = set()
    seq = 0
    counts: Counter = Counter()
    bar = tqdm(total=len(todo), unit="nb", desc="grading", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.1)

    def fail(task: Task, reason: str) -> None:
        # As nbgrader does for a failed submission: no autograded notebook (it would be the
        # half-done copy of the killed run) and so no feedback.
        shutil.rmtree(root / AUTOGRADED / task.student / task.assignment, ignore_errors=True)
        _record_failure(db_url, course_id, order, task, reason)

    def finish(task: Task, status: str, seconds: float) -> None:
        summary.times[(task.student, task.assignment)] = seconds
        summary.graded_now += 1
        counts[status] += 1
        bar.set_postfix_str(f"graded {counts['graded']}, manual {counts['needs_manual']}, "
                            f"flagged {counts['flagged']}, failed {counts['failed']}", refresh=False)
        bar.update(1)

    try:
        while queue or any(w.task for w in workers):
            for w in workers:
                if w.ready and w.task is None and queue:
                    seq += 1
                    w.send(seq, queue.pop(0))
            live = [w.conn for w in workers if not w.conn.closed]
            if not live:
                break
            for conn in wait(live, timeout=0.5):
                w = next(x for x in workers if x.conn is conn)
                try:
                    kind, got_seq, payload = conn.recv()
                except (EOFError, OSError):
                    continue  # the worker died; handled below
                if kind == "ready":
                    w.ready = True
                elif got_seq == w.seq and w.task is not None:
                    task, w.task = w.task, None
                    if kind == "done":
                        finish(task, payload.row[4], payload.seconds)
                    elif (task.student, task.assignment) not in retried:
                        retried.add((task.student, task.assignment))
                        queue.insert(0, task)
                    else:
                        fail(task, f"internal grading error ({payload}); see the grading log")
                        finish(task, "failed", time.monotonic() - w.started)
            for i, w in enumerate(workers):
                over = w.task is not None and time.monotonic() - w.started > time_limit
                if w.conn.closed:
                    continue
                if over or not w.proc.is_alive():
                    task, seconds = w.task, time.monotonic() - w.started
                    w.kill()
                    w.task = None  # whatever the queue holds: the loop waits for no dead worker
                    _remove_boxes(runtime, w.proc.pid)
                    if task is not None:
                        reason = (f"over the time limit: grading took more than {time_limit:g} s "
                                  "(an endless loop that ignores interruption, or far too slow code)"
                                  if over else "the grading process died (out of memory?)")
                        fail(task, reason)
                        finish(task, "failed", seconds)
                    if queue:
                        workers[i] = _Worker(ctx, w.index, init)
    except KeyboardInterrupt:
        for w in workers:
            w.kill()
        bar.close()
        return False
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for w in workers:
            if not w.conn.closed:
                w.stop()
        shutil.rmtree(runtime, ignore_errors=True)
    bar.close()
    return True


def _runtime_base() -> str:
    from .sandbox import short_temp_dir

    return short_temp_dir()


def _remove_stale_runtimes() -> None:
    """The runtime folders of earlier runs whose grading command was killed (kill -9: no clean-up)."""
    for folder in Path(_runtime_base()).glob("grade-run-*-*"):
        try:
            pid = int(folder.name.split("-")[2])
        except (IndexError, ValueError):
            continue
        if pid != os.getpid() and not _alive(pid):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _remove_boxes(runtime: str, pid: int | None) -> None:
    """The connection folders of a killed worker's kernels (``sandbox.runtime_dir`` names them
    after the worker's pid)."""
    if pid is None:
        return
    for box in Path(runtime).glob(f"nbsandbox-{pid}-*"):
        shutil.rmtree(box, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Autograde every submission under submitted/ and write grades.csv.",
        epilog="Statuses: graded, needs_manual, flagged (for review), failed (with the reason in 'detail').")
    parser.add_argument("assignments", nargs="*", help="assignment ids (default: all)")
    parser.add_argument("--root", type=Path, default=COURSE_ROOT, help="course folder (default: this one)")
    parser.add_argument("--jobs", "-j", type=int, default=None, help="parallel workers (default: cores)")
    parser.add_argument("--shard", default=None, help="i/n: grade only shard i of n of the students")
    parser.add_argument("--db-url", default=os.environ.get("COURSE_DB_URL") or None,
                        help="gradebook URL (default: sqlite:///<root>/gradebook.db, or $COURSE_DB_URL)")
    parser.add_argument("--force", action="store_true", help="regrade submissions already graded")
    parser.add_argument("--student", action="append", default=None,
                        help="only this student (repeat for more), e.g. with --force to regrade one")
    parser.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT,
                        help=f"seconds per submission before it fails (default {DEFAULT_TIME_LIMIT:g})")
    parser.add_argument("--cell-timeout", type=int, default=None,
                        help="seconds per cell (default: Execute.timeout of nbgrader_config.py)")
    parser.add_argument("--output", type=Path, default=None, help="CSV to write (default: <root>/grades.csv)")
    parser.add_argument("--export-only", action="store_true", help="grade nothing; write grades.csv")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--skip-canary", action="store_true",
                        help="do not grade the instructor's solutions first (experts: a fault of the "
                             "environment is then caught only per submission)")
    parser.add_argument("--unsandboxed", action="store_true",
                        help="grade even where bubblewrap is missing (students' code then runs with "
                             "your rights; warned loudly)")
    args = parser.parse_args(argv)
    if args.unsandboxed:
        os.environ["COURSE_GRADING_UNSANDBOXED"] = "1"  # before grade(): the workers inherit it
    try:
        summary = grade(args.root, args.assignments or None, jobs=args.jobs,
                        shard=parse_shard(args.shard), db_url=args.db_url, force=args.force,
                        cell_timeout=args.cell_timeout, time_limit=args.time_limit, output=args.output,
                        progress=not args.no_progress, export_only=args.export_only,
                        students=args.student, skip_canary=args.skip_canary)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. release.ReleaseError: nbgrader cannot read an assignment
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 130 if summary.interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
