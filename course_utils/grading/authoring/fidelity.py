"""Grading fidelity: do an assignment's tests fail typical wrong answers and pass other correct ones?

The answers to try live in ``tests/fidelity/<assignment>.toml`` (format in
CONTRIBUTING.md). The solution notebook runs once, top to bottom, in one kernel.
Just before the real answer cell of an exercise, every listed answer for that
exercise is put between its markers and the exercise's cells (answer cell to
last test cell) are run with it; the test cells are judged as at grading time
(:mod:`.judge`) and scored the way nbgrader scores them. Then the real cells run,
so each later exercise again sees the instructor's solution of the earlier ones.

Then, with the whole notebook run, each ``wrong`` answer is put back in place to see what
else it costs (the cascade): every later cell that reads a name it binds, directly or through
a cell re-run for that reason, runs again with it, and the later exercises whose tests fail
are recorded. They must be exactly the answer's ``fails`` list (default: none), so a mistake
costs its own exercise only unless the data says why not. A lecture cell runs again only when
a later test reads what it binds, directly or through other such cells (plots do not), and
not when it took longer than ``SLOW_CELL_SECONDS`` (training loops): a test reading what it
computed sees the solution's values. Afterwards every re-run cell runs again as it was.

The grading command's source scan (:mod:`.integrity`) must find nothing in any
listed answer: every answer here is an honest attempt, so a finding is a false
alarm to fix.

    course-fidelity 01_probability      # or: python -m course_utils.grading.authoring.fidelity
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from nbclient import NotebookClient

from ... import nbtools
from ...kernel import CourseKernelManager
from .. import integrity
from ..course import COURSE_ROOT, load_config, source_notebooks
from ..judge import Judge, run_test_cell
from ..settings import Grading

FIDELITY_DIR = COURSE_ROOT / "tests" / "fidelity"
# wrong: must fail the exercise's tests; correct: must pass them all; wrong_visible: a trivial
# answer (a constant, the un-normalised result, the commonest slip) that the visible tests
# alone, as the student runs them, must already fail.
KINDS = ("wrong", "correct", "wrong_visible")
SLOW_CELL_SECONDS = 2.0


@dataclass(frozen=True)
class Answer:
    exercise: str
    kind: str
    why: str
    code: str
    fails: tuple[str, ...] = ()
    """Later exercises a wrong answer must cost too (the tests of which cannot be isolated from it)."""

    @property
    def label(self) -> str:
        return f"{self.exercise}: {self.kind}: {self.why}"


@dataclass
class Verdict:
    answer: Answer
    passed: bool
    failures: list[str]
    cascade: list[str] | None = None
    """The later exercises whose tests failed with this answer in place (wrong answers only)."""

    @property
    def ok(self) -> bool:
        """The tests judged this answer as they should, and it cost exactly the exercises listed."""
        return (self.passed == (self.answer.kind == "correct")
                and (self.cascade is None or sorted(self.cascade) == sorted(self.answer.fails)))

    def describe(self) -> str:
        outcome = "passed" if self.passed else "failed (" + "; ".join(self.failures) + ")"
        expected = {"correct": "pass", "wrong": "fail",
                    "wrong_visible": "fail the visible tests"}[self.answer.kind]
        text = f"{'ok ' if self.ok else 'BAD'} {self.answer.label}: should {expected}, {outcome}"
        if self.cascade is not None and sorted(self.cascade) != sorted(self.answer.fails):
            text += (f"; later exercises it costs: {', '.join(self.cascade) or 'none'}"
                     f" (fails = {list(self.answer.fails)} in the data)")
        return text


@dataclass
class Report:
    assignment: str
    verdicts: list[Verdict] = field(default_factory=list)
    solution_failures: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.solution_failures and not self.problems and all(v.ok for v in self.verdicts)

    def verdict(self, answer: Answer) -> Verdict:
        return next(v for v in self.verdicts if v.answer == answer)

    def describe(self) -> str:
        lines = [f"{self.assignment}: {len(self.verdicts)} answers tried in {self.seconds:.1f} s"]
        lines += [v.describe() for v in self.verdicts]
        lines += [f"BAD the solution fails {f}" for f in self.solution_failures]
        lines += [f"BAD {p}" for p in self.problems]
        return "\n".join(lines)


def load_answers(assignment: str, directory: Path = FIDELITY_DIR) -> list[Answer]:
    """The answers listed for an assignment, in file order."""
    path = Path(directory) / f"{assignment}.toml"
    if not path.exists():
        return []
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    answers = []
    for i, entry in enumerate(data.get("answer", [])):
        missing = {"exercise", "kind", "why", "code"} - entry.keys()
        if missing or entry["kind"] not in KINDS:
            raise ValueError(f"{path}: answer #{i + 1} needs exercise, kind ({'|'.join(KINDS)}), why, code")
        fails = entry.get("fails", [])
        if fails and entry["kind"] != "wrong":
            raise ValueError(f"{path}: answer #{i + 1}: only a wrong answer lists the exercises it fails")
        answers.append(Answer(entry["exercise"], entry["kind"], entry["why"], entry["code"], tuple(fails)))
    return answers


def coverage_problems(exercises: dict[str, nbtools.Exercise], answers: list[Answer]) -> list[str]:
    """Exercises without an answer of every kind, and answers for unknown exercises."""
    problems = [f"answer for unknown exercise {a.exercise!r}" for a in answers if a.exercise not in exercises]
    problems += [f"{a.label}: fails names an unknown exercise {f!r}" for a in answers for f in a.fails
                 if f not in exercises]
    for grade_id in exercises:
        for kind in KINDS:
            if not any(a.exercise == grade_id and a.kind == kind for a in answers):
                problems.append(f"exercise {grade_id!r} has no {kind} answer in the fidelity data")
    return problems


CASCADES = ("all", "first", "none")
"""Which wrong answers the cascade pass puts in place: each one; the first of each exercise (a
later test that relies on the student's piece fails with any wrong one of it, so that finds
a missing stand-in at a third of the cost: the test suite's choice); none."""


def run(assignment: str, root: Path = COURSE_ROOT, answers: list[Answer] | None = None,
        cascade: str = "all") -> Report:
    """Execute the assignment's solution notebook once, trying every answer on its exercise,
    then what wrong answers cost the later exercises (``cascade``, one of :data:`CASCADES`)."""
    if cascade not in CASCADES:
        raise ValueError(f"cascade must be one of {CASCADES}, not {cascade!r}")
    root = Path(root)
    (path,) = source_notebooks(assignment, root)
    nb = nbtools.read(path)
    answers = load_answers(assignment, root / "tests" / "fidelity") if answers is None else answers
    exercises = nbtools.exercises(nb)
    report = Report(assignment, problems=coverage_problems(exercises, answers))
    by_start = {ex.solution_index: ex for ex in exercises.values()}
    test_cells = {i for ex in exercises.values() for i in ex.test_indices}
    scorer = nbtools.CellScorer(load_config(root))
    config = load_config(root)
    timeout = config.Execute.get("timeout", 60)
    # Grading limits a cell's CPU seconds; this harness has only the wall clock, which a busy
    # machine stretches many times over, so it gets grading's wall-clock backstop instead.
    client = NotebookClient(
        nb, timeout=timeout * Grading(config=config).wall_factor, allow_errors=True, kernel_manager_class=CourseKernelManager,
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    previous = os.environ.get("NBGRADER_EXECUTION")
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # the kernel inherits it, as under nbgrader
    pristine = copy.deepcopy(nb)  # nbclient stores each executed cell back into nb
    plan = integrity.Plan.from_release(pristine)
    judge = Judge.for_release(pristine, timeout=timeout)
    seconds: dict[int, float] = {}
    try:
        with client.setup_kernel():
            for index, original in enumerate(pristine.cells):
                exercise = by_start.get(index)
                if exercise is not None:
                    for answer in (a for a in answers if a.exercise == exercise.grade_id):
                        report.verdicts.append(_try(client, judge, pristine, exercise, answer, scorer))
                        report.problems += _flagged(answer, pristine, exercise, plan)
                if original.cell_type != "code":
                    continue
                cell = copy.deepcopy(original)
                if index in test_cells:
                    run_test_cell(client, judge, cell, index)
                    if not scorer.passed(cell):
                        grade_id = cell.metadata.nbgrader["grade_id"]
                        report.solution_failures.append(f"{grade_id} ({nbtools.error_summary(cell)})")
                else:
                    began = time.perf_counter()
                    client.execute_cell(cell, index)
                    seconds[index] = time.perf_counter() - began
            if cascade != "none":
                _cascades(client, judge, pristine, exercises, report.verdicts, scorer, seconds,
                          first_only=cascade == "first")
    finally:
        judge.close()
        if previous is None:
            os.environ.pop("NBGRADER_EXECUTION", None)
        else:
            os.environ["NBGRADER_EXECUTION"] = previous
    report.seconds = time.perf_counter() - started
    return report


def _flagged(answer: Answer, nb, exercise: nbtools.Exercise, plan: integrity.Plan) -> list[str]:
    """The source check's findings on an answer (there should be none)."""
    filled = copy.deepcopy(nb)
    cell = filled.cells[exercise.solution_index]
    cell.source = nbtools.fill_answer(cell.source, answer.code)
    return [f"integrity scan flags {answer.label}: line {line}: {what}"
            for index, line, what in integrity.scan(filled, plan) if index == exercise.solution_index]


def _try(client: NotebookClient, judge: Judge, nb, exercise: nbtools.Exercise, answer: Answer,
         scorer: nbtools.CellScorer) -> Verdict:
    """Run the exercise's cells with ``answer`` between the markers; its test cells through the judge."""
    failures = []
    for index in exercise.block:
        cell = copy.deepcopy(nb.cells[index])
        if cell.cell_type != "code":
            continue
        if index == exercise.solution_index:
            cell.source = nbtools.fill_answer(cell.source, answer.code)
        if index in exercise.test_indices:
            if answer.kind == "wrong_visible":
                cell.source = nbtools.visible_part(cell.source)
            run_test_cell(client, judge, cell, index)
            if not scorer.passed(cell):
                failures.append(nbtools.error_summary(cell) or cell.metadata.nbgrader["grade_id"])
        else:
            client.execute_cell(cell, index, store_history=False)
    return Verdict(answer, passed=not failures, failures=failures)


def _cascades(client: NotebookClient, judge: Judge, nb, exercises: dict[str, nbtools.Exercise],
              verdicts: list[Verdict], scorer: nbtools.CellScorer, seconds: dict[int, float],
              first_only: bool = False) -> None:
    """Set each wrong answer's ``cascade``: the later exercises whose tests fail with it in place
    (``first_only``: of the first wrong answer of each exercise; the others' stays None).

    The answers of one exercise run one after the other, and the cells they made run again
    as they were only after the last: each answer re-runs every cell an earlier one did, so
    none sees another's leftovers.
    """
    test_of = {i: ex.grade_id for ex in exercises.values() for i in ex.test_indices}
    feeds_a_test = _feeding_tests(nb, set(test_of), {ex.solution_index for ex in exercises.values()})
    by_exercise: dict[str, list[Verdict]] = {}
    for verdict in verdicts:
        if verdict.answer.kind == "wrong":
            group = by_exercise.setdefault(verdict.answer.exercise, [])
            if not (first_only and group):
                group.append(verdict)
    for grade_id, group in by_exercise.items():
        exercise = exercises[grade_id]
        rerun, tainted = {exercise.solution_index}, set()
        try:
            for verdict in group:
                cell = copy.deepcopy(nb.cells[exercise.solution_index])
                cell.source = nbtools.fill_answer(cell.source, verdict.answer.code)
                client.execute_cell(cell, exercise.solution_index, store_history=False)
                tainted |= _changed(nbtools.parse(cell.source))
                verdict.cascade = []
                for index in range(exercise.block.stop, len(nb.cells)):
                    original = nb.cells[index]
                    if original.cell_type != "code":
                        continue
                    tree = nbtools.parse(original.source)
                    if not nbtools.names_read(tree) & tainted:
                        continue
                    cell = copy.deepcopy(original)
                    if index in test_of:
                        if test_of[index] not in verdict.cascade:
                            run_test_cell(client, judge, cell, index)
                            if not scorer.passed(cell):
                                verdict.cascade.append(test_of[index])
                    elif index in feeds_a_test and seconds.get(index, 0.0) <= SLOW_CELL_SECONDS:
                        client.execute_cell(cell, index, store_history=False)
                        rerun.add(index)
                        tainted |= _changed(tree)
        finally:
            for index in sorted(rerun):  # back to the solution's state
                client.execute_cell(copy.deepcopy(nb.cells[index]), index, store_history=False)


def _changed(tree: ast.AST) -> set[str]:
    """Names a cell binds, and those whose object it changes (``Tensor.__mul__ = tensor_mul``)
    when it runs (not what the functions it defines change when called)."""
    changed = nbtools.names_bound(tree)
    pending = list(ast.iter_child_nodes(tree))
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        pending.extend(ast.iter_child_nodes(node))
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
        for target in targets:
            while isinstance(target, (ast.Attribute, ast.Subscript)):
                target = target.value
                if isinstance(target, ast.Name):
                    changed.add(target.id)
    return changed


def _feeding_tests(nb, tests: set[int], answers: set[int]) -> set[int]:
    """Code cells whose bindings a later test cell reads, directly or through other such cells
    (answer cells always count: what they define is called at test time)."""
    needed: set[str] = set()
    feeding: set[int] = set()
    for index in reversed(range(len(nb.cells))):
        cell = nb.cells[index]
        if cell.cell_type != "code":
            continue
        tree = nbtools.parse(cell.source)
        if index in tests or index in answers or _changed(tree) & needed:
            needed |= nbtools.names_read(tree)
            if index not in tests:
                feeding.add(index)
    return feeding


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check that an assignment's tests grade fairly.")
    parser.add_argument("assignments", nargs="+")
    parser.add_argument("--cascade", choices=CASCADES, default="all",
                        help="which wrong answers to check for what they cost the later exercises "
                             "(default: all; first: the first of each exercise, as make test does)")
    args = parser.parse_args(argv)
    ok = True
    for assignment in args.assignments:
        report = run(assignment, cascade=args.cascade)
        print(report.describe())
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
