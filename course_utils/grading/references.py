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
                            (exponent * self.data ** (exponent - 1) if exponent else 0.0,))

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

    def sigmoid(self) -> ReferenceTensor:
        # tanh's identity keeps exp from overflowing at either end
        value = 0.5 * (1.0 + math.tanh(0.5 * self.data))
        return self._result(value, (self,), "sigmoid", (value * (1.0 - value),))


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


def train_step(model: Any, xs: list, ys: list, lr: float) -> float:
    """One gradient-descent step on the mean hinge loss of ``model``'s first outputs, gradients
    cleared before the backward pass; the loss before the update, as a float."""
    loss = hinge_loss([model(x)[0] for x in xs], ys)
    params = model.parameters()
    for p in params:
        p.gradient = 0.0
    loss.backward()
    for p in params:
        p.data -= lr * p.gradient
    return float(loss.data)


# ---------------------------------------------------------------- comparisons with PyTorch

def torch_reference(build: Any, values: list[float], start: list[float] | None = None
                    ) -> tuple[float, list[float]]:
    """``build``'s value and input gradients from PyTorch in float64; leaf ``i`` may start with
    gradient ``start[i]`` (backward then adds to it, as it should)."""
    import torch

    leaves = [torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for v in values]
    for leaf, g in zip(leaves, start or []):
        leaf.grad = torch.tensor(float(g), dtype=torch.float64)
    out = build(*leaves)
    out.backward()
    return out.item(), [0.0 if leaf.grad is None else leaf.grad.item() for leaf in leaves]


def against_torch(tensor: type, build: Any, values: list[float], start: list[float]
                  ) -> tuple[tuple[float, list[float]], tuple[float, list[float]]]:
    """``build`` run on leaves of the scalar engine ``tensor`` and on PyTorch leaves, each leaf
    starting with gradient ``start[i]``, then ``backward()`` on each output: ((value, input
    gradients) of the engine, the same from PyTorch)."""
    ours = [tensor(v) for v in values]
    for leaf, g in zip(ours, start):
        leaf.gradient = g
    out = build(*ours)
    out.backward()
    return ((float(out.data), [float(leaf.gradient) for leaf in ours]),
            torch_reference(build, values, start))


_OPERATIONS = ("add", "radd", "addc", "mul", "rmul", "mulc", "neg", "sub", "subc", "rsub",
               "div", "divc", "rdiv", "pow", "exp", "tanh", "relu", "twice_add", "twice_mul")


def _apply(op: str, x: Any, y: Any, k: float, p: float) -> Any:
    """One operation of the engine on ``x`` (and ``y``, the constant ``k``, the power ``p``): the
    same code serves floats, the engine's Tensors and PyTorch's tensors."""
    if op == "add":
        return x + y
    if op == "radd":
        return k + x
    if op == "addc":
        return x + k
    if op == "mul":
        return x * y
    if op == "rmul":
        return k * x
    if op == "mulc":
        return x * k
    if op == "neg":
        return -x
    if op == "sub":
        return x - y
    if op == "subc":
        return x - k
    if op == "rsub":
        return k - x
    if op == "div":
        return x / y
    if op == "divc":
        return x / k
    if op == "rdiv":
        return k / x
    if op == "pow":
        return x**p
    if op in ("exp", "tanh", "relu"):
        if isinstance(x, float):
            return {"exp": math.exp, "tanh": math.tanh, "relu": lambda v: max(0.0, v)}[op](x)
        return getattr(x, op)()
    if op == "twice_add":
        return x + x
    return x * x  # twice_mul


def _safe(op: str, x: float, y: float, p: float) -> bool:
    """Whether ``op`` stays away from poles, kinks and overflow at these values."""
    if op in ("div",):
        return abs(y) > 0.3
    if op == "rdiv":
        return abs(x) > 0.3
    if op == "pow":
        return p in (2, 3) or (p == -1 and abs(x) > 0.3) or x > 0.1
    if op == "exp":
        return x < 2.5
    if op == "relu":
        return abs(x) > 1e-3
    return True


def random_build(seed: int, n_inputs: int = 4, n_ops: int = 30) -> tuple[Any, list[float]]:
    """A random straight-line program using every operation of the engine at least once, with
    values kept in safe ranges: ``(build, inputs)``, where ``build(*leaves)`` returns the output
    and works on floats, the engine's Tensors and PyTorch tensors alike."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = [float(v) for v in rng.uniform(-1.5, 1.5, n_inputs)]
    program, current = [], list(values)
    while len(program) < n_ops:
        op = (_OPERATIONS[len(program)] if len(program) < len(_OPERATIONS)
              else _OPERATIONS[rng.integers(len(_OPERATIONS))])
        i = int(rng.integers(max(0, len(current) - 6), len(current)))  # mostly recent values: deep graphs
        j = int(rng.integers(len(current)))
        k = float(np.round(rng.uniform(0.5, 2.0), 3)) * (1 if rng.random() < 0.5 else -1)
        p = [2, 3, -1, 0.5, 1.5][rng.integers(5)]
        x, y = current[i], current[j]
        if not _safe(op, x, y, p):
            continue
        value = _apply(op, x, y, k, p)
        if isinstance(value, complex) or abs(value) > 20:
            continue
        program.append((op, i, j, k, p))
        current.append(value)
    last_uses = [int(v) for v in rng.choice(len(current), size=6, replace=False)]
    return RandomProgram(program, last_uses), values


class RandomProgram:
    """What :func:`random_build` returns: called on leaves, it runs its program on them.

    A class rather than a closure: lent to the kernel (checks.in_kernel), the kernel takes a
    class back when the test ends, and a closure it cannot."""

    def __init__(self, program: list[tuple], last_uses: list[int]):
        self.program, self.last_uses = program, last_uses

    def __call__(self, *inputs: Any) -> Any:
        nodes = list(inputs)
        for op, i, j, k, p in self.program:
            nodes.append(_apply(op, nodes[i], nodes[j], k, p))
        out = nodes[-1]
        for index in self.last_uses:
            out = out + nodes[index] * 0.5
        return out + sum(inputs)  # every input takes part


def torch_mlp_loss(weights: Any, sizes: list[int], X: list[list[float]], Y: list[float]) -> Any:
    """The hinge loss of 04's MLP in PyTorch, from its flat parameters (neuron by neuron: weights,
    then bias) as one tensor: tanh on every layer but the last, mean of relu(1 - y * score)."""
    import torch

    h, k = torch.tensor(X, dtype=torch.float64), 0
    widths = [len(X[0]), *sizes]
    for layer in range(len(sizes)):
        n_in, n_out = widths[layer], widths[layer + 1]
        block = weights[k:k + n_out * (n_in + 1)].reshape(n_out, n_in + 1)
        k += n_out * (n_in + 1)
        h = h @ block[:, :n_in].T + block[:, n_in]
        if layer < len(sizes) - 1:
            h = torch.tanh(h)
    return torch.relu(1 - torch.tensor(Y, dtype=torch.float64) * h[:, 0]).mean()
