"""The canary: the instructor's own solution is graded first, exactly as the students will be.

Before the grading command touches a student, it grades the solution of every chosen
assignment in a scratch copy of the course, with the same command, sandbox, settings
and data. Anything short of full automatic marks is the grader's fault (a data file the
sandbox cannot read, a missing package or program, a changed library), so the run
stops there and says which cell failed and how to fix it. A passing canary is
remembered (in ``.canary/`` of the course folder) until the solution, the course
package, the configuration, the data file or the installed libraries change.

    course-canary [ASSIGNMENT ...]      # or: python -m course_utils.grading.canary
"""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from nbconvert.preprocessors import Preprocessor

from .. import nbtools
from . import errors
from . import gradebook as gbk
from .course import COURSE_ROOT, scripts_on_path, source_notebooks
from .course import assignments as all_assignments
from .faults import FIXES
from .settings import Grading

CACHE_DIR = ".canary"
SETTINGS_FILE = "canary-settings.json"
"""In the canary's scratch course: the grading command's settings its run shares."""
STUDENT = "canary"
LIBRARIES = ("numpy", "scipy", "torch", "matplotlib", "nbgrader", "nbclient", "ipykernel", "rpyc", "graphviz")


def preflight(root: Path, assignments: list[str], *, sandbox: bool = True) -> list[str]:
    """What the notebooks need and the grading machine lacks, one line each, before any grading.

    With ``sandbox`` also what the sandboxed kernel, another user, cannot read
    (:func:`sandbox_problems`, the cheap part of the canary).
    """
    import importlib.util
    import shutil

    from ..data import NamesDataError, names_path

    problems = []
    try:
        names_path()
    except NamesDataError as exc:
        problems.append(f"the names data set: {exc}")
    else:
        if sandbox:
            problems += sandbox_problems()
    sources = "\n".join(p.read_text() for a in assignments for p in source_notebooks(a, root))
    modules = {"numpy", "scipy", "torch", "matplotlib", "tqdm", "rpyc", "cloudpickle"}
    if "graphviz" in sources or "course_utils.graphs" in sources:
        modules.add("graphviz")
        if shutil.which("dot") is None:
            problems.append("Graphviz's dot program is missing (a notebook draws graphs): "
                            "apt-get install graphviz (or make dot)")
    for module in sorted(modules):
        if importlib.util.find_spec(module) is None:
            problems.append(f"the Python package {module} is missing from this environment: make install")
    return problems


NAMES_UNREADABLE = "the names data set is not readable inside the sandbox"
"""How a names file the sandboxed kernel cannot read is reported (here and in :mod:`.faults`)."""


def sandbox_problems() -> list[str]:
    """What the sandboxed kernel cannot read of what the notebooks need, with a fix that works.

    The kernel runs as an unprivileged user of its own, and the names file is bound into
    the sandbox by itself, so only the file's own permissions count (not its folders').
    Root reads every file, so the check is made as such a user (:func:`readable_as_sandbox_user`).
    """
    from ..data import DATA_DIR, NAMES_ENV_VAR, names_path

    path = names_path(download=False)
    why = readable_as_sandbox_user(path)
    if why is None:
        return []
    mode = f"mode {path.stat().st_mode & 0o777:04o}, owner uid {path.stat().st_uid}"
    if path.resolve() == (DATA_DIR / "names.txt").resolve() and not os.environ.get(NAMES_ENV_VAR):
        fix = "fix: `make data` (it leaves data/names.txt readable by every user)"
    else:
        fix = (f"fix: `chmod a+r {shlex.quote(str(path))}`, or `make data` (it copies the file to "
               f"data/names.txt, readable by every user) and then `unset {NAMES_ENV_VAR}`")
    return [f"{NAMES_UNREADABLE} (its kernel runs as another user): {path} ({mode}) gave {why}; {fix}"]


def readable_as_sandbox_user(path: Path) -> str | None:
    """None when a sandboxed kernel could read ``path``, else the error it would get.

    As root: a child process takes a sandbox user id (as the sandbox's boot does) and opens the
    file through a descriptor root opened with O_PATH, so that, as inside the sandbox, the
    folders above the file do not count. As anyone else the kernel cannot be sandboxed and runs
    as this user, so the file is opened as is.
    """
    import secrets

    from .sandbox import UID_BASE
    from .sandbox.provisioner import UID_SPAN

    if os.geteuid() != 0:
        try:
            Path(path).open("rb").close()
        except OSError as exc:
            return f"{type(exc).__name__}: {exc.strerror}"
        return None
    uid = UID_BASE + secrets.randbelow(UID_SPAN)
    fd = os.open(path, os.O_PATH)
    try:
        pid = os.fork()
        if pid == 0:  # the child: only system calls, then _exit
            code = 0
            try:
                os.setgroups([])
                os.setresgid(uid, uid, uid)
                os.setresuid(uid, uid, uid)
                os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDONLY))
            except OSError as exc:
                code = exc.errno or 1
            except BaseException:  # noqa: BLE001  (nothing may escape a forked child)
                code = 255
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return None
    return f"{errno.errorcode.get(code, 'error')}: {os.strerror(code)}" if code != 255 else "an error"


def fingerprint(root: Path, assignment: str) -> str:
    """What the canary's verdict depends on; a change to any of it grades the canary again."""
    from ..data import NamesDataError, names_path, sha256_of

    digest = hashlib.sha256()
    files = [*source_notebooks(assignment, root), Path(root) / "nbgrader_config.py",
             *sorted((COURSE_ROOT / "course_utils").rglob("*.py"))]
    for path in files:
        digest.update(str(path.name).encode() + b"\0" + path.read_bytes())
    try:
        digest.update(sha256_of(names_path()).encode())
    except NamesDataError as exc:
        digest.update(str(exc).encode())
    for name in LIBRARIES:
        try:
            digest.update(f"{name}={metadata.version(name)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{name} missing".encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:32]


def pending(root: Path = COURSE_ROOT, assignments: list[str] | None = None) -> dict[str, str]:
    """The assignments whose solution the canary has to grade (not checked since it last
    changed), with their fingerprints."""
    root = Path(root).resolve()
    todo = {a: fingerprint(root, a) for a in assignments or all_assignments(root)}
    return {a: key for a, key in todo.items() if not (root / CACHE_DIR / f"{a}-{key}").exists()}


def check(root: Path = COURSE_ROOT, assignments: list[str] | None = None, *,
          settings: Grading | None = None, progress: bool = False) -> list[str]:
    """Grade the solution of each assignment not checked yet; returns the problems, in words.

    The grading command's ``settings``, when given, are handed on to the canary's run of it (as
    a written config: :meth:`.settings.Grading.shared_with_canary`), so that the solutions are
    graded as the students will be.

    With ``progress``, a bar on stderr counts the solutions graded (the first run grades every
    assignment's, which takes minutes; later runs only what changed)."""
    from .authoring.synthetic import make_course, solved, submit, versions

    root = Path(root).resolve()
    cache = root / CACHE_DIR
    todo = pending(root, assignments)
    if not todo:
        return []
    with tempfile.TemporaryDirectory(prefix="canary-") as tmp:
        course = make_course(Path(tmp), list(todo), root)
        auto = {}
        for assignment in todo:
            release, source, name = versions(course, assignment)
            submit(course, STUDENT, assignment, solved(release, source, written=True), f"{name}.ipynb")
            auto[assignment] = nbtools.autograded_points(source)
        shared = settings.shared_with_canary() if settings is not None else {}
        (course / SETTINGS_FILE).write_text(json.dumps(shared, indent=1))
        run = _grade_solutions(course, list(todo), progress)
        rows = {r["assignment"]: r for r in gbk.read_csv(course / "grades.csv")} \
            if (course / "grades.csv").exists() else {}
        problems = []
        for assignment, key in todo.items():
            problem = _verdict(course, assignment, rows.get(assignment), auto[assignment], run)
            if problem:
                problems.append(f"{assignment}: {problem}")
            else:
                cache.mkdir(exist_ok=True)
                (cache / f"{assignment}-{key}").write_text("the instructor's solution got full marks\n")
    return problems


def _grade_solutions(course: Path, todo: list[str], progress: bool):
    """Run the grading command on the scratch course, a bar counting the solutions it has
    graded (nbgrader writes a solution's autograded notebook twice: before running it, and
    with its outputs when it is done)."""
    from types import SimpleNamespace

    from tqdm.auto import tqdm

    command = [sys.executable, "-m", "course_utils.grading.grade", "--root", str(course), "--no-progress",
               "--jobs", "1", "--skip-canary", "--config", str(course / SETTINGS_FILE), *todo]
    folders = [course / "autograded" / STUDENT / a for a in todo]
    done: set[Path] = set()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tqdm(total=len(todo), desc="canary", unit="solution", file=sys.stderr, disable=not progress,
                 dynamic_ncols=True) as bar:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        while True:
            try:
                process.wait(timeout=1)
                finished = True
            except subprocess.TimeoutExpired:
                finished = False
            done.update(d for d in folders if d not in done and _has_run(d))
            bar.update(len(done) - bar.n)
            if finished:
                break
        out.seek(0)
        err.seek(0)
        return SimpleNamespace(returncode=process.returncode, stdout=out.read(), stderr=err.read())


def _has_run(folder: Path) -> bool:
    """Whether an autograded notebook in ``folder`` carries the outputs of its run (one being
    written reads as not yet)."""
    for path in folder.glob("*.ipynb"):
        try:
            cells = json.loads(path.read_text()).get("cells", [])
        except (OSError, ValueError, AttributeError):
            continue
        if any(c.get("execution_count") is not None for c in cells if isinstance(c, dict)):
            return True
    return False


def _verdict(course: Path, assignment: str, row: dict | None, auto: float, run) -> str | None:
    if row is None:
        return "the grading command did not grade it: " + (run.stderr.strip().splitlines() or ["?"])[-1]
    if row["status"] == "failed":
        return f"it failed: {row['detail']}"
    if float(row["score"] or 0) >= auto:
        return None
    for path in sorted((course / "autograded" / STUDENT / assignment).glob("*.ipynb")):
        nb = nbtools.read(path)
        for index, cell in enumerate(nb.cells):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    message = f"{output.get('ename')}: {str(output.get('evalue', '')).strip()[:300]}"
                    fix = next((text for pattern, text in FIXES if pattern.search(message)), None)
                    where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
                    return (f"the solution scored {row['score']} of {auto:g} automatic points; {path.name} "
                            f"{where} failed with {message}" + (f". Fix: {fix}" if fix else ""))
    return f"the solution scored {row['score']} of {auto:g} automatic points"


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description="Grade the instructor's solutions as the students will be.")
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--root", type=Path, default=COURSE_ROOT)
    args = parser.parse_args(argv)
    chosen = args.assignments or all_assignments(args.root)
    problems = preflight(args.root, chosen) or check(args.root, chosen)
    for problem in problems:
        print(f"canary: {problem}", file=sys.stderr)
    if not problems:
        print("canary: the instructor's solutions get full automatic marks in the grading environment")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())


# ---- nbgrader's own autograde (`nbgrader autograde`, the Formgrader's Autograde button) ----
#
# nbgrader_config.py puts these preprocessors around the course's TrackedExecute, so that those
# paths check the machine and tell the grader's faults from the student's as `make grade` does:
# Preflight first, AttributeFaults after the notebook ran and before nbgrader saves a score,
# RefreshGrades last. A fault stops nbgrader before SaveAutoGrades: the scores of the grading
# before stay in the gradebook, the submission is recorded as failed with the reason
# ("grading environment: ..."), and nbgrader reports an error (exit status 1 on the command
# line, an error in the Formgrader) instead of a success.

class GraderFault(errors.GraderFault, RuntimeError):
    """The grading machine, not the submission, kept this notebook from being graded: raised to stop
    nbgrader's autograde (the gradebook records an :class:`.errors.EnvironmentFault`)."""


class _CourseStep(Preprocessor):
    """A preprocessor of nbgrader's autograde that knows the course folder and the submission."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enabled = True

    def _where(self, resources) -> tuple[Path, str, str, str, str, str]:
        """(course folder, course id, db_url, assignment, student, notebook) of this conversion."""
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        info = resources["nbgrader"]
        return (Path(coursedir.root), coursedir.course_id, info["db_url"], info["assignment"],
                info["student"], info["notebook"])

    def _refresh(self, resources) -> None:
        root, course_id, db_url, assignment, _, _ = self._where(resources)
        if not gbk.refresh_csv(root / "grades.csv", db_url, course_id):
            self.log.warning("%s is not the course's grades.csv (nbgrader export's?): not updated; "
                             "`make grade ASSIGNMENT=%s` (it grades nothing twice) writes it",
                             root / "grades.csv", assignment)

    def _fault(self, resources, reason: str) -> None:
        """Record the grader's fault for this submission, keeping its scores, and stop nbgrader."""
        from nbgrader.api import Gradebook

        _, course_id, db_url, assignment, student, notebook = self._where(resources)
        detail = str(errors.EnvironmentFault(reason))
        with Gradebook(db_url, course_id) as gb:
            gbk.record_failure(gb, assignment, student, errors.EnvironmentFault(reason + KEPT),
                               notebook=notebook, keep_scores=True)
        self._refresh(resources)
        message = (f"{student}/{assignment} was not graded, through a fault of the grading machine: {detail}. "
                   "No score was changed (the gradebook keeps those of its last grading); fix the machine "
                   "and autograde it again")
        self.log.error(message)
        # nbgrader sets NBGRADER_EXECUTION around the conversion without try/finally, so an error
        # raised inside it stays in the Formgrader's process and silences its next kernels' checks.
        # After a conversion that ends normally nbgrader deletes it; do the same.
        os.environ.pop("NBGRADER_EXECUTION", None)
        raise GraderFault(message)


KEPT = "; no score changed: the gradebook keeps those of the last grading until it is graded again"
"""Appended to the reason of a fault found by nbgrader's own autograde, which keeps the scores."""


class Preflight(_CourseStep):
    """The grading command's preflight (:func:`preflight`, the names read as the sandbox's user
    included) before each notebook runs."""

    def preprocess(self, nb, resources):
        root, *_, assignment, _, _ = self._where(resources)
        problems = preflight(root, [assignment])
        if problems:
            self._fault(resources, "; ".join(problems))
        return nb, resources


class AttributeFaults(_CourseStep):
    """The grading command's fault attribution (:func:`.faults.environment_fault`) on the notebook
    nbgrader has just run, before it saves any score."""

    def preprocess(self, nb, resources):
        from .faults import environment_fault

        root, *_, assignment, _, notebook = self._where(resources)
        release = _student_version(root, assignment, notebook)
        if release is None:
            self.log.warning("no student version of %s/%s.ipynb to tell the grader's faults from the "
                             "student's (make release)", assignment, notebook)
            return nb, resources
        fault = environment_fault(nb, release)
        if fault:
            self._fault(resources, f"{notebook}.ipynb {fault}")
        return nb, resources


class RefreshGrades(_CourseStep):
    """After nbgrader's own autograde has saved the notebook's scores: the course's outcome says
    graded (an earlier failure, note or flag no longer holds), and grades.csv follows the
    gradebook (:func:`.gradebook.refresh_csv`)."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook

        _, course_id, db_url, assignment, student, _ = self._where(resources)
        with Gradebook(db_url, course_id) as gb:
            gbk.finish(gb, assignment, student, {})
        self._refresh(resources)
        return nb, resources


def _student_version(root: Path, assignment: str, notebook: str):
    """The released student version of a notebook (its lecture cells are what the student did not
    change), else the instructor's source (the same lecture cells)."""
    from .course import RELEASE_DIR, SOURCE_DIR

    for folder in (RELEASE_DIR, SOURCE_DIR):
        path = Path(root) / folder / assignment / f"{notebook}.ipynb"
        if path.is_file():
            return nbtools.read(path)
    return None


def logs_at_info() -> None:
    """Keep the Formgrader's Autograde and Generate Feedback logs at INFO.

    A Jupyter application's logger passes DEBUG and leaves the filtering to its console
    handler; the Formgrader hands that level to nbgrader's API and captures the converters'
    log with a handler of its own, so its buttons showed every kernel message of every cell
    (the base64 of each image among them). Called from ``nbgrader_config.py``, which the
    Formgrader reads when it starts and before each of its calls: a logger whose every handler
    shows INFO or above anyway is set to INFO. A server started with ``--debug`` (a handler at
    DEBUG) keeps its level.
    """
    import logging

    for name in list(logging.Logger.manager.loggerDict):
        logger = logging.getLogger(name)
        if (logger.level == logging.DEBUG and logger.handlers
                and all(handler.level >= logging.INFO for handler in logger.handlers)):
            logger.setLevel(logging.INFO)
