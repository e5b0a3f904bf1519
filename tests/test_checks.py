"""course_utils.checks: accept every numeric form, reject fakes, fail with one readable line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from course_utils.checks import (
    as_array,
    as_float,
    as_text,
    check,
    check_close,
    check_equal,
    check_shape,
)


@pytest.mark.parametrize("value", [[0.5, 0.25], (0.5, 0.25), np.array([0.5, 0.25], dtype=np.float32),
                                   torch.tensor([0.5, 0.25], requires_grad=True)])
def test_check_close_accepts_every_numeric_form(value):
    check_close(value, [0.5, 0.25], "v")


def test_check_close_message_says_what_was_expected_and_returned():
    with pytest.raises(AssertionError) as err:
        check_close(0.693, 1.0, "entropy([0.5, 0.5])", hint="bits: use log2")
    message = str(err.value)
    assert message == "entropy([0.5, 0.5]): expected 1, got 0.693. Hint: bits: use log2"
    assert "\n" not in message


def test_always_equal_object_is_not_a_number():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(AssertionError, match="expected a number"):
        check_close(AlwaysEqual(), 1.0, "x")


def test_none_reminds_to_return():
    with pytest.raises(AssertionError, match="return"):
        as_array(None, "f(x)")


def test_nan_gets_a_hint():
    with pytest.raises(AssertionError, match="nan"):
        check_close([0.0, float("nan")], [0.0, 1.0], "h")
    check_close([float("inf")], [float("inf")], "inf matches inf")


def test_shapes_must_match():
    with pytest.raises(AssertionError, match=r"shape \(2,\)"):
        check_close([1.0, 2.0, 3.0], [1.0, 2.0], "v")
    check_close([[1.0]], 1.0, "a single number in any shape")
    check_shape(np.zeros((3, 2)), (3, 2))
    with pytest.raises(AssertionError, match=r"expected shape \(2, 3\)"):
        check_shape(np.zeros((3, 2)), (2, 3))


def test_check_equal_for_ints_strings_and_lists():
    check_equal(np.int64(5), 5)
    check_equal(torch.tensor(5), 5)
    check_equal("cexze.", "cexze.")
    check_equal(["a", 1], ("a", 1))
    with pytest.raises(AssertionError, match=r"names\[1\]: expected 'b', got 'c'"):
        check_equal(["a", "c"], ["a", "b"], "names")
    with pytest.raises(AssertionError):
        check_equal(5.5, 5)


def test_check_raises_with_the_message():
    check(True, "never shown")
    with pytest.raises(AssertionError, match="^rows must sum to 1$"):
        check(False, "rows must sum to 1")


def test_answers_are_compared_as_plain_values_not_with_their_own_methods():
    class LyingArray(np.ndarray):
        def __eq__(self, other):
            return True

        def __array_function__(self, func, types, args, kwargs):
            return True  # np.allclose(...) on this object would say True

    fake = np.zeros(3).view(LyingArray)
    assert type(as_array(fake)) is np.ndarray
    with pytest.raises(AssertionError, match="expected"):
        check_close(fake, [1.0, 2.0, 3.0], "v")

    class LyingStr(str):
        def __eq__(self, other):
            return True

        def __ne__(self, other):
            return False

    with pytest.raises(AssertionError, match="expected 'emma', got 'anna'"):
        check_equal(LyingStr("anna"), "emma", "name")
    assert type(as_text(LyingStr("anna"))) is str

    class Number:
        def __float__(self):
            return 2.5

        def __lt__(self, other):
            return True

    assert as_float(Number()) == 2.5 and type(as_float(torch.tensor([2.5]))) is float
    with pytest.raises(AssertionError, match="single number"):
        as_float([1.0, 2.0])
    with pytest.raises(AssertionError, match="expected a number"):
        as_array(np.array([1 + 2j]))


def test_check_takes_only_a_real_boolean():
    class Truthy:
        def __bool__(self):
            return True

    check(np.bool_(True), "numpy booleans are fine")
    with pytest.raises(TypeError, match="True or False"):
        check(Truthy(), "never shown")
    with pytest.raises(AssertionError):
        check(np.bool_(False), "numpy False fails")


def test_replacing_numpy_or_builtins_later_does_not_change_the_checks(monkeypatch):
    monkeypatch.setattr(np, "allclose", lambda *args, **kwargs: True)
    monkeypatch.setattr(np, "asarray", lambda value, *args, **kwargs: np.array([1.0]))
    with pytest.raises(AssertionError, match="expected 1, got 0.5"):
        check_close(0.5, 1.0, "x")
    # Builtins in a process of its own: pytest itself needs the real ones.
    code = (
        "import builtins\n"
        "from course_utils.checks import check_equal\n"
        "builtins.isinstance = lambda obj, cls: True\n"
        "builtins.len = lambda obj: 1\n"
        "try:\n"
        "    check_equal(['a', 'b'], ['a', 'c'])\n"
        "except AssertionError as exc:\n"
        "    print('caught', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "caught your answer[1]: expected 'c', got 'b'" in out.stdout, out
