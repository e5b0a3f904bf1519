"""course_utils.checks: accept every numeric form, reject fakes, fail with one readable line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.checks import as_array, check, check_close, check_equal, check_shape


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
