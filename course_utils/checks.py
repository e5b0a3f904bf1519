"""Assertions for the notebooks' test cells.

Each check turns the student's answer into plain numbers first (lists, tuples,
NumPy arrays, torch tensors and Python scalars are all fine), then compares it
with tolerances, and fails with one readable line: what was checked, what was
expected, what came back, and a hint where a typical mistake is known.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["as_array", "check", "check_close", "check_equal", "check_shape"]


def _fmt(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            return _fmt(value.item())
        return np.array2string(value, precision=4, threshold=12, max_line_width=1000)
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


def _fail(what: str, expected: Any, got: Any, hint: str | None) -> None:
    message = f"{what}: expected {_fmt(expected)}, got {_fmt(got)}"
    try:
        diff = np.abs(np.asarray(got, dtype=float) - np.asarray(expected, dtype=float))
        if diff.size > 1 and np.isfinite(diff).any():
            index = np.unravel_index(np.nanargmax(diff), diff.shape)
            message += f" (largest difference {diff[index]:.3g} at index {tuple(int(i) for i in index)})"
        elif diff.size == 1 and 0 < float(diff.max()) < 1e-3 * (1 + abs(float(np.max(expected)))):
            message += f" (off by {float(diff.max()):.3g})"
    except (TypeError, ValueError):
        pass
    message += "."
    if hint:
        message += f" Hint: {hint}"
    raise AssertionError(message)


def as_array(value: Any, what: str = "your answer") -> np.ndarray:
    """``value`` as a float64 NumPy array, or an AssertionError saying why it is not numeric."""
    if value is None:
        raise AssertionError(f"{what}: got None. Did the function forget to `return` its result?")
    if hasattr(value, "detach") and hasattr(value, "numpy"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise AssertionError(
            f"{what}: expected a number or an array of numbers, got {type(value).__name__} "
            f"{_fmt(value)[:80]}."
        ) from None
    return array


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` is true."""
    if not bool(condition):
        raise AssertionError(message)


def check_shape(got: Any, shape: Sequence[int], what: str = "your answer") -> None:
    """The answer has exactly this shape."""
    actual = as_array(got, what).shape
    if tuple(actual) != tuple(shape):
        raise AssertionError(f"{what}: expected shape {tuple(shape)}, got shape {tuple(actual)}.")


def check_close(
    got: Any,
    expected: Any,
    what: str = "your answer",
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    hint: str | None = None,
) -> None:
    """The answer equals ``expected`` within tolerances, in shape and in every entry.

    NaN and infinities must match exactly where they appear in ``expected``.
    """
    got_a = as_array(got, what)
    exp_a = np.asarray(expected, dtype=np.float64)
    if got_a.shape != exp_a.shape:
        if got_a.size == 1 and exp_a.size == 1:
            got_a, exp_a = got_a.reshape(()), exp_a.reshape(())
        else:
            raise AssertionError(
                f"{what}: expected shape {exp_a.shape}, got shape {got_a.shape} "
                f"({_fmt(got_a)})."
            )
    if np.isnan(got_a).any() and not np.isnan(exp_a).any():
        _fail(what, exp_a, got_a, hint or "your result contains nan; look for 0 * log(0) or 0 / 0.")
    if not np.allclose(got_a, exp_a, rtol=rtol, atol=atol, equal_nan=True):
        _fail(what, exp_a, got_a, hint)


def check_equal(got: Any, expected: Any, what: str = "your answer", *, hint: str | None = None) -> None:
    """Exact equality for integers, strings and containers of them (compared as plain values)."""
    if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
        value = as_array(got, what)
        if value.size != 1 or not math.isfinite(float(value)) or float(value) != int(expected):
            _fail(what, int(expected), value, hint)
        return
    if isinstance(expected, str):
        if not isinstance(got, str) or got != expected:
            _fail(what, expected, got, hint)
        return
    if isinstance(expected, (list, tuple)):
        try:
            plain = list(got)
        except TypeError:
            _fail(what, expected, got, hint)
        if len(plain) != len(expected):
            _fail(what, list(expected), plain, hint)
        for i, (g, e) in enumerate(zip(plain, expected)):
            check_equal(g, e, f"{what}[{i}]", hint=hint)
        return
    raise TypeError(f"check_equal does not compare {type(expected).__name__}; use check_close")
