"""Assertions for the notebooks' test cells.

Each check turns the student's answer into plain numbers first (lists, tuples,
NumPy arrays, torch tensors and Python scalars are all fine), then compares it
with tolerances, and fails with one readable line: what was checked, what was
expected, what came back, and a hint where a typical mistake is known.

The checks cannot be talked into passing by what a student defines: answers are
converted to plain values (a float64 ``numpy.ndarray``, a ``float``, an exact
``str``) before anything is compared, so an object whose ``==`` is always true,
an ndarray subclass or a tensor subclass with its own comparison gets no say;
``check`` accepts only a real ``True``/``False``; and the functions the checks
compute with are bound here when the module is imported (before any student
code runs), so replacing ``np.allclose`` or the builtin ``isinstance`` later
changes nothing here. The grading command also flags such replacements
(:mod:`course_utils.grading.integrity`).

What a student sees in a notebook: a failing check shows the test's line and the
message, wrapped to the notebook's column, instead of a traceback through this
module (IPython renders an exception's ``_render_traceback_``; pytest and plain
Python honour ``__tracebackhide__``). Imported in an IPython kernel, the module
also prints one line under every test cell that passes (:func:`announce_passing_test`),
except while nbgrader autogrades.
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import textwrap

# Bound in this module so that a notebook replacing them in `builtins` later does not reach here.
from builtins import abs, bool, float, int, isinstance, len, list, repr, str, tuple, type, zip  # noqa: A004, UP029
from collections.abc import Callable, MutableMapping, Sequence
from math import isfinite
from typing import Any, NoReturn

import numpy as np
from numpy import allclose as _allclose
from numpy import argwhere as _argwhere
from numpy import array2string as _array2string
from numpy import asarray as _asarray
from numpy import isfinite as _isfinite
from numpy import isnan as _isnan
from numpy import nanargmax as _nanargmax
from numpy import unravel_index as _unravel_index

__all__ = ["as_array", "as_float", "as_text", "check", "check_close", "check_equal", "check_shape", "in_kernel", "stand_in"]
_ndarray, _float64, _bool_ = np.ndarray, np.float64, np.bool_

# Characters per line of a failure in a notebook: JupyterLab's default column holds about
# 110 monospace characters beside the prompt, so this fits with room to spare.
WIDTH = 88
_THIS_FILE = os.path.normcase(os.path.abspath(__file__))


def _short_traceback(error: BaseException) -> list[str]:
    """What IPython shows for a failed check: the test's line, then the message, wrapped."""
    where = None
    tb = error.__traceback__
    while tb is not None:  # the innermost frame outside this module is the test's line
        code = tb.tb_frame.f_code
        if os.path.normcase(os.path.abspath(code.co_filename)) != _THIS_FILE:
            where = (code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    lines = []
    if where is not None:
        text = linecache.getline(*where).strip()
        if text:
            lines += textwrap.wrap(f"line {where[1]}: {text}", WIDTH, subsequent_indent="    ",
                                   break_on_hyphens=False)
    message, _, hint = str(error).partition(" Hint: ")
    lines += textwrap.wrap(f"AssertionError: {message}", WIDTH, subsequent_indent="    ",
                           break_on_hyphens=False)
    if hint:
        lines += textwrap.wrap(f"Hint: {hint}", WIDTH, subsequent_indent="    ", break_on_hyphens=False)
    return lines


def _raise(message: str) -> NoReturn:
    """Raise the AssertionError of a failed check, rendered short in a notebook."""
    __tracebackhide__ = True
    error = AssertionError(message)
    # An attribute of this instance, not a subclass: the error stays exactly an AssertionError
    # for nbgrader, the judge and the feedback, and only IPython's rendering changes.
    error._render_traceback_ = _ShortTraceback(error)
    raise error


class _ShortTraceback:
    """``_render_traceback_`` of a failed check (a class, not a closure, so the error still pickles)."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __call__(self) -> list[str]:
        return _short_traceback(self.error)


def _fmt(value: Any) -> str:
    try:
        if isinstance(value, _ndarray):
            value = _asarray(value)  # a subclass would format itself
            if value.ndim == 0:
                return _fmt(value.item())
            return _array2string(value, precision=4, threshold=12, max_line_width=1000)
        if isinstance(value, float):
            return f"{value:.6g}"
        return str.__str__(repr(value))
    except Exception:  # noqa: BLE001  (an answer whose repr fails still gets a message)
        return f"<{type(value).__name__}>"


def _first_stray_non_finite(got: np.ndarray, expected: np.ndarray) -> tuple[int, ...] | None:
    """Index of the first nan or infinity in ``got`` that ``expected`` does not have there."""
    if got.shape != expected.shape:
        return None
    same = (got == expected) | (_isnan(got) & _isnan(expected))
    stray = _argwhere(~_isfinite(got) & ~same)
    return tuple(int(i) for i in stray[0]) if len(stray) else None


def _fail(what: str, expected: Any, got: Any, hint: str | None) -> NoReturn:
    __tracebackhide__ = True
    message = f"{what}: expected {_fmt(expected)}, got {_fmt(got)}"
    try:
        got_a, exp_a = _asarray(got, dtype=_float64), _asarray(expected, dtype=_float64)
        stray = _first_stray_non_finite(got_a, exp_a) if got_a.size > 1 else None
        diff = abs(got_a - exp_a)
        if stray is not None:
            message += f" ({_fmt(float(got_a[stray]))} at index {stray})"
        elif diff.size > 1 and _isfinite(diff).any():
            index = _unravel_index(_nanargmax(diff), diff.shape)
            message += f" (largest difference {diff[index]:.3g} at index {tuple(int(i) for i in index)})"
        elif diff.size == 1 and 0 < float(diff.max()) < 1e-3 * (1 + float(abs(_asarray(expected, dtype=_float64)).max())):
            message += f" (off by {float(diff.max()):.3g})"
    except (TypeError, ValueError):
        pass
    message += "."
    if hint:
        message += f" Hint: {hint}"
    _raise(message)


def _detached(value: Any) -> Any:
    """Torch tensors (also inside lists and tuples) as NumPy arrays, their graph left behind."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return value.detach().cpu().numpy()
    if type(value) is list or type(value) is tuple:
        return [_detached(item) for item in value]
    return value


def as_array(value: Any, what: str = "your answer") -> np.ndarray:
    """``value`` as a plain float64 NumPy array, or an AssertionError saying why it is not numeric.

    The result is always a base ``numpy.ndarray`` (never a subclass), so comparing
    it runs NumPy's own code, not the answer's.
    """
    __tracebackhide__ = True
    if value is None:
        _raise(f"{what}: got None. Did the function forget to `return` its result?")
    value = _detached(value)
    try:
        raw = _asarray(value)
        array = None if raw.dtype.kind == "c" else _asarray(raw, dtype=_float64)
    except (TypeError, ValueError, RuntimeError):
        array = None
    if type(array) is not _ndarray or array.dtype != _float64:  # complex, text, a lying __array__
        _raise(f"{what}: expected a number or an array of numbers, got "
                             f"{type(value).__name__} {_fmt(value)[:80]}.")
    return array


def as_float(value: Any, what: str = "your answer") -> float:
    """A single number as a plain Python ``float`` (a one-element array or tensor is fine)."""
    __tracebackhide__ = True
    array = as_array(value, what)
    if array.size != 1:
        _raise(f"{what}: expected a single number, got shape {tuple(array.shape)}.")
    return float(array.reshape(()))


def as_text(value: Any, what: str = "your answer") -> str:
    """A string as a plain ``str`` (a str subclass keeps its characters, not its methods)."""
    __tracebackhide__ = True
    if not isinstance(value, str):
        _raise(f"{what}: expected a string, got {type(value).__name__} {_fmt(value)[:80]}.")
    return str.__str__(value)


def check(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` is ``True``.

    ``condition`` must be a real boolean (Python's or NumPy's): compare plain
    values (``as_float``, ``as_array``, ``as_text``) so that an answer's own
    ``==`` or ``<`` cannot decide the check.
    """
    __tracebackhide__ = True
    if type(condition) is not bool and type(condition) is not _bool_:
        raise TypeError(f"check() needs True or False, got {type(condition).__name__}; "
                        "compare plain values (as_float, as_array, as_text) in the test")
    if not condition:
        _raise(message)


_UNDEFINED = object()


def stand_in(namespace: MutableMapping[str, Any], **references: Any) -> None:
    """For the rest of this test cell, the notebook's ``name`` is ``references[name]``.

    A hidden test grades one exercise on its own by standing a reference in for an earlier
    exercise it calls (``stand_in(globals(), entropy=_entropy)`` at the top of the cell), so
    a mistake costs its own exercise only. ``namespace`` is the test cell's ``globals()``:
    at grading time the judge's, which binds the name in the student's kernel and puts the
    student's own back when the cell ends, pass or fail; in a notebook, IPython does that.
    """
    rebind = getattr(namespace, "rebind", None)
    if rebind is not None:
        for name, value in references.items():
            rebind(name, value)
        return
    previous = {name: namespace.get(name, _UNDEFINED) for name in references}
    namespace.update(references)
    shell = _ipython()
    if shell is None:
        return

    def restore(*_: Any) -> None:
        for name, value in previous.items():
            if value is _UNDEFINED:
                namespace.pop(name, None)
            else:
                namespace[name] = value
        shell.events.unregister("post_run_cell", restore)

    shell.events.register("post_run_cell", restore)


def in_kernel(namespace: MutableMapping[str, Any], function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, run where the notebook's objects live.

    In a notebook that is right here. At grading time a test cell runs in the grader and every
    use of a notebook object is a round trip to the student's kernel; a test that reads many
    (the data of 400 parameters, a rate for each of 4,096 steps) runs that part there instead,
    in one round trip: ``rates = in_kernel(globals(), lambda n: [lr(s, n) for s in range(n)], 4096)``.
    Only what it returns comes back; the checks on it run in the grader. ``namespace`` is the
    test cell's ``globals()``.
    """
    run = getattr(namespace, "in_kernel", None)
    if run is None:
        return function(*args, **kwargs)
    return run(function, args, kwargs)


def check_shape(got: Any, shape: Sequence[int], what: str = "your answer") -> None:
    """The answer has exactly this shape."""
    __tracebackhide__ = True
    actual = as_array(got, what).shape
    if tuple(actual) != tuple(shape):
        _raise(f"{what}: expected shape {tuple(shape)}, got shape {tuple(actual)}.")


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
    __tracebackhide__ = True
    got_a = as_array(got, what)
    exp_a = _asarray(expected, dtype=_float64)
    if got_a.shape != exp_a.shape:
        if got_a.size == 1 and exp_a.size == 1:
            got_a, exp_a = got_a.reshape(()), exp_a.reshape(())
        else:
            _raise(
                f"{what}: expected shape {exp_a.shape}, got shape {got_a.shape} "
                f"({_fmt(got_a)})."
            )
    if _isnan(got_a).any() and not _isnan(exp_a).any():
        _fail(what, exp_a, got_a, hint or "your result contains nan; look for 0 * log(0) or 0 / 0.")
    if not _allclose(got_a, exp_a, rtol=rtol, atol=atol, equal_nan=True):
        _fail(what, exp_a, got_a, hint)


def check_equal(got: Any, expected: Any, what: str = "your answer", *, hint: str | None = None) -> None:
    """Exact equality for integers, strings and containers of them (compared as plain values)."""
    __tracebackhide__ = True
    if isinstance(expected, (int, np.integer)) and not isinstance(expected, bool):
        value = as_array(got, what)
        if value.size != 1 or not isfinite(float(value.reshape(()))) or float(value.reshape(())) != int(expected):
            _fail(what, int(expected), value, hint)
        return
    if isinstance(expected, str):
        if not isinstance(got, str) or as_text(got, what) != str.__str__(expected):
            _fail(what, expected, got, hint)
        return
    if isinstance(expected, (list, tuple)):
        try:
            plain = list(got)
        except TypeError:
            plain = None  # failing outside the except block keeps the TypeError out of the report
        if plain is None:
            _fail(what, expected, got, hint)
        if len(plain) != len(expected):
            _fail(what, list(expected), plain, hint)
        for i, (g, e) in enumerate(zip(plain, expected)):
            check_equal(g, e, f"{what}[{i}]", hint=hint)
        return
    raise TypeError(f"check_equal does not compare {type(expected).__name__}; use check_close")


# ---------------------------------------------------------------- a line under a passing test cell

_TEST_TITLE = re.compile(r"#\s*Tests for (?P<name>.+?) \((?P<points>\d+(?:\.\d+)?) (?P<unit>points?)\)\s*$")


def passing_line(source: str) -> str | None:
    """The line to print under a test cell that ran without error, or None if ``source`` is no test cell.

    A test cell is recognised by its title, ``# Tests for <exercise> (<n> points)``.
    """
    first = source.lstrip().split("\n", 1)[0]
    match = _TEST_TITLE.match(first)
    if match is None:
        return None
    name, points = match["name"], f"{match['points']} {match['unit']}"
    if "### BEGIN HIDDEN TESTS" in source:  # the instructor's copy: every test just ran
        return f"\u2713 {name}: all tests pass, hidden ones included ({points})"
    return f"\u2713 {name}: visible tests pass ({points}; more tests run at grading)"


def announce_passing_test(result: Any) -> None:
    """IPython ``post_run_cell`` callback: print :func:`passing_line` under a test cell that passed.

    Silent while nbgrader autogrades (the grade is what counts there) and never on stderr,
    which nbgrader would score as a failure.
    """
    if os.environ.get("NBGRADER_EXECUTION") == "autograde" or not getattr(result, "success", False):
        return
    info = getattr(result, "info", None)
    line = passing_line(getattr(info, "raw_cell", None) or "")
    if line is not None:
        print(line, file=sys.stdout, flush=True)


def _ipython() -> Any:
    """The IPython shell this code runs in, or None (IPython not imported: not in a notebook)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def _register_with_ipython() -> None:
    """Hook :func:`announce_passing_test` into the IPython shell this module is imported in, once."""
    shell = _ipython()
    if shell is None:
        return
    callbacks = shell.events.callbacks["post_run_cell"]
    callbacks[:] = [cb for cb in callbacks if getattr(cb, "__qualname__", "") != "announce_passing_test"
                    or getattr(cb, "__module__", "") != __name__]  # a reload replaces, never doubles
    shell.events.register("post_run_cell", announce_passing_test)


_register_with_ipython()
