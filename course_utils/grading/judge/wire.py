"""What crosses between the judge and the student's kernel, in both directions.

Judge -> kernel is the trusted direction: arguments travel as a pickle, in which the
judge's handles become references to the kernel's own objects and the judge's own
callables (a ``build`` lambda, a small class a test defines) become callback numbers.

Kernel -> judge is untrusted: values travel as nested tuples of plain values that RPyC's
``brine`` carries (numbers, strings, bytes, None) and that :func:`decode` rebuilds by
hand, arrays as raw bytes with a checked dtype. Anything else stays in the kernel and
arrives as an RPyC netref, which the judge only ever hands back to the kernel. Nothing
the kernel sends is unpickled, imported or called in the judge: a library object the
kernel names is a handle like any other (its calls run in the kernel), except the few
pure functions of :data:`BY_IDENTITY`, which the judge takes from its own copy.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import numpy as np

# The modules whose names a course notebook's imports may bind to the judge's own copy (read from the
# course's release, never from the kernel: see session.release_imports).
TRUSTED_MODULES = frozenset({
    "numpy", "scipy", "torch", "math", "cmath", "statistics", "random", "collections", "itertools",
    "functools", "operator", "string", "re", "matplotlib", "graphviz", "tqdm",
    "course_utils",
})
UNTRUSTED_SUBMODULES = ("course_utils.grading",)
BY_IDENTITY = frozenset({
    "math.exp", "math.log", "math.sqrt", "math.tanh",
    "torch.exp", "torch.log", "torch.sqrt", "torch.tanh", "torch.sigmoid", "torch.relu",
})
"""The only library objects the kernel may name for the judge to use its own copy of (a student's
``activation = torch.tanh`` compares ``is torch.tanh``). Reviewed: pure functions of their arguments,
no file, process, memory-size or time argument. Never a module, a class or a course tool: whatever
else the kernel holds reaches the test as a handle, whose calls run in the sandboxed kernel."""
DTYPE_KINDS = "biufcU"
TORCH_DTYPES = ("float16", "float32", "float64", "bfloat16", "int8", "int16", "int32", "int64",
                "uint8", "bool", "complex64", "complex128")
MAX_DEPTH = 64
MAX_ITEMS = 10_000_000
PLAIN = (type(None), bool, int, float, complex, str, bytes)
GRAPH = {"keep": False}
"""In the kernel: while it runs a function of the tests for its caller, tensors that track gradients
stay handles, so that what the function computes with them stays in the kernel's autograd graph."""
TICKETS: dict[int, tuple[Any, int]] = {}
"""In the kernel: id -> (object, number) of the test's own objects it was given in this cell."""


class WireError(ValueError):
    """The kernel sent something that is not a value the judge accepts."""


def trusted_path(path: str) -> bool:
    return (path.split(".")[0] in TRUSTED_MODULES
            and not any(path == m or path.startswith(m + ".") for m in UNTRUSTED_SUBMODULES)
            and not any(part.startswith("_") for part in path.split(".")))


def resolve(path: str) -> Any:
    """The judge's own object at a dotted path (``numpy``, ``course_utils.checks.check_close``)."""
    try:
        return importlib.import_module(path)
    except ImportError:
        module, _, name = path.rpartition(".")
        if not module:
            raise
        return getattr(resolve(module), name)


# --------------------------------------------------------------------------- kernel side


def encode(obj: Any, depth: int = 0) -> tuple:
    """``obj`` as the judge should see it (runs in the kernel; the judge trusts none of it)."""
    kind = type(obj)
    if kind in PLAIN:
        return ("v", obj)
    known = TICKETS.get(id(obj))
    if known is not None and known[0] is obj:
        return ("judge", known[1])
    if depth < MAX_DEPTH:
        # Subclasses too (a Counter, a defaultdict, a namedtuple): the judge sees their plain contents.
        if isinstance(obj, (list, tuple, set, frozenset)) and len(obj) <= MAX_ITEMS:
            tag = "list" if isinstance(obj, list) else "tuple" if isinstance(obj, tuple) else "set"
            items = tuple(obj)
            if all(type(x) in PLAIN for x in items):
                # the common case (the 32,033 names): one flat tuple, ten times cheaper to carry
                return ("plain", tag, items)
            return (tag, tuple(encode(x, depth + 1) for x in items))
        if isinstance(obj, dict) and len(obj) <= MAX_ITEMS:
            return ("dict", tuple((encode(k, depth + 1), encode(v, depth + 1)) for k, v in obj.items()))
    if kind is np.ndarray and obj.dtype.kind in DTYPE_KINDS:
        return ("ndarray", obj.dtype.str, tuple(int(n) for n in obj.shape), np.ascontiguousarray(obj).tobytes())
    if isinstance(obj, np.generic) and kind.__module__ == "numpy" and obj.dtype.kind in DTYPE_KINDS:
        return ("npscalar", obj.dtype.str, obj.tobytes())
    torch = _torch()
    if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
        if GRAPH["keep"] and (obj.requires_grad or obj.grad_fn is not None):
            return ("handle", obj, "Tensor")
        return _encode_tensor(torch, obj, depth)
    path = _library_path(obj)
    if path is not None:
        return ("lib", path)
    return ("handle", obj, kind.__name__[:100])


def encode_state(obj: Any) -> tuple:
    """What a mutable argument looks like after a call, for the judge to copy back."""
    torch = _torch()
    if isinstance(obj, np.random.Generator):
        return ("npgen", encode(obj.bit_generator.state))
    if torch is not None and type(obj) is torch.Generator:
        return ("torchgen", encode(obj.get_state()))
    return encode(obj)


def _encode_tensor(torch, tensor, depth: int) -> tuple:
    data = tensor.detach().cpu()
    dtype = str(data.dtype).removeprefix("torch.")
    if dtype not in TORCH_DTYPES:
        return ("handle", tensor, "Tensor")
    array = (data.float() if dtype == "bfloat16" else data).contiguous().numpy()
    grad = tensor.grad if tensor.is_leaf else None
    return ("tensor", dtype, encode(array, depth + 1), bool(tensor.requires_grad), tensor.grad_fn is not None,
            encode(grad, depth + 1) if grad is not None and depth < MAX_DEPTH else ("v", None))


def _library_path(obj: Any) -> str | None:
    """``torch.tanh`` for torch's tanh: one of :data:`BY_IDENTITY`, never the notebook's own."""
    module, name = getattr(obj, "__module__", None), getattr(obj, "__name__", None)
    if not (isinstance(module, str) and isinstance(name, str)):
        return None
    for path in BY_IDENTITY:
        home, _, attr = path.rpartition(".")
        found = sys.modules.get(home)
        if found is not None and getattr(found, attr, None) is obj:
            return path
    return None


def _torch():
    return sys.modules.get("torch")


# --------------------------------------------------------------------------- judge side


def decode(node: Any, handle, depth: int = 0, returned=None) -> Any:
    """Rebuild a value the kernel sent; ``handle(netref, type_name)`` wraps what stayed in the kernel,
    ``returned(number)`` is the test's own object the kernel hands back."""
    if type(node) is not tuple or not node or type(node[0]) is not str or depth > MAX_DEPTH + 2:
        raise WireError("malformed value from the kernel")
    tag, rest = node[0], node[1:]
    if tag == "v" and len(rest) == 1 and type(rest[0]) in PLAIN:
        return rest[0]
    if (tag == "plain" and len(rest) == 2 and rest[0] in ("list", "tuple", "set") and type(rest[1]) is tuple
            and all(type(x) in PLAIN for x in rest[1])):
        return {"list": list, "tuple": tuple, "set": _set}[rest[0]](rest[1])
    if tag in ("list", "tuple", "set") and len(rest) == 1 and type(rest[0]) is tuple:
        items = [decode(x, handle, depth + 1, returned) for x in rest[0]]
        return {"list": list, "tuple": tuple, "set": _set}[tag](items)
    if tag == "dict" and len(rest) == 1 and type(rest[0]) is tuple:
        out = {}
        for pair in rest[0]:
            if type(pair) is not tuple or len(pair) != 2:
                raise WireError("malformed dict from the kernel")
            key = decode(pair[0], handle, depth + 1, returned)
            try:
                hash(key)
            except TypeError:
                raise WireError("unhashable dict key from the kernel") from None
            out[key] = decode(pair[1], handle, depth + 1, returned)
        return out
    if tag == "ndarray":
        return _array(*rest)
    if tag == "npscalar" and len(rest) == 2:
        return _array(rest[0], (), rest[1])[()]
    if tag == "tensor":
        return _tensor(handle, depth, *rest)
    if tag == "lib" and len(rest) == 1 and type(rest[0]) is str and rest[0] in BY_IDENTITY:
        home, _, attr = rest[0].rpartition(".")
        try:
            return getattr(importlib.import_module(home), attr)
        except (ImportError, AttributeError):
            raise WireError(f"{rest[0]} is not available to the tests") from None
    if tag == "lib":
        # Never resolved: a kernel naming any other library object is not an honest kernel.
        raise WireError("the kernel named a library object the tests do not take from it")
    if tag == "judge" and len(rest) == 1 and returned is not None:
        return returned(rest[0])
    if tag == "handle" and len(rest) == 2 and _is_netref(rest[0]) and type(rest[1]) is str:
        return handle(rest[0], rest[1])
    raise WireError(f"unexpected {tag!r} from the kernel")


def apply_state(target: Any, node: Any, handle, returned=None) -> None:
    """Copy a mutable argument's state after the call back into the judge's object."""
    if type(node) is tuple and node and node[0] == "npgen" and isinstance(target, np.random.Generator):
        state = decode(node[1], handle)
        if isinstance(state, dict):
            target.bit_generator.state = state
        return
    torch = _torch()  # a torch object can only come from a judge that has imported torch
    if (torch is not None and type(node) is tuple and node and node[0] == "torchgen"
            and isinstance(target, torch.Generator)):
        state = decode(node[1], handle)
        if isinstance(state, torch.Tensor) and state.dtype == torch.uint8:
            target.set_state(state.detach().clone())
        return
    value = decode(node, handle, returned=returned)
    if (torch is not None and isinstance(target, torch.Tensor) and isinstance(value, torch.Tensor)
            and value.shape == target.shape):
        with torch.no_grad():
            target.copy_(value.to(target.dtype))
        if target.is_leaf and target.requires_grad:
            target.grad = None if value.grad is None else value.grad.detach().to(target.dtype).clone()
    elif isinstance(target, np.ndarray) and isinstance(value, np.ndarray) and value.shape == target.shape:
        if target.flags.writeable:
            target[...] = value
    elif type(target) is list and type(value) is list:
        target[:] = value
    elif type(target) is dict and type(value) is dict:
        target.clear()
        target.update(value)


def mutable(obj: Any) -> bool:
    """An argument whose changes inside a student's function the judge copies back."""
    torch = _torch()
    kinds = (np.ndarray, np.random.Generator) + ((torch.Tensor, torch.Generator) if torch is not None else ())
    return isinstance(obj, kinds) or type(obj) in (list, dict)


def _set(items: list) -> set:
    try:
        return set(items)
    except TypeError:
        raise WireError("unhashable set item from the kernel") from None


def _array(dtype: Any, shape: Any, data: Any) -> np.ndarray:
    if type(dtype) is not str or type(data) is not bytes or type(shape) is not tuple:
        raise WireError("malformed array from the kernel")
    if not all(type(n) is int and 0 <= n <= MAX_ITEMS for n in shape) or len(shape) > 32:
        raise WireError("malformed array shape from the kernel")
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise WireError(f"unknown dtype {dtype[:20]!r} from the kernel") from None
    if kind.kind not in DTYPE_KINDS or kind.hasobject or kind.fields is not None or kind.subdtype is not None:
        raise WireError(f"dtype {dtype[:20]!r} is not accepted from the kernel")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * kind.itemsize != len(data):
        raise WireError("array data does not match its shape")
    return np.frombuffer(data, dtype=kind).reshape(shape).copy()


def _tensor(handle, depth: int, dtype: Any = None, array: Any = None, requires_grad: Any = None,
            has_grad_fn: Any = None, grad: Any = None) -> Any:
    import torch

    if dtype not in TORCH_DTYPES or type(requires_grad) is not bool or type(has_grad_fn) is not bool:
        raise WireError("malformed tensor from the kernel")
    values = decode(array, handle, depth + 1)
    if not isinstance(values, np.ndarray):
        raise WireError("malformed tensor from the kernel")
    tensor = torch.from_numpy(values).to(getattr(torch, dtype))
    if requires_grad and tensor.is_floating_point():
        tensor.requires_grad_(True)
        gradient = decode(grad, handle, depth + 1)
        if has_grad_fn:
            # Keep what a test can ask of it: it came out of a computation that tracks gradients.
            tensor = tensor.clone()
        elif isinstance(gradient, torch.Tensor) and gradient.shape == tensor.shape:
            tensor.grad = gradient.to(tensor.dtype)
    return tensor


def _is_netref(obj: Any) -> bool:
    from rpyc.core.netref import BaseNetref

    return issubclass(type(obj), BaseNetref)
