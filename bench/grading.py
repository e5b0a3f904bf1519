"""Benchmark: grading a class with plain ``nbgrader autograde`` and with ``make grade``, in one run.

    .venv/bin/python bench/grading.py [--students 40] [--jobs N]

Builds a scratch course with a one-exercise assignment that uses torch (a
bigram model's negative log-likelihood, trained for a few steps in the hidden
tests), and a synthetic class: correct, blank and partly right submissions.
Then grades the same class twice, each in its own copy of the course whose
gradebook already knows the assignment (``nbgrader generate_assignment``, not timed):

1. ``nbgrader autograde <assignment>`` (one notebook after another);
2. ``python -m course_utils.grading.grade`` (what ``make grade`` runs) with
   ``--jobs`` workers (default: the number of cores);

and prints notebooks per minute for both, their ratio, and the time per
notebook against the bare cost of starting a kernel and executing the solution
notebook (nbclient, no nbgrader). It also checks that both gave the same scores.
Then it grades a sample of the class with one worker three ways, to price what
``make grade`` adds per notebook: as usual, without the judge (test cells run in
the student's kernel with the run-time integrity checks, as ``make grade`` did
before the judge: ``c.TrackedExecute.judge = False``) and without the sandbox
(``--unsandboxed``). "Plain nbgrader" is nbgrader's own autograde with its stock
preprocessors (the course's ``nbgrader_config.py`` routes it through the judge;
the benchmark's plain copy undoes that). The canary is skipped: it runs once per
course and is cached. Not part of ``make test``.

    .venv/bin/python bench/grading.py --course [--sample 2] [--rounds 2] [--assignments 00_math_toolkit ...]

prices the judge on the course's own notebooks instead: for each assignment, a
scratch course with ``--sample`` submissions of the solution, graded with one
worker with and without the judge, alternating ``--rounds`` times (median of each).
Both ways run without the sandbox: without the judge the hidden tests import the
course's reference code in the kernel, which the sandbox does not show (a notebook
that lends references would fail half-way and look cheap).

    .venv/bin/python bench/grading.py --class [--per-assignment 5] [--jobs N]

grades a synthetic class of the course's own seven assignments (per assignment:
solved, partly right (every other exercise answered) and blank, cycling) with
plain ``nbgrader autograde`` (one assignment after another) and with ``make
grade`` (``--jobs`` workers), and prints notebooks per minute and CPU seconds per
notebook for both, their ratio, and per assignment a ``make grade`` worker's
seconds per notebook against the bare cost (nbclient starting a kernel and
executing the solution), alone and ``--jobs`` at a time (the cores shared as make grade's
workers share them).
"""

from __future__ import annotations

import argparse
import csv
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course_utils.grading.authoring import synthetic as syn  # noqa: E402
from course_utils.grading.course import SOURCE_DIR  # noqa: E402

ASSIGNMENT = "90_torch_bench"
USUAL = "make grade (sandbox, judge)"
STOCK_AUTOGRADE = """
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata"]
"""
NOTEBOOK = "bigram_loss"
NO_SANDBOX = ('\nc.SandboxProvisioner.bwrap = "/nonexistent/bwrap"  # as if bubblewrap were missing\n'
              "c.SandboxProvisioner.allow_unsandboxed = True\n")
START = "    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END = "    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
SOLUTION = """    logits = W[xs]
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    loss = -log_probs[torch.arange(len(ys)), ys].mean()"""
PARTLY_RIGHT = """    loss = F.cross_entropy(W[xs].detach(), ys)"""  # right value, but no gradient reaches W


def _meta(grade_id, *, solution=False, grade=False, locked=False, points=None):
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def source_notebook() -> nbformat.NotebookNode:
    """The instructor's notebook of the benchmark assignment."""
    exercise = "\n".join([
        "def bigram_nll(W, xs, ys):",
        '    """Mean negative log-likelihood of the next characters ys after xs under logits W[x]."""',
        "    " + "#" * 60,
        "    # TODO: the mean of -log softmax(W[x])[y] over the pairs.",
        "    " + "#" * 60,
        START, SOLUTION, END,
        "    return loss",
    ])
    test = "\n".join([
        "# Tests for bigram_nll: its value (1 point)",
        "g = torch.Generator().manual_seed(0)",
        "W = torch.randn(27, 27, generator=g)",
        "xs, ys = torch.randint(0, 27, (100,), generator=g), torch.randint(0, 27, (100,), generator=g)",
        "assert torch.allclose(bigram_nll(W, xs, ys), F.cross_entropy(W[xs], ys), atol=1e-5)",
    ])
    training = "\n".join([
        "# Tests for bigram_nll: training with it (1 point)",
        "### BEGIN HIDDEN TESTS",
        "# checks: the loss, connected to W, along 60 gradient steps on 20,000 pairs",
        # Judged outside the kernel, a returned loss cannot carry gradients back to the test's W
        # (CONTRIBUTING.md, "Tests run by the judge"): the steps follow the reference's gradient.
        "g = torch.Generator().manual_seed(1)",
        "xs, ys = torch.randint(0, 27, (20_000,), generator=g), torch.randint(0, 27, (20_000,), generator=g)",
        "W = torch.zeros(27, 27, requires_grad=True)",
        "for _ in range(60):",
        "    loss = bigram_nll(W, xs, ys)",
        "    assert loss.grad_fn is not None, 'no gradient reaches W'",
        "    reference = F.cross_entropy(W[xs], ys)",
        "    assert torch.allclose(loss.detach(), reference.detach(), atol=1e-4), (float(loss), float(reference))",
        "    W.grad = None",
        "    reference.backward()",
        "    with torch.no_grad():",
        "        W -= 10 * W.grad",
        "### END HIDDEN TESTS",
    ])
    nb = new_notebook(cells=[
        new_markdown_cell("# A bigram loss in torch (benchmark assignment)"),
        new_code_cell("import torch\nimport torch.nn.functional as F\ntorch.manual_seed(0);"),
        new_code_cell(exercise, metadata=_meta("bigram_nll", solution=True)),
        new_code_cell(test, metadata=_meta("bigram_nll_test", grade=True, locked=True, points=1)),
        new_code_cell(training, metadata=_meta("bigram_nll_training_test", grade=True, locked=True,
                                               points=1)),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"bench-{i:03d}"
    return nb


def build_course(workdir: Path, students: int) -> Path:
    course = syn.make_course(workdir, [])
    folder = course / SOURCE_DIR / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(source_notebook(), str(folder / f"{NOTEBOOK}.ipynb"))
    release, source, name = syn.versions(course, ASSIGNMENT)
    for i in range(students):
        kind = ["correct", "correct", "blank", "partly"][i % 4]
        if kind == "correct":
            nb = syn.solved(release, source)
        elif kind == "blank":
            nb = release
        else:
            nb = syn.with_answer(release, "bigram_nll", PARTLY_RIGHT, release)
        syn.submit(course, f"s{i:03d}_{kind}", ASSIGNMENT, nb, f"{name}.ipynb")
    return course


def bare_seconds(course: Path, repeats: int = 3) -> float:
    """Median time to start a kernel and execute the solution notebook (no nbgrader)."""
    path = course / SOURCE_DIR / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    times = []
    for _ in range(repeats):
        nb = nbformat.read(str(path), as_version=4)
        started = time.perf_counter()
        NotebookClient(nb, timeout=120, kernel_name="python3").execute()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> tuple[float, float]:
    """Wall time and CPU time of a command.

    The CPU time is the whole machine's (user + system, every core) while the
    command runs: the kernels run in sandboxes and worker processes whose time
    does not all come back to this process. On a quiet machine it is the command's.
    """
    import psutil

    before = psutil.cpu_times()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - started
    after = psutil.cpu_times()
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"failed: {' '.join(cmd)}")
    cpu = (after.user + after.system) - (before.user + before.system)
    return seconds, cpu


def scores(plain: Path, ours: Path) -> tuple[bool, list[str]]:
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=plain,
                   check=True, capture_output=True)
    with (plain / "export.csv").open() as fh:
        plain_scores = {r["student_id"]: float(r["score"]) for r in csv.DictReader(fh)}
    with (ours / "grades.csv").open() as fh:
        our_rows = {r["student_id"]: r for r in csv.DictReader(fh)}
    our_scores = {s: float(r["score"] or "nan") for s, r in our_rows.items()}
    return plain_scores == our_scores, sorted({r["status"] for r in our_rows.values()})


def costs(base: Path, work: Path, sample: int, rounds: int) -> bool:
    """Grade ``sample`` submissions with one worker: as usual, without the integrity checks, and
    without the sandbox, alternating ``rounds`` times (median of each); print the cost of each per
    notebook, then the sandbox's alone (:func:`kernel_cost`). Returns whether the scores agree."""
    python = sys.executable
    students = sorted(p.name for p in (base / "submitted").iterdir())[:sample]
    variants = {
        USUAL: ([], ""),
        "without the judge (tests in the kernel, run-time integrity checks)": ([], "c.TrackedExecute.judge = False"),
        # --unsandboxed alone changes nothing where bubblewrap runs: the sandbox is then made missing
        "without the sandbox": (["--unsandboxed"], NO_SANDBOX.strip()),
    }
    seconds: dict[str, list[float]] = {label: [] for label in variants}
    rows = {}
    for r in range(rounds):
        for i, (label, (flags, config)) in enumerate(variants.items()):
            course = work / f"cost-{r}-{i}"
            shutil.copytree(base, course)
            for student in (course / "submitted").iterdir():
                if student.name not in students:
                    shutil.rmtree(student)
            if config:
                with (course / "nbgrader_config.py").open("a") as fh:
                    fh.write("\n" + config + "\n")
            run([python, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course)
            cmd = [python, "-m", "course_utils.grading.grade", "--root", str(course), "--jobs", "1",
                   "--no-progress", "--skip-canary", *flags]
            seconds[label].append(run(cmd, ROOT)[0] / len(students))
            with (course / "grades.csv").open() as fh:
                rows[(r, label)] = {row["student_id"]: row["score"] for row in csv.DictReader(fh)}
    best = {label: statistics.median(times) for label, times in seconds.items()}
    usual = best[USUAL]
    print(f"one worker, {len(students)} notebooks, median of {rounds}: {usual:.2f} s per notebook with the "
          "sandbox and the judge")
    for label in list(variants)[1:]:
        print(f"  {label}: {best[label]:.2f} s per notebook, so they cost "
              f"{usual - best[label]:+.2f} s per notebook ({100 * (usual / best[label] - 1):+.0f}%); "
              f"rounds: {', '.join(f'{t:.2f}' for t in seconds[label])} s "
              f"(with: {', '.join(f'{t:.2f}' for t in seconds[USUAL])} s)")
    same = len({tuple(sorted(r.items())) for r in rows.values()}) == 1
    print(f"same scores in all runs: {same}")
    sandboxed, plain = kernel_cost(base)
    print(f"starting a kernel, running one cell and stopping it (median of 8, alternating): sandboxed "
          f"{sandboxed:.3f} s, unsandboxed {plain:.3f} s: the sandbox costs {sandboxed - plain:+.3f} s "
          "per notebook")
    start, check = integrity_cost(base)
    print(f"integrity checks in one kernel (modules already imported): {1000 * start:.0f} ms before the "
          f"first cell, {1000 * check:.1f} ms after each test cell (median of 20); the course's notebooks "
          "have 9 to 18 test cells")
    return same


def judge_on_course(work: Path, sample: int, rounds: int, chosen: list[str] | None = None) -> bool:
    """Seconds per notebook of each real assignment graded with and without the judge; prints a
    table and returns whether the scores agree (every solution must score full marks both ways)."""
    from course_utils.grading.course import assignments

    python = sys.executable
    print(f"the course's notebooks, one worker, no sandbox either way, {sample} solved submissions each, median of {rounds} "
          "alternating rounds after one warm-up round (seconds per notebook)")
    print(f"{'assignment':28} {'with judge':>11} {'without':>9} {'judge costs':>12}")
    agree, totals = True, {True: 0.0, False: 0.0}
    for assignment in chosen or assignments():
        base = syn.make_course(work / "course" / assignment, [assignment])
        release, source, name = syn.versions(base, assignment)
        for i in range(sample):
            syn.submit(base, f"s{i:02d}", assignment, syn.solved(release, source, written=True),
                       f"{name}.ipynb")
        seconds: dict[bool, list[float]] = {True: [], False: []}
        grades = set()
        # round -1 warms the caches (new .pyc files, the page cache, bwrap) and is not counted
        for r in range(-1, rounds):
            for judge in (True, False):
                course = work / "course" / f"{assignment}-{r}-{judge}"
                shutil.copytree(base, course)
                with (course / "nbgrader_config.py").open("a") as fh:
                    fh.write(NO_SANDBOX + ("" if judge else "c.TrackedExecute.judge = False\n"))
                run([python, "-m", "nbgrader", "generate_assignment", assignment, "--force"], course)
                cmd = [python, "-m", "course_utils.grading.grade", "--root", str(course), "--jobs", "1",
                       "--no-progress", "--skip-canary"]
                took = run(cmd, ROOT)[0] / sample
                if r >= 0:
                    seconds[judge].append(took)
                with (course / "grades.csv").open() as fh:
                    rows = list(csv.DictReader(fh))
                grades |= {(row["score"], row["status"]) for row in rows}
                for row in rows:
                    if row["status"] not in ("graded", "needs_manual"):  # a benchmark must not hide a wrong grade
                        print(f"  {assignment} round {r}, judge {judge}: {row['student_id']} {row['status']}: "
                              f"{row['detail'][:400]}", flush=True)
                shutil.rmtree(course)
        agree = agree and len(grades) == 1
        with_, without = (statistics.median(seconds[j]) for j in (True, False))
        totals[True] += with_
        totals[False] += without
        print(f"{assignment:28} {with_:10.2f}s {without:8.2f}s {100 * (with_ / without - 1):+11.0f}%"
              f"   scores {', '.join(sorted(s for s, _ in grades))}")
    print(f"{'all of them':28} {totals[True]:10.2f}s {totals[False]:8.2f}s "
          f"{100 * (totals[True] / totals[False] - 1):+11.0f}%")
    print(f"same score in every run of each assignment: {agree}")
    return agree


def _execute(path: str, threads: int) -> float:
    """Seconds for nbclient to start a kernel and execute the notebook at ``path`` (``threads``:
    the BLAS threads it may use, as make grade's workers set them; 0 leaves the default)."""
    env = {**os.environ, **({v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                       "OPENBLAS_NUM_THREADS")} if threads else {})}
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}})
    started = time.perf_counter()
    with client.setup_kernel(env=env):
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    return time.perf_counter() - started


TIMED_GRADE = """
import json, sys
from pathlib import Path
from course_utils.grading.grade import grade
summary = grade(Path(sys.argv[1]), jobs=int(sys.argv[2]), progress=False, skip_canary=True)
Path(sys.argv[3]).write_text(json.dumps([[s, a, t] for (s, a), t in summary.times.items()]))
"""


def class_on_course(work: Path, per_assignment: int, jobs: int, chosen: list[str] | None = None) -> bool:
    """The course's real assignments, a synthetic class of each: plain nbgrader against make grade."""
    import json

    from course_utils.grading.course import assignments

    python = sys.executable
    chosen = chosen or assignments()
    base = syn.make_course(work / "class", chosen)
    bare: dict[str, float] = {}
    bare_shared: dict[str, float] = {}
    for assignment in chosen:
        release, source, name = syn.versions(base, assignment)
        exercises = [c.metadata.nbgrader["grade_id"] for c in source.cells
                     if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
        kinds = {"solved": syn.solved(release, source, written=True),
                 "partly": syn.solved(release, source, only=set(exercises[::2])), "blank": release}
        for i in range(per_assignment):
            kind = list(kinds)[i % 3]
            nb = kinds[kind]
            syn.submit(base, f"{kind}{i:02d}", assignment, nb, f"{name}.ipynb")
        path = base / SOURCE_DIR / assignment / f"{name}.ipynb"
        _execute(str(path), threads=0)  # warm-up: the first run pays for cold caches
        bare[assignment] = _execute(str(path), threads=0)
        # as make grade's workers run: `jobs` at once, the cores shared out between them
        shared = max(1, (os.cpu_count() or 1) // jobs)
        with multiprocessing.get_context("spawn").Pool(jobs) as workers:
            bare_shared[assignment] = statistics.mean(workers.starmap(_execute, [(str(path), shared)] * jobs))
    n = per_assignment * len(chosen)
    plain, ours = work / "plain", work / "ours"
    shutil.copytree(base, plain)
    shutil.copytree(base, ours)
    with (plain / "nbgrader_config.py").open("a") as fh:
        fh.write(STOCK_AUTOGRADE)
    for course in (plain, ours):
        for assignment in chosen:
            run([python, "-m", "nbgrader", "generate_assignment", assignment, "--force"], course)
    print(f"{n} submissions of the course's {len(chosen)} assignments ({per_assignment} each: solved, "
          f"partly right, blank), {os.cpu_count()} cores, make grade --jobs {jobs}")
    t_plain = cpu_plain = 0.0
    for assignment in chosen:
        t, cpu = run([python, "-m", "nbgrader", "autograde", assignment], plain)
        t_plain, cpu_plain = t_plain + t, cpu_plain + cpu
    times_file = work / "times.json"
    t_ours, cpu_ours = run([python, "-c", TIMED_GRADE, str(ours), str(jobs), str(times_file)], ROOT)
    times = json.loads(times_file.read_text())
    ok, statuses = scores_all(plain, ours)
    print(f"plain nbgrader autograde: {t_plain:6.1f} s  {60 * n / t_plain:5.1f} notebooks/min  "
          f"CPU {cpu_plain / n:.2f} s per notebook")
    print(f"make grade (--jobs {jobs}):     {t_ours:6.1f} s  {60 * n / t_ours:5.1f} notebooks/min  "
          f"CPU {cpu_ours / n:.2f} s per notebook")
    print(f"throughput ratio (make grade / plain): {t_plain / t_ours:.2f}x; CPU per notebook ratio "
          f"{cpu_ours / cpu_plain:.2f}x")
    print(f"{'assignment':26} {'bare':>7} {'make grade':>11} {'ratio':>6} {f'bare x{jobs}':>9} {'ratio':>6}"
          f"   (solved submissions, s per notebook; bare x{jobs}: {jobs} at once, as the workers run)")
    ratios, shared_ratios = [], []
    for assignment in chosen:
        solved = [t for s, a, t in times if a == assignment and s.startswith("solved")]
        mean = statistics.mean(solved)
        ratios.append(mean / bare[assignment])
        shared_ratios.append(mean / bare_shared[assignment])
        print(f"{assignment:26} {bare[assignment]:6.2f}s {mean:10.2f}s {ratios[-1]:5.2f}x "
              f"{bare_shared[assignment]:8.2f}s {shared_ratios[-1]:5.2f}x")
    print(f"per-notebook ratio to the bare cost: median {statistics.median(ratios):.2f}x, "
          f"max {max(ratios):.2f}x; to the bare cost {jobs} at a time: median "
          f"{statistics.median(shared_ratios):.2f}x, max {max(shared_ratios):.2f}x")
    print(f"same scores from both: {ok}; statuses: {', '.join(statuses)}")
    return ok


def scores_all(plain: Path, ours: Path) -> tuple[bool, list[str]]:
    """Whether plain nbgrader and make grade gave every (student, assignment) the same score."""
    subprocess.run([sys.executable, "-m", "nbgrader", "export", "--to", "export.csv"], cwd=plain,
                   check=True, capture_output=True)
    with (plain / "export.csv").open() as fh:
        plain_scores = {(r["student_id"], r["assignment"]): round(float(r["score"]), 6)
                        for r in csv.DictReader(fh)}
    with (ours / "grades.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    our_scores = {(r["student_id"], r["assignment"]): round(float(r["score"] or "nan"), 6) for r in rows}
    differ = sorted(k for k in our_scores if plain_scores.get(k) != our_scores[k])
    for key in differ[:10]:
        print(f"  score differs for {key}: plain {plain_scores.get(key)}, make grade {our_scores[key]}")
    return not differ, sorted({r["status"] for r in rows})


def integrity_cost(base: Path, repeats: int = 20) -> tuple[float, float]:
    """Seconds of the run-time integrity check: its baseline, and one check after a test cell."""
    from course_utils.grading import integrity
    from course_utils.nbtools import is_test_cell

    (path,) = (base / SOURCE_DIR / ASSIGNMENT).glob("*.ipynb")
    nb = nbformat.read(str(path), as_version=4)
    plan = integrity.Plan.from_release(nb)
    test = next(c for c in nb.cells if is_test_cell(c))
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    with client.setup_kernel():
        client.execute_cell(nb.cells[1], 1)  # the imports, so that only the checks are timed
        monitor = integrity.Monitor(client, plan)
        started = time.perf_counter()
        monitor.start()
        start = time.perf_counter() - started
        checks = []
        for _ in range(repeats):
            started = time.perf_counter()
            assert monitor.check(test) == []
            checks.append(time.perf_counter() - started)
    return start, statistics.median(checks)


def kernel_cost(base: Path, repeats: int = 8) -> tuple[float, float]:
    """Median seconds to start a kernel, run one cell and shut it down, sandboxed and not."""
    from jupyter_client.manager import AsyncKernelManager

    from course_utils.grading.sandbox import SandboxedKernelManager

    folder = base / "submitted" / sorted(p.name for p in (base / "submitted").iterdir())[0] / ASSIGNMENT
    times: dict[type, list[float]] = {SandboxedKernelManager: [], AsyncKernelManager: []}
    for _ in range(repeats):
        for manager in times:
            nb = new_notebook(cells=[new_code_cell("1 + 1")])
            started = time.perf_counter()
            NotebookClient(nb, timeout=60, kernel_name="python3", kernel_manager_class=manager,
                           resources={"metadata": {"path": str(folder)}}).execute()
            times[manager].append(time.perf_counter() - started)
    return statistics.median(times[SandboxedKernelManager]), statistics.median(times[AsyncKernelManager])


def main(argv: list[str] | None = None) -> int:
    from course_utils.grading.course import scripts_on_path

    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2,
                        help="alternate plain and ours this many times and keep the best of each "
                             "(the machine may be busy with other work)")
    parser.add_argument("--keep", type=Path, default=None, help="build the courses here and keep them")
    parser.add_argument("--costs-only", action="store_true", help="only price the sandbox and the checks")
    parser.add_argument("--assignments", nargs="*", default=None, help="with --course: only these")
    parser.add_argument("--course", action="store_true",
                        help="price the judge on the course's own notebooks (--sample solved each)")
    parser.add_argument("--class", dest="klass", action="store_true",
                        help="plain nbgrader against make grade on a class of the course's assignments")
    parser.add_argument("--per-assignment", type=int, default=5, help="with --class: students per assignment")
    parser.add_argument("--sample", type=int, default=12,
                        help="submissions graded with one worker to price the sandbox and integrity checks")
    args = parser.parse_args(argv)
    python = sys.executable
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-grading-")).resolve()
    n = args.students
    try:
        if args.klass:
            return 0 if class_on_course(work, args.per_assignment, args.jobs, args.assignments) else 1
        if args.course:
            return 0 if judge_on_course(work, args.sample, args.rounds, args.assignments) else 1
        base = build_course(work / "base", n)
        if args.costs_only:
            return 0 if costs(base, work, args.sample, args.rounds) else 1
        print(f"{n} submissions of a torch assignment ({ASSIGNMENT}: correct, blank, partly right), "
              f"{os.cpu_count()} cores, --jobs {args.jobs}, best of {args.rounds} alternating rounds")
        plain_t, ours_t, same, statuses = [], [], True, []
        for r in range(args.rounds):
            plain, ours = work / f"plain{r}", work / f"ours{r}"
            shutil.copytree(base, plain)
            shutil.copytree(base, ours)
            # Both start from a gradebook that knows the assignment (nbgrader's first gradebook
            # costs ~3.5 s of `alembic` in a subprocess, once per course).
            with (plain / "nbgrader_config.py").open("a") as fh:
                fh.write(STOCK_AUTOGRADE)
            for course in (plain, ours):
                run([python, "-m", "nbgrader", "generate_assignment", ASSIGNMENT, "--force"], course)
            plain_t.append(run([python, "-m", "nbgrader", "autograde", ASSIGNMENT], plain))
            ours_t.append(run([python, "-m", "course_utils.grading.grade", "--root", str(ours),
                               "--jobs", str(args.jobs), "--no-progress", "--skip-canary"], ROOT))
            ok, statuses = scores(plain, ours)
            same = same and ok
            print(f"  round {r + 1}: plain {plain_t[-1][0]:.1f} s (CPU {plain_t[-1][1]:.0f} s), "
                  f"make grade {ours_t[-1][0]:.1f} s (CPU {ours_t[-1][1]:.0f} s), speed-up "
                  f"{plain_t[-1][0] / ours_t[-1][0]:.2f}x; machine load {os.getloadavg()[0]:.1f} "
                  f"(other work shares the cores)")
        bare = bare_seconds(base)
        t_plain, cpu_plain = min(plain_t)
        t_ours, cpu_ours = min(ours_t)
        per_min_plain, per_min_ours = 60 * n / t_plain, 60 * n / t_ours
        print(f"plain nbgrader autograde: {t_plain:6.1f} s  {per_min_plain:5.1f} notebooks/min  "
              f"{t_plain / n:.2f} s per notebook, CPU {cpu_plain / n:.2f} s per notebook")
        print(f"make grade (--jobs {args.jobs}):     {t_ours:6.1f} s  {per_min_ours:5.1f} notebooks/min  "
              f"{t_ours / n:.2f} s per notebook, CPU {cpu_ours / n:.2f} s per notebook")
        rounds = ", ".join(f"{p[0] / o[0]:.2f}x" for p, o in zip(plain_t, ours_t))
        print(f"speed-up: {per_min_ours / per_min_plain:.2f}x (best times); per round: {rounds}")
        print(f"bare cost of starting a kernel and executing the solution (nbclient, no nbgrader): "
              f"{bare:.2f} s; per notebook plain nbgrader takes {t_plain / n / bare:.2f}x that, "
              f"a make grade worker {t_ours * args.jobs / n / bare:.2f}x")
        print(f"same scores from both: {same}; statuses: {', '.join(statuses)}")
        same = costs(base, work, args.sample, args.rounds) and same
        return 0 if same else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
