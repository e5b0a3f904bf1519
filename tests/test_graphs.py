"""Tests for course_utils.graphs: tracing and drawing computation graphs of scalar values."""

from __future__ import annotations

import re

import pytest

from course_utils import graphs


class Node:
    """A minimal scalar value with the course's attribute names."""

    def __init__(self, data, children=(), operation="", label=""):
        self.data = data
        self.gradient = 0.0
        self.children = tuple(children)
        self.operation = operation
        self.label = label


class MicroValue:
    """The other common layout: ``grad``, ``_prev`` (a set) and ``_op``."""

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = data
        self.grad = 0.0
        self._prev = set(_children)
        self._op = _op
        self.label = label


def neuron_like():
    x = Node(2.0, label="x")
    w = Node(-3.0, label="w")
    xw = Node(-6.0, (x, w), "*", "xw")
    b = Node(6.5, label="b")
    n = Node(0.5, (xw, b), "+", "n")
    n.gradient = 1.0
    return x, w, xw, b, n


def edges_in(source: str) -> list[tuple[str, str]]:
    return re.findall(r"^\s*(\S+) -> (\S+)", source, flags=re.MULTILINE)


def test_trace_finds_every_value_once_and_every_edge():
    x, w, xw, b, n = neuron_like()
    nodes, edges = graphs.trace(n)
    assert nodes[0] is n
    assert {id(v) for v in nodes} == {id(v) for v in (x, w, xw, b, n)} and len(nodes) == 5
    assert sorted((c.label, p.label) for c, p in edges) == [
        ("b", "n"), ("w", "xw"), ("x", "xw"), ("xw", "n")]


def test_draw_graph_has_one_record_per_value_one_node_per_operation_left_to_right():
    x, _w, xw, _b, n = neuron_like()
    source = graphs.draw_graph(n).source
    assert "rankdir=LR" in source
    assert source.count("shape=record") == 5
    assert source.count("shape=ellipse") == 2  # '*' and '+'
    assert "{ n | data 0.5000 | grad 1.0000 }" in source
    assert "{ w | data -3.0000 | grad 0.0000 }" in source
    edges = edges_in(source)
    # x -> (*) -> xw -> (+) -> n
    assert (f"v{id(x)}", f"op{id(xw)}") in edges
    assert (f"op{id(xw)}", f"v{id(xw)}") in edges
    assert (f"v{id(xw)}", f"op{id(n)}") in edges
    assert (f"op{id(n)}", f"v{id(n)}") in edges
    assert len(edges) == 4 + 2


def test_a_value_used_twice_is_drawn_once_with_two_edges():
    a = Node(3.0, label="a")
    b = Node(6.0, (a, a), "+", "b")
    b.gradient, a.gradient = 1.0, 2.0
    nodes, edges = graphs.trace(b)
    assert len(nodes) == 2 and len(edges) == 2
    source = graphs.draw_graph(b).source
    assert source.count("shape=record") == 2
    assert edges_in(source).count((f"v{id(a)}", f"op{id(b)}")) == 2
    assert "{ a | data 3.0000 | grad 2.0000 }" in source
    svg = graphs.draw_graph(b).pipe(format="svg", encoding="utf-8")
    assert svg.count('class="edge"') == 3 and svg.count('class="node"') == 3


def test_shared_value_in_a_diamond_is_traced_once():
    a = Node(1.0, label="a")
    b = Node(2.0, (a,), "exp", "b")
    c = Node(3.0, (a,), "tanh", "c")
    d = Node(5.0, (b, c), "+", "d")
    nodes, edges = graphs.trace(d)
    assert len(nodes) == 4 and len(edges) == 4


def test_micrograd_style_attributes_are_read():
    a = MicroValue(2.0, label="a")
    b = MicroValue(-1.0, label="b")
    c = MicroValue(-2.0, (a, b), "*", "c")
    c.grad = 1.0
    source = graphs.draw_graph(c).source
    assert "{ c | data -2.0000 | grad 1.0000 }" in source
    assert source.count('label="*" fillcolor') == 1
    assert len(edges_in(source)) == 3


def test_values_without_label_or_gradient_and_special_characters():
    class Bare:
        def __init__(self, data, children=()):
            self.data = data
            self.children = children
    a = Bare(1.5)
    odd = Node(2.0, (a,), "**2", label="{x|y}")
    source = graphs.draw_graph(odd, precision=2).source
    assert "{ data 1.50 }" in source
    assert r"{ \{x\|y\} | data 2.00 | grad 0.00 }" in source
    assert graphs.draw_graph(odd).pipe(format="svg").startswith(b"<?xml")


def test_torch_scalars_as_data_and_gradient():
    torch = pytest.importorskip("torch")
    v = Node(torch.tensor(1.25), label="t")
    v.gradient = torch.tensor(-0.5)
    assert "{ t | data 1.2500 | grad -0.5000 }" in graphs.draw_graph(v).source


def test_a_thousands_deep_chain_does_not_hit_the_recursion_limit():
    node = Node(0.0, label="x0")
    for i in range(5000):
        node = Node(float(i), (node,), "tanh")
    nodes, edges = graphs.trace(node)
    assert len(nodes) == 5001 and len(edges) == 5000


def test_renders_inline_as_svg():
    *_, n = neuron_like()
    bundle = graphs.draw_graph(n)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_object_without_data_gets_a_clear_error():
    with pytest.raises(TypeError, match="reads `.data`"):
        graphs.draw_graph(object())


def test_missing_dot_says_how_to_install(monkeypatch, tmp_path):
    *_, n = neuron_like()
    graph = graphs.draw_graph(n)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert not graphs.dot_available()
    with pytest.raises(graphs.GraphvizNotInstalled, match="apt-get install graphviz"):
        graphs.draw_graph(n)
    with pytest.raises(graphs.GraphvizNotInstalled, match="apt-get install graphviz"):
        graph._repr_mimebundle_()
    with pytest.raises(graphs.GraphvizNotInstalled):
        graph.render(directory=tmp_path)
    source = graphs.draw_graph(n, check_dot=False).source
    assert source.count("shape=record") == 5
