"""Integrity of the grade: noticing a submission that replaced what the tests rely on.

Hidden tests compare plain values with :mod:`course_utils.checks`, whose own
functions are bound before any student code runs. What is left to a student is
replacing things in the kernel: ``np.testing.assert_allclose = lambda *a: None``,
``builtins.isinstance = ...``, ``def check_close(*a, **k): pass``. Two checks at
autograde catch that, and the grading command marks the submission ``flagged``:

- at run time (:class:`Monitor`, run by ``execute.TrackedExecute``): before
  the first cell, the kernel reports the identity of every function of the
  watched modules (:data:`WATCHED`: builtins, ``math``, NumPy and
  ``numpy.testing``, ``scipy.stats``, torch, ``torch.testing``,
  ``torch.nn.functional``, ``torch.Tensor``, ``course_utils.checks``); after
  every test cell it reports them again, and whether the names the test uses
  (``check_close``, ``np``, ``len``) are still what the course imported. A
  test cell that ran with anything replaced gets an ``IntegrityError`` output,
  so nbgrader scores it 0, and the error says what was replaced;
- before running (:func:`scan`), the source of the cells a student can edit is
  read for code that replaces such things or reaches around Python's scoping
  to do it (``setattr(np, ...)``, ``sys.modules``, ``__builtins__``,
  ``sys._getframe``, ``gc.get_referrers``, ``ctypes``, ``exec``). This catches a
  replacement that undoes itself before the run-time check; the scores are
  left as they are, for the instructor to review.

Neither is a proof: code in the kernel could in principle lie to the run-time
check. But everything a student would have to do to fool it is itself in the
source, which the instructor sees with the flag.
"""

from __future__ import annotations

import ast
import builtins
import json
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils

from ...nbtools import is_test_cell

WATCHED = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "scipy.stats", "torch",
           "torch.testing", "torch.nn.functional", "torch.Tensor", "course_utils.checks")
"""Modules (and a class) whose functions the tests rely on."""
ALWAYS = ("builtins", "math")
"""Watched whatever the notebook imports (cheap, and any test may use them)."""
ROOTS = frozenset(path.split(".")[0] for path in WATCHED)
PROBE_SOURCE = Path(__file__).with_name("probe.py").read_text()
ERROR_NAME = "IntegrityError"
BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))

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


# --------------------------------------------------------------------------- reading the code

def parse(source: str) -> ast.Module | None:
    """A cell's source as Python (IPython's magics translated), or None when it is not valid.

    Code nested or chained too deeply for the grader's parser raises :class:`.repair.TooComplex`
    rather than passing as "not Python": the kernel, with a higher recursion limit, might run it.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    from ..repair import TooComplex

    try:
        return ast.parse(TransformerManager().transform_cell(source))
    except (SyntaxError, ValueError, IndexError):
        return None
    except (RecursionError, MemoryError):
        raise TooComplex("notebook too deeply nested: a cell's code is nested or chained too deeply "
                         f"for the grader to read ({len(source):,} characters); review it by hand") from None


def import_bindings(tree: ast.Module, top_level_only: bool = True) -> dict[str, str]:
    """Names bound by import statements -> the dotted path they name."""
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


def top_level_bindings(tree: ast.Module) -> set[str]:
    """Names a cell binds in the notebook's namespace (top level, or declared ``global``)."""
    names: set[str] = set()
    declared = {n for node in ast.walk(tree) if isinstance(node, ast.Global) for n in node.names}

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update(import_bindings(ast.Module(body=[node], type_ignores=[])))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                _collect(target, names, declared, node in tree.body)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.NamedExpr)):
            _collect(node.target, names, declared, node in tree.body)
        elif isinstance(node, (ast.For, ast.With)) and node in tree.body:
            for item in ([node.target] if isinstance(node, ast.For) else
                         [i.optional_vars for i in node.items if i.optional_vars is not None]):
                targets(item)
    return names


def _collect(target, names: set[str], declared: set[str], top: bool) -> None:
    if isinstance(target, ast.Name) and (top or target.id in declared):
        names.add(target.id)
    elif isinstance(target, (ast.Tuple, ast.List)):
        for elt in target.elts:
            _collect(elt, names, declared, top)
    elif isinstance(target, ast.Starred):
        _collect(target.value, names, declared, top)


def loaded_names(tree: ast.Module) -> set[str]:
    return {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


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


# --------------------------------------------------------------------------- the plan

@dataclass
class Plan:
    """What to watch in one notebook, read from its release (the student version)."""

    modules: list[str]
    imports: dict[str, str]
    """Notebook names the release binds by import -> dotted path (``np`` -> ``numpy``)."""
    bound: set[str]
    """Every name the release binds at top level."""
    test_builtins: set[str] = field(default_factory=set)
    """Builtin names the release's test cells use."""

    @classmethod
    def from_release(cls, release: nbformat.NotebookNode) -> Plan:
        imports: dict[str, str] = {}
        bound: set[str] = set()
        used: set[str] = set()
        for cell in release.cells:
            if cell.cell_type != "code":
                continue
            tree = parse(cell.source)
            if tree is None:
                continue
            imports.update(import_bindings(tree))
            bound |= top_level_bindings(tree)
            if is_test_cell(cell):
                used |= loaded_names(tree)
        roots = {path.split(".")[0] for path in imports.values()}
        modules = [m for m in WATCHED if m in ALWAYS or m.split(".")[0] in roots]
        return cls(modules, imports, bound, (used & BUILTIN_NAMES) - bound)

    def spec(self, cell) -> dict:
        """What the probe checks after this test cell."""
        tree = parse(cell.source)
        used = loaded_names(tree) if tree is not None else set()
        own = top_level_bindings(tree) if tree is not None else set()
        return {"modules": self.modules,
                "names": {n: self.imports[n] for n in sorted(used - own) if n in self.imports},
                "builtin_names": sorted((used - own - self.bound) & BUILTIN_NAMES)}


# --------------------------------------------------------------------------- the run-time check

class ProbeFailed(RuntimeError):
    pass


class Monitor:
    """Runs the probe in a kernel through an nbclient ``NotebookClient`` (``TrackedExecute``)."""

    def __init__(self, client, plan: Plan):
        self.client = client
        self.plan = plan
        self.baseline: dict[str, int] = {}
        self.digest = ""

    def _run(self, spec: dict) -> dict:
        code = ("__course_probe = {'__name__': '_course_integrity'}\n"
                f"exec({PROBE_SOURCE!r}, __course_probe)\n"
                f"__import__('sys')._course_integrity_result = __course_probe['run'](globals(), {spec!r})\n"
                "del __course_probe\n")
        kc = self.client.kc
        msg_id = kc.execute(code, silent=True, store_history=False,
                            user_expressions={"r": "__import__('sys')._course_integrity_result"})
        reply = self.client.wait_for_reply(msg_id)
        if reply is None:
            raise ProbeFailed("the kernel did not answer the integrity check")
        content = reply["content"]
        if content.get("status") != "ok":
            raise ProbeFailed(f"the integrity check failed in the kernel: {content.get('ename')}: "
                              f"{content.get('evalue')}")
        result = content.get("user_expressions", {}).get("r", {})
        try:
            return json.loads(ast.literal_eval(result["data"]["text/plain"]))
        except (KeyError, ValueError, SyntaxError, TypeError):
            raise ProbeFailed("the integrity check returned nothing readable") from None

    def start(self) -> list[str]:
        """Record the originals (before the first cell). Returns modules that failed to import."""
        result = self._run({"modules": self.plan.modules, "baseline": True, "full": True})
        self.baseline, self.digest = result["ids"], result["digest"]
        return result["errors"]

    def check(self, cell) -> list[str]:
        """What the notebook has replaced by now, in words (empty when nothing)."""
        try:
            result = self._run(self.plan.spec(cell))
            problems = list(result["names"])
            if result["digest"] != self.digest:
                full = self._run({**self.plan.spec(cell), "full": True})
                ids = full["ids"]
                for path in full.get("wrapped", []):  # the library wrapped its own function
                    self.baseline[path] = ids[path]
                changed = [path for path, ident in self.baseline.items() if ids.get(path) != ident]
                if not changed:  # new attributes or the library's own wrappers: the new normal
                    self.digest = full["digest"]
                problems += [f"{_display(p)} was {'replaced' if p in ids else 'deleted'}"
                             for p in changed]
        except ProbeFailed as exc:
            problems = [str(exc)]
        return problems


def _display(path: str) -> str:
    return path.replace("<notebook>.", "the notebook's ")


SCORED_ZERO = " (this test scores 0; the submission is flagged for review)"


def error_output(problems: list[str]) -> nbformat.NotebookNode:
    """The output that scores a test cell 0 and tells the student why."""
    message = "; ".join(problems) + SCORED_ZERO
    return nbformat.v4.new_output("error", ename=ERROR_NAME, evalue=message,
                                  traceback=[f"{ERROR_NAME}: {message}"])


# --------------------------------------------------------------------------- reading the source

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
            for name in sorted(top_level_bindings(alone)):
                if name in self.plan.imports and own_imports.get(name) != self.plan.imports[name]:
                    self.report(statement, f"binds `{name}` again (the tests use the course's "
                                           f"{self.plan.imports[name]})")
                elif name in self.plan.test_builtins:
                    self.report(statement, f"binds `{name}` (the tests use the builtin {name}())")
