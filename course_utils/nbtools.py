"""Reading an nbgrader notebook: its exercises, their test cells, and how a test cell scored.

Shared by the student's self-check and the instructor's grading tools.
"""

from __future__ import annotations

import ast
import copy
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, IgnorePattern
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

START_MARKER = "*****START OF YOUR CODE"
END_MARKER = "*****END OF YOUR CODE"


@dataclass
class Exercise:
    """An autograded exercise: its answer cell and the test cells that grade it."""

    grade_id: str
    solution_index: int
    test_indices: list[int] = field(default_factory=list)

    @property
    def block(self) -> range:
        """Cell indices from the answer cell to its last test cell."""
        return range(self.solution_index, max(self.test_indices, default=self.solution_index) + 1)


def parse(source: str) -> ast.Module:
    """A cell's syntax tree; an empty module for a cell that does not parse."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def names_bound(tree: ast.AST) -> set[str]:
    """Names a cell binds in the notebook's namespace: what it assigns, loops over, binds with
    ``with ... as``, catches, defines or imports, at any depth outside a function or class body
    (comprehension variables too: reading one is no dependence on another cell), and what a
    function of it declares ``global`` and assigns. The course's one answer to that question:
    run-all tags, the fidelity cascade, the self-check's report, integrity's plan and scan."""
    names: set[str] = set()
    declared = {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}
    todo = [tree]  # iterative: a cell may nest deeper than the recursion limit
    while todo:
        for child in ast.iter_child_nodes(todo.pop()):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                names.update(import_bindings(ast.Module(body=[child], type_ignores=[])))
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, ast.ExceptHandler) and child.name:
                names.add(child.name)
            if not isinstance(child, _SCOPES):
                todo.append(child)
    names |= {n.id for n in ast.walk(tree)
              if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in declared}
    return names


def names_read(tree: ast.AST) -> set[str]:
    """Every name a cell reads, function bodies included (they read it when called)."""
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def import_bindings(tree: ast.Module, top_level_only: bool = True) -> dict[str, str]:
    """Names bound by a cell's import statements -> the dotted path they name (``np`` ->
    ``numpy``); with ``top_level_only`` False, imports inside functions and blocks too."""
    found: dict[str, str] = {}
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name
                else:
                    found[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return found


def load_config(root: Path, **overrides: str) -> Config:
    """The ``nbgrader_config.py`` of the course folder ``root``, with ``CourseDirectory.root`` set.

    ``overrides`` set further ``CourseDirectory`` traits, e.g. ``db_url=...`` or
    ``release_directory=...`` (an absolute path is used as it is).
    """
    root = Path(root).resolve()
    config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
    config.CourseDirectory.root = str(root)
    for name, value in overrides.items():
        setattr(config.CourseDirectory, name, value)
    return config


def read(path: Path) -> NotebookNode:
    return nbformat.read(str(path), as_version=nbformat.NO_CONVERT)


def exercises(nb: NotebookNode) -> dict[str, Exercise]:
    """Autograded exercises in notebook order.

    The test cells of an exercise are the autograded test cells after its answer
    cell and before the next autograded answer cell.
    """
    found: dict[str, Exercise] = {}
    current: Exercise | None = None
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if utils.is_solution(cell):
            current = Exercise(cell.metadata.nbgrader["grade_id"], index)
            found[current.grade_id] = current
        elif utils.is_grade(cell) and current is not None:
            current.test_indices.append(index)
    return {k: v for k, v in found.items() if v.test_indices}


def is_test_cell(cell: NotebookNode) -> bool:
    """Whether ``cell`` is an autograded test cell (graded code that is not an answer)."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


def autograded_points(nb: NotebookNode) -> float:
    """Total points of the autograded test cells."""
    return sum(float(c.metadata.nbgrader["points"]) for c in nb.cells if is_test_cell(c))


def fill_answer(source: str, code: str) -> str:
    """Put ``code`` between the marker lines of an answer cell, indented like the markers."""
    lines = source.split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if START_MARKER in line)
        end = next(i for i, line in enumerate(lines) if END_MARKER in line and i > start)
    except StopIteration:
        raise ValueError("the cell has no START/END OF YOUR CODE marker lines") from None
    indent = lines[start][: len(lines[start]) - len(lines[start].lstrip())]
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), indent, lambda line: True)
    return "\n".join(lines[: start + 1] + body.split("\n") + lines[end:])


def visible_part(source: str) -> str:
    """A test cell's source as the student version has it: the hidden blocks removed."""
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": {"grade": True, "solution": False}})
    cell, _ = ClearHiddenTests().preprocess_cell(cell, {}, 0)
    return cell.source


class CellScorer:
    """Scores an executed test cell exactly as ``nbgrader autograde`` would with this config."""

    def __init__(self, config: Config) -> None:
        self._ignore = IgnorePattern(config=config)

    def passed(self, cell: NotebookNode) -> bool:
        cell = copy.deepcopy(cell)
        if self._ignore.enabled:
            cell, _ = self._ignore.preprocess_cell(cell, {}, 0)
        score, max_score = utils.determine_grade(cell)
        return score is not None and score >= max_score


def error_summary(cell: NotebookNode) -> str:
    """The first line of the error a cell raised, else of what it wrote to stderr."""
    outputs = cell.get("outputs", [])
    for output in outputs:
        if output.output_type == "error":
            first = (output.evalue or "").strip().splitlines()
            return f"{output.ename}: {first[0] if first else ''}".strip()
    for output in outputs:
        if output.output_type == "stream" and output.name == "stderr" and output.text.strip():
            return f"stderr: {output.text.strip().splitlines()[0]}"
    return ""
