"""Reference pieces that hidden tests lend a later exercise, so each exercise is graded on its own.

Imported inside hidden blocks only (``from course_utils.grading.references import ...``), so
they leave the student version with the hidden tests, and handed to the student's code with
:func:`course_utils.checks.stand_in`. 04's exercises build one engine piece by piece; here
is the whole engine, written independently of the solution notebook: the tests of one
operation run it on this engine (:func:`engine_with`), and the network exercises run on it
whole, so a slip in ``tensor_mul`` costs ``tensor_mul`` and nothing after it.
"""

from __future__ import annotations

import math
from typing import Any


def topological_order(root: Any) -> list:
    """Every node below ``root`` once, children first (depth-first, without recursion)."""
    seen, found = {id(root)}, []
    pending = [(root, iter(root.children))]
    while pending:
        node, kids = pending[-1]
        kid = next((k for k in kids if id(k) not in seen), None)
        if kid is None:
            pending.pop()
            found.append(node)
        else:
            seen.add(id(kid))
            pending.append((kid, iter(kid.children)))
    return found


class ReferenceTensor:
    """The lecture's scalar ``Tensor`` with every operation of 04 (same attributes and protocol)."""

    def __init__(self, data: float, children: tuple = (), operation: str = "", label: str = ""):
        self.data = float(data)
        self.gradient = 0.0
        self.children = tuple(children)
        self.operation = operation
        self.label = label
        self._backward = lambda: None

    def __repr__(self) -> str:
        return f"Tensor(data={self.data:.4f}, gradient={self.gradient:.4f})"

    def backward(self) -> None:
        self.gradient = 1.0
        for node in reversed(topological_order(self)):
            node._backward()

    def _wrap(self, other: Any) -> ReferenceTensor:
        return other if isinstance(other, ReferenceTensor) else type(self)(other)

    def _result(self, value: float, children: tuple, operation: str, local: tuple) -> ReferenceTensor:
        """A new node; ``local`` holds d(value)/d(child) for each child."""
        out = type(self)(value, children, operation)

        def _backward() -> None:
            for child, slope in zip(children, local):
                child.gradient += slope * out.gradient

        out._backward = _backward
        return out

    def __add__(self, other: Any) -> ReferenceTensor:
        other = self._wrap(other)
        return self._result(self.data + other.data, (self, other), "+", (1.0, 1.0))

    __radd__ = __add__

    def __mul__(self, other: Any) -> ReferenceTensor:
        other = self._wrap(other)
        return self._result(self.data * other.data, (self, other), "*", (other.data, self.data))

    __rmul__ = __mul__

    def __pow__(self, exponent: float) -> ReferenceTensor:
        return self._result(self.data ** exponent, (self,), f"**{exponent}",
                            (exponent * self.data ** (exponent - 1),))

    def __neg__(self) -> ReferenceTensor:
        return self._result(-self.data, (self,), "neg", (-1.0,))

    def __sub__(self, other: Any) -> ReferenceTensor:
        other = self._wrap(other)
        return self._result(self.data - other.data, (self, other), "-", (1.0, -1.0))

    def __rsub__(self, other: Any) -> ReferenceTensor:
        return self._wrap(other) - self

    def __truediv__(self, other: Any) -> ReferenceTensor:
        other = self._wrap(other)
        return self._result(self.data / other.data, (self, other), "/",
                            (1.0 / other.data, -self.data / other.data ** 2))

    def __rtruediv__(self, other: Any) -> ReferenceTensor:
        return self._wrap(other) / self

    def exp(self) -> ReferenceTensor:
        value = math.exp(self.data)
        return self._result(value, (self,), "exp", (value,))

    def tanh(self) -> ReferenceTensor:
        value = math.tanh(self.data)
        return self._result(value, (self,), "tanh", (1.0 - value ** 2,))

    def relu(self) -> ReferenceTensor:
        return self._result(max(self.data, 0.0), (self,), "relu", (1.0 if self.data > 0 else 0.0,))


def engine_with(**methods: Any) -> type:
    """The reference engine with some of its operations replaced (``__mul__=tensor_mul``, ...)."""
    return type("Tensor", (ReferenceTensor,), dict(methods))


class ReferenceNeuron:
    """A tanh (or linear) unit on the reference engine; weights N(0, 1/sqrt(n_in)) drawn in one call."""

    def __init__(self, n_in: int, rng: Any, nonlinear: bool = True):
        self.w = [ReferenceTensor(v) for v in rng.normal(0.0, 1.0 / math.sqrt(n_in), size=n_in)]
        self.b = ReferenceTensor(0.0)
        self.nonlinear = nonlinear

    def __call__(self, x: list) -> ReferenceTensor:
        total = self.b
        for weight, value in zip(self.w, x):
            total = total + weight * value
        return total.tanh() if self.nonlinear else total

    def parameters(self) -> list:
        return [*self.w, self.b]


class ReferenceLayer:
    def __init__(self, n_in: int, n_out: int, rng: Any, nonlinear: bool = True):
        self.neurons = [ReferenceNeuron(n_in, rng, nonlinear) for _ in range(n_out)]

    def __call__(self, x: list) -> list:
        return [neuron(x) for neuron in self.neurons]

    def parameters(self) -> list:
        return [p for neuron in self.neurons for p in neuron.parameters()]


class ReferenceMLP:
    def __init__(self, n_in: int, sizes: list, rng: Any):
        widths = [n_in, *sizes]
        self.layers = [ReferenceLayer(widths[i], widths[i + 1], rng, nonlinear=i < len(sizes) - 1)
                       for i in range(len(sizes))]

    def __call__(self, x: list) -> list:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list:
        return [p for layer in self.layers for p in layer.parameters()]


def hinge_loss(scores: list, ys: list) -> ReferenceTensor:
    """The mean of max(0, 1 - y s) on the reference engine."""
    total = ReferenceTensor(0.0)
    for score, y in zip(scores, ys):
        total = total + (1.0 - y * score).relu()
    return total * (1.0 / len(ys))
