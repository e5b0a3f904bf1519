"""Reading the source before the run: code in the cells a student can edit that replaces what the
tests rely on or reaches around Python's scoping to do it (:func:`scan`)."""

from __future__ import annotations

import ast

import nbformat
from nbgrader import utils

from ...nbtools import import_bindings, names_bound
from .plan import ROOTS, Plan, parse

SUSPICIOUS_ATTRIBUTES = {
    "sys.modules": "changes sys.modules",
    "sys._getframe": "reaches into the caller's frame (sys._getframe)",
    "sys.settrace": "installs a trace function (sys.settrace)",
    "sys.setprofile": "installs a profile function (sys.setprofile)",
    "inspect.currentframe": "reaches into frames (inspect.currentframe)",
    "inspect.stack": "reaches into frames (inspect.stack)",
    "gc.get_referrers": "searches the interpreter's objects (gc.get_referrers)",
    "gc.get_objects": "searches the interpreter's objects (gc.get_objects)",
}
FRAME_ROOTS = frozenset(path.split(".")[0] for path in SUSPICIOUS_ATTRIBUTES)
SUSPICIOUS_NAMES = {
    "__builtins__": "uses __builtins__",
    "f_globals": "reads a frame's globals (f_globals)",
    "f_builtins": "reads a frame's builtins (f_builtins)",
    "f_back": "walks up the call stack (f_back)",
    # What a notebook would need to keep a reference piece a test lent it beyond that test
    # (the kernel takes the lent functions and classes back, not code copied out of them).
    "__code__": "reads a function's code (__code__)",
    "__globals__": "reads a function's globals (__globals__)",
    "__closure__": "reads a function's closure (__closure__)",
}
SUSPICIOUS_MODULES = {"builtins": "imports builtins", "ctypes": "imports ctypes",
                      "importlib": "imports importlib"}
GRADER_PACKAGE = "course_utils.grading"
"""The grader's own code: never needed by a notebook, and not in the sandbox but the judge's kernel side."""
SUSPICIOUS_CALLS = {"exec": "runs code from a string (exec)", "eval": "runs code from a string (eval)",
                    "compile": "compiles code from a string", "__import__": "imports by name (__import__)"}


def _dotted(node: ast.AST) -> list[str] | None:
    """``a.b.c`` -> ["a", "b", "c"] (subscripts count as their base), or None."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            parts.append(node.id)
            return parts[::-1]
        else:
            return None


def scan(nb: nbformat.NotebookNode, plan: Plan) -> list[tuple[int, int, str]]:
    """(cell index, line, what) for code in the cells a student can edit that replaces watched
    functions or reaches around scoping to do so. Honest answers to the exercises have none.
    Raises :class:`.repair.TooComplex` for code too deeply nested to read."""
    from ..repair import TooComplex
    findings: list[tuple[int, int, str]] = []
    for index, cell in enumerate(nb.cells):
        meta = cell.get("metadata", {}).get("nbgrader")
        if cell.cell_type != "code" or (isinstance(meta, dict) and utils.is_locked(cell)
                                        and not utils.is_solution(cell)):
            continue
        try:
            tree = parse(cell.source)
        except TooComplex as exc:
            raise TooComplex(str(exc).replace("a cell's code", f"the code of cell {index + 1}")) from None
        if tree is None:
            continue
        aliases = {**plan.imports, **import_bindings(tree, top_level_only=False)}
        for line, what in _suspicious(tree, aliases, plan):
            findings.append((index, line, what))
    return findings


def _watched_path(parts: list[str] | None, aliases: dict[str, str],
                  roots: frozenset[str] = ROOTS | {"sys"}) -> str | None:
    """The dotted path ``parts`` names (through the notebook's imports), when under ``roots``."""
    if not parts:
        return None
    head = aliases.get(parts[0], parts[0] if parts[0] in roots else None)
    if head is None or head.split(".")[0] not in roots:
        return None
    return ".".join([head, *parts[1:]])


def _suspicious(tree: ast.Module, aliases: dict[str, str], plan: Plan) -> list[tuple[int, str]]:
    """(line, what) for each thing the cell's code does that honest answers never do, by line."""
    found = _Suspicions(aliases, plan)
    for node in ast.walk(tree):  # iterative: a cell may nest deeper than the recursion limit
        check = found.checks.get(type(node))
        if check is not None:
            check(node)
    found.rebinds(tree)
    return sorted(found.found, key=lambda item: item[0])


class _Suspicions:
    """The checks of :func:`_suspicious`, one per kind of syntax node; findings kept once each."""

    def __init__(self, aliases: dict[str, str], plan: Plan):
        self.aliases, self.plan = aliases, plan
        self.found: dict[tuple[int, str], None] = {}
        self.checks = {
            ast.Import: self.imports, ast.ImportFrom: self.imports,
            ast.Assign: self.assigns, ast.Delete: self.assigns,
            ast.AugAssign: self.assigns, ast.AnnAssign: self.assigns,
            ast.Call: self.call, ast.Subscript: self.subscript,
            ast.Attribute: self.attribute, ast.Name: self.name,
        }

    def report(self, node: ast.AST, what: str) -> None:
        self.found.setdefault((getattr(node, "lineno", 0), what))

    def imports(self, node: ast.Import | ast.ImportFrom) -> None:
        modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if isinstance(node, ast.ImportFrom) and node.module:
            modules += [f"{node.module}.{a.name}" for a in node.names]
        for module in modules:
            what = SUSPICIOUS_MODULES.get(module.split(".")[0])
            if what:
                self.report(node, what)
            if module == GRADER_PACKAGE or module.startswith(GRADER_PACKAGE + "."):
                self.report(node, f"imports the grader's own code ({GRADER_PACKAGE})")

    def assigns(self, node: ast.stmt) -> None:
        targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
        for target in targets:
            if isinstance(target, (ast.Attribute, ast.Subscript)):
                path = _watched_path(_dotted(target), self.aliases)
                if path and (not path.startswith("sys.") or path.startswith("sys.modules")):
                    self.report(node, f"replaces {path}")

    def call(self, node: ast.Call) -> None:
        func = _dotted(node.func)
        name = func[0] if func and len(func) == 1 else None
        if name in ("setattr", "delattr") and node.args:
            first = node.args[0]
            path = _watched_path(_dotted(first), self.aliases)
            if path or (isinstance(first, ast.Name) and first.id in self.plan.imports):
                self.report(node, f"{name}() on {path or first.id}")
        if name in SUSPICIOUS_CALLS:
            self.report(node, SUSPICIOUS_CALLS[name])
        path = _watched_path(func, self.aliases, FRAME_ROOTS)
        if path in SUSPICIOUS_ATTRIBUTES:
            self.report(node, SUSPICIOUS_ATTRIBUTES[path])

    def subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store) and isinstance(node.value, ast.Call) \
                and _dotted(node.value.func) == ["globals"]:
            self.report(node.value, "assigns through globals()")

    def attribute(self, node: ast.Attribute) -> None:
        if _watched_path(_dotted(node), self.aliases) == "sys.modules":
            self.report(node, SUSPICIOUS_ATTRIBUTES["sys.modules"])
        if node.attr in SUSPICIOUS_NAMES:
            self.report(node, SUSPICIOUS_NAMES[node.attr])

    def name(self, node: ast.Name) -> None:
        if node.id in SUSPICIOUS_NAMES:
            self.report(node, SUSPICIOUS_NAMES[node.id])

    def rebinds(self, tree: ast.Module) -> None:
        """Names the tests use, bound again by this cell: the course's imports and the builtins."""
        for statement in tree.body:
            alone = ast.Module(body=[statement], type_ignores=[])
            own_imports = import_bindings(alone)
            for name in sorted(names_bound(alone)):
                if name in self.plan.imports and own_imports.get(name) != self.plan.imports[name]:
                    self.report(statement, f"binds `{name}` again (the tests use the course's "
                                           f"{self.plan.imports[name]})")
                elif name in self.plan.test_builtins:
                    self.report(statement, f"binds `{name}` (the tests use the builtin {name}())")
