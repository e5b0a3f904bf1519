"""What to watch in one notebook, read from its release: the modules the tests rely on, the
names the course imports, the builtins the tests use (:class:`Plan`); and :func:`parse`, the
grader's reading of a cell's source, shared with :mod:`.scanner`."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field

import nbformat

from ...nbtools import import_bindings, is_test_cell, names_bound, names_read

WATCHED = ("builtins", "math", "numpy", "numpy.testing", "numpy.linalg", "scipy.stats", "torch",
           "torch.testing", "torch.nn.functional", "torch.Tensor", "course_utils.checks")
"""Modules (and a class) whose functions the tests rely on."""
ALWAYS = ("builtins", "math")
"""Watched whatever the notebook imports (cheap, and any test may use them)."""
ROOTS = frozenset(path.split(".")[0] for path in WATCHED)
BUILTIN_NAMES = frozenset(name for name in dir(builtins) if not name.startswith("_"))


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


@dataclass
class Plan:
    """What to watch in one notebook, read from its release (the student version)."""

    modules: list[str]
    imports: dict[str, str]
    """Notebook names the release binds by import -> dotted path (``np`` -> ``numpy``)."""
    bound: set[str]
    """Every name the release binds in the notebook's namespace (:func:`.nbtools.names_bound`)."""
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
            bound |= names_bound(tree)
            if is_test_cell(cell):
                used |= names_read(tree)
        roots = {path.split(".")[0] for path in imports.values()}
        modules = [m for m in WATCHED if m in ALWAYS or m.split(".")[0] in roots]
        return cls(modules, imports, bound, (used & BUILTIN_NAMES) - bound)

    def spec(self, cell) -> dict:
        """What the probe checks after this test cell."""
        tree = parse(cell.source)
        used = names_read(tree) if tree is not None else set()
        own = names_bound(tree) if tree is not None else set()
        return {"modules": self.modules,
                "names": {n: self.imports[n] for n in sorted(used - own) if n in self.imports},
                "builtin_names": sorted((used - own - self.bound) & BUILTIN_NAMES)}
