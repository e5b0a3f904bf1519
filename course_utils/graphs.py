"""Draw the computation graph of scalar values with Graphviz.

``draw_graph(root)`` returns a ``graphviz.Digraph`` that JupyterLab shows inline
(as SVG) when it is the last expression of a cell. Every value is one record
node showing its label, data and gradient; every operation is one oval node
between its inputs and its result; the graph reads left to right, inputs first.

Any scalar-value object works (duck typing: the course's ``Tensor``, a
micrograd-style ``Value``, ...). These attributes are read, the first one found
in each row:

============  ===========================================  ======================
what          attribute names tried, in order               when none exists
============  ===========================================  ======================
value         ``data``                                      error
gradient      ``gradient``, ``grad``                         not shown
label         ``label``                                     no label shown
operation     ``operation``, ``op``, ``_op``                 no operation node
children      ``children``, ``_children``, ``_prev``,         a leaf
              ``prev``
============  ===========================================  ======================

Children may be any iterable (tuple, list, set). A value used twice by one
operation (``a + a`` with children ``(a, a)``) gets two edges into it.

In a notebook the graph fits the column: JupyterLab gets it as HTML with the
SVG inline, at its natural size but never wider than the output area
(``max-width: 100%``); a value's label, data and gradient are stacked, so the
graph stays narrow (the neuron of notebook 04 is about 1,050 px wide instead of
2,100 and is scaled down from there, its text still readable).

Rendering needs the Graphviz program ``dot``; when it is missing,
:class:`GraphvizNotInstalled` says how to install it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from typing import Any

import graphviz

__all__ = ["ComputationGraph", "GraphvizNotInstalled", "dot_available", "draw_graph", "trace"]

INSTALL_HINT = (
    "Drawing a graph needs the Graphviz program `dot`, which was not found on the PATH. "
    "Install Graphviz, then restart the kernel: on Debian/Ubuntu `sudo apt-get install graphviz`, "
    "on macOS `brew install graphviz`, with conda `conda install -c conda-forge graphviz`, "
    "on Windows the installer from https://graphviz.org/download/ (tick 'add to PATH'). "
    "(`pip install graphviz` only installs the Python wrapper, not `dot`.)"
)

_GRADIENT_NAMES = ("gradient", "grad")
_OPERATION_NAMES = ("operation", "op", "_op")
_CHILDREN_NAMES = ("children", "_children", "_prev", "prev")


class GraphvizNotInstalled(RuntimeError):
    """The Graphviz program ``dot`` is not installed (or not on the PATH)."""

    def __init__(self, message: str = INSTALL_HINT) -> None:
        super().__init__(message)


def _first(obj: Any, names: tuple[str, ...], default: Any = None) -> Any:
    for name in names:
        if hasattr(obj, name):
            return getattr(obj, name)
    return default


def _children(node: Any) -> list[Any]:
    children = _first(node, _CHILDREN_NAMES, ())
    return list(children) if children is not None else []


def _data(node: Any) -> Any:
    if not hasattr(node, "data"):
        raise TypeError(
            f"draw_graph reads `.data` from every value, but a {type(node).__name__} has none "
            f"({node!r:.60})."
        )
    return node.data


def trace(root: Any) -> tuple[list[Any], list[tuple[Any, Any]]]:
    """Every value that ``root`` depends on, and the edges between them.

    Returns ``(nodes, edges)``: ``nodes`` holds each value once (``root`` first),
    ``edges`` holds one ``(child, parent)`` pair per use of ``child`` by
    ``parent``, so ``b = a + a`` gives the edge ``(a, b)`` twice. The walk is
    iterative, so graphs thousands of values deep are fine.
    """
    nodes: list[Any] = []
    edges: list[tuple[Any, Any]] = []
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append(node)
        for child in _children(node):
            edges.append((child, node))
            if id(child) not in seen:
                stack.append(child)
    return nodes, edges


def _number(value: Any, precision: int) -> str:
    if hasattr(value, "item"):
        try:
            value = value.item()
        except (TypeError, ValueError, RuntimeError):
            pass
    try:
        return f"{float(value):.{precision}f}"
    except (TypeError, ValueError):
        return str(value)


def _escape(text: str) -> str:
    """Text safe inside a Graphviz record label."""
    for char in "\\{}|<>\"":
        text = text.replace(char, "\\" + char)
    return text


def _record(node: Any, precision: int, stacked_by_default: bool = True) -> str:
    """A record label: label, data and gradient stacked one above the other.

    Graphviz lays a record's fields across the rank direction: top to bottom in a
    left-to-right graph. Braces turn them, which a top-to-bottom graph needs to
    stack them (``stacked_by_default=False``).
    """
    fields = []
    label = getattr(node, "label", "")
    if label not in (None, ""):
        fields.append(_escape(str(label)))
    fields.append(f"data {_escape(_number(_data(node), precision))}")
    gradient = _first(node, _GRADIENT_NAMES)
    if gradient is not None:
        fields.append(f"grad {_escape(_number(gradient, precision))}")
    body = " | ".join(fields)
    return body if stacked_by_default else "{ " + body + " }"


def _name(node: Any, kind: str = "v") -> str:
    """Graphviz node id: ``v<id>`` for a value, ``op<id>`` for the operation that made it."""
    return f"{kind}{id(node)}"


_SVG_START = re.compile(r"<svg\b")


def fit_to_column(svg: str) -> str:
    """HTML showing ``svg`` inline, at its own size but never wider than its container.

    JupyterLab shows ``image/svg+xml`` as an ``<img>`` that keeps the SVG's width
    however narrow the column; an inline ``<svg>`` scales (its viewBox keeps the
    proportions), and nbgrader's HTML exporters keep it.
    """
    start = _SVG_START.search(svg)
    if start is None:
        raise ValueError("not an SVG document")
    tag_end = svg.index(">", start.start())
    root = svg[start.start():tag_end]
    root = re.sub(r'\sstyle="[^"]*"', "", root) + ' style="max-width: 100%; height: auto"'
    return f'<div class="course-graph">{root}{svg[tag_end:]}</div>'


class ComputationGraph(graphviz.Digraph):
    """A ``graphviz.Digraph`` that fits the notebook's column and says how to install Graphviz."""

    def _repr_mimebundle_(self, include: Iterable[str] | None = None,
                          exclude: Iterable[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """The SVG, and the same SVG as HTML that fits the column (which JupyterLab prefers)."""
        wanted = {"image/svg+xml", "text/html"} if include is None else set(include)
        wanted -= set(exclude or ())
        others = wanted - {"image/svg+xml", "text/html"}
        bundle = super()._repr_mimebundle_(include=others, **kwargs) if others else {}
        if wanted & {"image/svg+xml", "text/html"}:
            svg = self.pipe(format="svg", encoding="utf-8")
            if "image/svg+xml" in wanted:
                bundle["image/svg+xml"] = svg
            if "text/html" in wanted:
                bundle["text/html"] = fit_to_column(svg)
        return bundle

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            raise GraphvizNotInstalled() from exc

    def render(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as exc:
            raise GraphvizNotInstalled() from exc


def dot_available() -> bool:
    """True when the Graphviz program ``dot`` is on the PATH."""
    return shutil.which("dot") is not None


def draw_graph(root: Any, *, rankdir: str = "LR", precision: int = 4,
               check_dot: bool = True) -> ComputationGraph:
    """The computation graph that produced ``root``, ready to display.

    Put it last in a notebook cell to see it, or call ``.render(...)`` /
    ``.pipe(format="svg")`` on it. ``rankdir="TB"`` draws top to bottom.
    Raises :class:`GraphvizNotInstalled` when ``dot`` is missing (pass
    ``check_dot=False`` to build the graph's source anyway).
    """
    if check_dot and not dot_available():
        raise GraphvizNotInstalled()
    nodes, edges = trace(root)
    # Ranks close together: the ops' ovals sit between the values, so the default gaps
    # (0.5 in) only add width.
    graph = ComputationGraph(format="svg", graph_attr={"rankdir": rankdir, "ranksep": "0.25",
                                                       "nodesep": "0.15"})
    graph.attr("node", fontname="Helvetica", fontsize="11")
    stacked = rankdir.upper() in ("LR", "RL")
    for node in nodes:
        name = _name(node)
        graph.node(name, label=_record(node, precision, stacked), shape="record")
        operation = _first(node, _OPERATION_NAMES, "")
        if operation not in (None, "") and _children(node):
            graph.node(_name(node, "op"), label=str(operation), shape="ellipse",
                       style="filled", fillcolor="#eef3fb")
            graph.edge(_name(node, "op"), name)
    for child, parent in edges:
        operation = _first(parent, _OPERATION_NAMES, "")
        target = _name(parent, "op" if operation not in (None, "") else "v")
        graph.edge(_name(child), target)
    return graph
