"""``make grade``: autograde every submission of the class into nbgrader's gradebook, then write grades.csv.

    course-grade [ASSIGNMENT ...] [--jobs N] [--shard i/n] [--force] ...
    python -m course_utils.grading.grade ...   # the same, without the installed command

Each submission under ``submitted/<student_id>/<assignment_id>/`` is graded by nbgrader's own
``Autograde`` (:mod:`.autograde`) on a worker (:mod:`.pool`); one already graded is skipped
unless handed in again or ``--force``, so a stopped run finishes the job when started again;
``--shard i/n`` shares the class between machines on one PostgreSQL gradebook. Statuses are
:class:`.gradebook.Status`; the README's "Grading a class" is the user documentation.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from logging.handlers import RotatingFileHandler
from pathlib import Path

import nbformat
from traitlets import TraitError, Unicode
from traitlets.config import Application, Config

from . import cluster, errors, pool
from . import gradebook as gbk
from .course import (
    AUTOGRADED,
    COURSE_ROOT,
    SUBMITTED,
    TIMESTAMP,
    Task,
    autograded_notebook,
    find_submissions,
    is_real_dir,
    parse_shard,
    parse_timestamp,
    read_timestamp,
    scripts_on_path,
)
from .course import assignments as all_assignments
from .gradebook import Status
from .report import Summary
from .settings import Grading
from .sqlite_wait import wait_for_locks

LOCK_WAIT = 5.0
"""Seconds a run waits for the lock: a killed run's processes may take a moment to go."""
REGISTER_LOCK = 0x636F757273650001
"""PostgreSQL advisory-lock key under which machines sharing a gradebook record the assignments."""


def register(root: Path, assignments: list[str], db_url: str, course_id: str) -> dict[str, dict[str, str]]:
    """Record the assignments in the gradebook (nbgrader's ``generate_assignment``).

    Returns each assignment's student version: notebook name -> notebook JSON. Machines that
    start at once on one gradebook take turns (:func:`_registering`); an error fails at once.
    An assignment the gradebook already records exactly as it is generated now is left alone:
    nbgrader re-creates a notebook that has no submission yet, and a second machine doing so
    while the first had begun its first submission deleted that submission's comments.
    """
    from .authoring.release import generate

    releases = {}
    with tempfile.TemporaryDirectory(prefix="grade-release-") as tmp, _registering(db_url):
        scratch = f"sqlite:///{Path(tmp) / 'scratch.db'}"
        for assignment in assignments:
            have = gbk.recorded(db_url, course_id, assignment)
            out = generate(assignment, Path(tmp) / "release", root, db_url if have is None else scratch)
            if have is not None and have != gbk.recorded(scratch, course_id, assignment):
                generate(assignment, Path(tmp) / "record", root, db_url)  # changed since: record it anew
            releases[assignment] = {p.stem: p.read_text() for p in sorted(out.glob("*.ipynb"))}
    return releases


@contextlib.contextmanager
def _registering(db_url: str):
    """Shards sharing a PostgreSQL gradebook record the assignments one after the other.

    nbgrader's generate_assignment creates the schema and its rows check-then-insert, which
    fails when shards start together (CREATE TYPE ... already exists); its API hands back the
    database's error as text only, so retrying by the error's kind cannot work. The database
    holds the lock, so it works across machines.
    """
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    if make_url(db_url).get_backend_name() != "postgresql":
        yield
        return
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": REGISTER_LOCK})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": REGISTER_LOCK})
    finally:
        engine.dispose()


def grade(root: Path = COURSE_ROOT, assignments: list[str] | None = None, *,
          settings: Grading | None = None, **values) -> Summary:
    """Grade the submissions and write ``grades.csv``; see the module docstring.

    ``settings`` is the whole :class:`.settings.Grading` object (what :func:`main` builds from the
    command line); without it, ``values`` are its settings named as the command's options
    (``jobs=4``, ``cell_timeout=30``, ``force=True``), the others from ``c.Grading`` in the
    course's ``nbgrader_config.py``. Before any student, the machine is checked
    (:func:`.canary.preflight`) and the instructor's solutions are graded the same way
    (:func:`.canary.check`, unless ``skip_canary``); a problem with either stops the run with a
    ``ValueError`` that says what to fix.
    """
    if settings is None:
        settings = Grading.load(root, **values)
    elif values:
        raise TypeError(f"grade(): give the settings object or {', '.join(values)}, not both")
    shard = parse_shard(settings.shard)
    export_only = settings.export_only
    progress = settings.progress
    root = settings.root
    if not export_only:
        from .sandbox import SandboxUnavailable, preflight

        try:
            note = preflight(settings.nbgrader_config())
        except SandboxUnavailable as exc:
            raise ValueError(str(exc)) from None
        if progress:
            print(note, file=sys.stderr)
    known = all_assignments(root)
    chosen = list(assignments) if assignments else known
    unknown = [a for a in chosen if a not in known]
    if unknown:
        raise ValueError(f"no such assignment in solutions/: {', '.join(unknown)}")
    output = Path(settings.output) if settings.output else root / "grades.csv"
    canary_seconds = _before_grading(settings, chosen, progress=progress) if not export_only else None
    started = time.monotonic()

    lock = None if export_only else _lock(root, shard)
    record = cluster.started(root, shard) if lock is not None and shard is not None else None
    try:
        summary = _grade(settings, chosen, output, started, shard=shard)
    except BaseException as exc:
        if record is not None:
            cluster.ended(root, record, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if lock is not None:
            lock.release()
    summary.canary_seconds = canary_seconds
    if record is not None:
        cluster.ended(root, record, submissions=len(summary.scope),
                      error="interrupted" if summary.interrupted else "")
    return summary


def _before_grading(settings: Grading, chosen: list[str], *, progress: bool) -> float | None:
    """Preflight and canary: a fault of the grading machine stops the run before any student.
    Returns the seconds the canary took to grade solutions (None when it graded none)."""
    from . import canary

    problems = canary.preflight(settings.root, chosen, sandbox=False)
    if problems:
        raise ValueError("this machine cannot grade the course yet (no student was graded):\n  "
                         + "\n  ".join(problems))
    inside = canary.sandbox_problems()  # the canary's cheap part: what the sandbox's user cannot read
    if settings.skip_canary:
        print("warning: --skip-canary: the instructor's solutions were not graded first, so a fault of "
              "the grading environment is caught only per submission ('grading environment' in detail)",
              file=sys.stderr)
        for problem in inside:
            print(f"warning: canary (preflight): {problem}", file=sys.stderr)
        return None
    if inside:
        raise ValueError("canary (preflight): the grading sandbox cannot read what the notebooks need, "
                         "so no student was graded:\n  " + "\n  ".join(inside))
    todo = canary.pending(settings.root, chosen)
    if not todo:
        return None
    if progress:
        print(f"canary: grading the instructor's solutions first, as the students will be ({len(todo)} "
              "assignment(s); remembered until they change)...", file=sys.stderr)
    began = time.monotonic()
    problems = canary.check(settings.root, chosen, settings=settings, progress=progress)
    seconds = time.monotonic() - began
    if problems:
        raise ValueError("canary: the instructor's own solution did not get full automatic marks in the "
                         "grading environment, so no student was graded:\n  " + "\n  ".join(problems)
                         + "\n(fix the environment and run again; --skip-canary grades anyway)")
    return seconds


def _lock(root: Path, shard):
    """One grading run at a time per course folder (and shard): a second one would grade the same
    submissions at the same time. The lock goes with the process, even when it is killed."""
    from filelock import FileLock, Timeout

    name = ".grading.lock" if shard is None else f".grading-{shard[0]}of{shard[1]}.lock"
    path = root / AUTOGRADED / name
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(path, timeout=LOCK_WAIT)
    try:
        lock.acquire()
    except Timeout:
        raise ValueError(f"another grading run is working on {root} (lock {path}); "
                         "wait for it to finish or stop it first") from None
    return lock


def _grade(settings: Grading, chosen, output, started, *, shard) -> Summary:
    from nbgrader.api import Gradebook

    force, progress, export_only = settings.force, settings.progress, settings.export_only
    students = list(settings.students) or None

    root, db_url, course_id = settings.root, settings.gradebook, settings.course_id
    wait_for_locks(db_url)  # this process and its workers write the gradebook at once
    if not db_url.startswith("sqlite:"):
        with _registering(db_url):
            # Opening a gradebook creates its tables when missing, check-then-create: a shard with
            # no submission of its own opens it only to export, and did so while another created it.
            Gradebook(db_url, course_id).close()
    tasks = [] if export_only else find_submissions(root, chosen, shard, students)
    summary = Summary([], [(t.student, t.assignment) for t in tasks], output=output)
    todo = []
    if tasks:
        releases = register(root, sorted({t.assignment for t in tasks}), db_url, course_id)
        names = {a: list(nbs) for a, nbs in releases.items()}
        orders = _orders(releases)
        for task in (t for t in tasks if t.link is not None):
            _record_failure(db_url, course_id, orders, task, errors.NotGradable(
                f"not graded: the submission folder is a symbolic link (to {task.link[:200]!r}); "
                "links are not followed"))
            summary.graded_now += 1

        def finished(gb, task: Task) -> bool:
            if force:
                return False
            ts = os.path.join(task.submitted, TIMESTAMP)
            if os.path.lexists(ts) and read_timestamp(task.submitted) is None:
                return False  # unreadable: the worker grades it and says why in detail
            try:
                return _already_graded(gb, root, task, names[task.assignment])
            except Exception:  # noqa: BLE001  (one submission must not stop the class)
                return False

        with Gradebook(db_url, course_id) as gb:
            todo = [t for t in tasks if t.link is None and not finished(gb, t)]
        summary.skipped = len(tasks) - len(todo) - sum(t.link is not None for t in tasks)
        if todo:
            summary.interrupted = not _run_pool(todo, summary, settings, releases, shard=shard,
                                                progress=progress)

    def pending(student: str, assignment: str) -> bool:
        return is_real_dir(root / SUBMITTED / student / assignment)

    no_gradebook = db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists()
    # Every assignment the gradebook holds: grading this week's must not drop earlier weeks' rows.
    summary.rows = [] if no_gradebook else gbk.export(db_url, course_id, pending=pending)
    gbk.write_csv(summary.rows, output)
    summary.seconds = time.monotonic() - started
    return summary


def _already_graded(gb, root: Path, task: Task, notebooks: list[str]) -> bool:
    """Graded (or failed through its own fault) already, for the same hand-in, with its autograded
    notebooks on disk. A fault of the grader's is graded again, once the instructor has mended it."""
    timestamp = parse_timestamp(read_timestamp(task.submitted))
    if not gbk.is_finished(gb, task.assignment, task.student, timestamp):
        return False
    row = gbk.row(gb.find_submission(task.assignment, task.student))
    if row.status is gbk.Status.FAILED:
        return not row.grader_fault
    for name in notebooks:
        try:
            json.loads(autograded_notebook(root, task.student, task.assignment, name).read_text())
        except (OSError, ValueError):
            return False
    return True


def _orders(releases: dict[str, dict[str, str]]) -> dict[str, dict[str, list[str]]]:
    """assignment -> notebook -> the grade ids of its answer cells, in order."""
    return {a: {n: [c.metadata.nbgrader["grade_id"] for c in nbformat.reads(t, as_version=4).cells
                    if c.get("metadata", {}).get("nbgrader", {}).get("solution")]
                for n, t in nbs.items()} for a, nbs in releases.items()}


def _record_failure(db_url: str, course_id: str, orders, task: Task, reason: errors.GradingFailure) -> None:
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


def _new_log(path: Path, keep: int = 3) -> None:
    """Start ``path`` afresh for this run; the last ``keep`` runs' stay as ``path.1`` (newest) and on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    RotatingFileHandler(path, backupCount=keep, delay=True).doRollover()


def _run_pool(todo: list[Task], summary: Summary, settings: Grading, releases, *, shard=None,
              progress: bool = True) -> bool:
    """Grade ``todo`` on the settings' worker processes (:mod:`.pool`). Returns False when interrupted."""
    from tqdm.auto import tqdm

    from .sandbox import short_temp_dir

    root, db_url, course_id = settings.root, settings.gradebook, settings.course_id
    # The repaired copies nbgrader grades (its submitted_directory); inside the course folder so
    # that a killed run leaves nothing elsewhere. The run's lock makes it ours alone.
    stage = root / AUTOGRADED / (".stage" if shard is None else f".stage-{shard[0]}of{shard[1]}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    # The kernels' connection folders (Unix sockets: the path must stay short, so not in the
    # course folder); removed with the run, and a stopped worker's at once.
    _remove_stale_runtimes(short_temp_dir())
    runtime = tempfile.mkdtemp(prefix=f"grade-run-{os.getpid()}-", dir=short_temp_dir())
    os.chmod(runtime, 0o711)
    jobs = max(1, min(settings.jobs or os.cpu_count() or 1, len(todo)))
    log_dir = root / AUTOGRADED / ".logs"
    worker_log = log_dir / ("workers.log" if shard is None else f"workers-{shard[0]}of{shard[1]}.log")
    _new_log(worker_log)
    setup = pool.WorkerSetup(settings=settings, releases=releases, stage=stage, log_dir=log_dir,
                             worker_log=worker_log, runtime=runtime, parent=os.getpid(),
                             threads=max(1, (os.cpu_count() or 1) // jobs))
    order = _orders(releases)
    counts: Counter = Counter()
    bar = tqdm(total=len(todo), unit="nb", desc="grading", file=sys.stderr, disable=not progress,
               dynamic_ncols=True, smoothing=0.1)

    def count(task: Task, status: Status, seconds: float) -> None:
        summary.times[(task.student, task.assignment)] = seconds
        summary.graded_now += 1
        counts[status] += 1
        bar.set_postfix_str(", ".join(f"{s} {counts[s]}" for s in Status), refresh=False)
        bar.update(1)

    def failed(task: Task, reason: errors.GradingFailure, seconds: float) -> None:
        # As nbgrader does for a failed submission: no autograded notebook (it would be the
        # half-done copy of the stopped worker) and so no feedback.
        shutil.rmtree(root / AUTOGRADED / task.student / task.assignment, ignore_errors=True)
        _record_failure(db_url, course_id, order, task, reason)
        count(task, Status.FAILED, seconds)

    try:
        return pool.run(todo, setup, jobs=jobs, time_limit=settings.time_limit,
                        finished=lambda task, result, seconds: count(task, result.row.status, seconds),
                        failed=failed)
    finally:
        bar.close()
        shutil.rmtree(stage, ignore_errors=True)
        shutil.rmtree(runtime, ignore_errors=True)


def _remove_stale_runtimes(base: str) -> None:
    """The runtime folders of earlier runs whose grading command was killed (kill -9: no clean-up)."""
    for folder in Path(base).glob("grade-run-*-*"):
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


class GradeCommand(Application):
    """The grading command's line: its options are the settings' traits (:meth:`Grading.command_line`),
    parsed by traitlets as nbgrader's commands are; what is left are the assignment ids."""

    name = "course-grade"
    description = ("Autograde every submission under submitted/ and write grades.csv. Each option "
                   "overrides c.Grading.<name> (or the class it names) of the course's nbgrader_config.py.")
    option_description = ("Any trait of the classes below can also be set as --Class.trait=value "
                          "(--help-all lists them).")
    examples = (f"course-grade 01_probability --jobs 4\ncourse-grade --force --student ada\n\n"
                f"Statuses: {', '.join(Status)} ('detail' says why).")
    root = Unicode(str(COURSE_ROOT), help="The course folder (default: this one).").tag(config=True)
    settings_file = Unicode("", help="A JSON file of settings beneath the command line's (the canary "
                                     "hands on its run's settings so).").tag(config=True)
    aliases = {**Grading.command_line()[0], "root": "GradeCommand.root", "config": "GradeCommand.settings_file"}
    flags = Grading.command_line()[1]

    def __init__(self, **kwargs) -> None:
        from nbgrader.preprocessors import Execute

        from .sandbox.provisioner import SandboxProvisioner

        super().__init__(**kwargs)
        # the classes whose traits an option sets (their help comes from there)
        self.classes = [type(self), Grading, Execute, SandboxProvisioner]

    def emit_description(self):
        yield f"usage: {Path(sys.argv[0]).name if sys.argv and sys.argv[0] else self.name} [ASSIGNMENT ...] [options]"
        yield ""
        yield from super().emit_description()

    def settings(self) -> Grading:
        """The settings this command line gives: the course's, then the settings file's, then the
        options. ``ValueError`` for an option no class has."""
        from traitlets.config.loader import JSONFileConfigLoader

        known = {cls.__name__: cls.class_traits(config=True) for cls in self.classes}
        for section, values in self.cli_config.items():
            if section not in known:
                raise ValueError(f"no option --{section} (--help lists them)")
            unknown = sorted(set(values) - set(known[section]))
            if unknown:
                raise ValueError(f"{section} has no setting {', '.join(unknown)} (--help-all lists them)")
        overrides = Config()
        if self.settings_file:
            path = Path(self.settings_file).resolve()
            overrides.merge(JSONFileConfigLoader(path.name, str(path.parent)).load_config())
        overrides.merge(self.cli_config)
        overrides.pop(type(self).__name__, None)
        return Grading.load(Path(self.root), overrides)


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    command = GradeCommand()
    command.parse_command_line(argv)  # --help prints and exits here
    try:
        settings = command.settings()
        summary = grade(assignments=command.extra_args or None, settings=settings)
    except (ValueError, TraitError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # e.g. release.ReleaseError: nbgrader cannot read an assignment
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 130 if summary.interrupted else 0


if __name__ == "__main__":
    raise SystemExit(main())
