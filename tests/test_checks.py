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
                                   torch.tensor([0.5, 0.25], requires_grad=True),
                                   [torch.tensor(0.5, requires_grad=True) * 1, torch.tensor(0.25)],
                                   (torch.tensor(0.5, requires_grad=True), np.float64(0.25))])
def test_check_close_accepts_every_numeric_form(value):
    check_close(value, [0.5, 0.25], "v")


def test_a_list_of_tensors_with_gradients_is_compared_not_refused():
    """Issue 14: a list of tensors that require grad gave torch's RuntimeError about numpy()."""
    with pytest.raises(AssertionError, match=r"v: expected \[0.5 0.3\], got \[0.5 +0.25\]"):
        check_close([torch.tensor(0.5, requires_grad=True) * 1, torch.tensor(0.25)], [0.5, 0.3], "v")


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


# ---------------------------------------------------------------- what a student sees (issue 18)

def _failure(call) -> AssertionError:
    with pytest.raises(AssertionError) as err:
        call()
    return err.value


def test_a_failed_check_renders_as_the_test_line_and_the_message_wrapped():
    from course_utils import checks

    long_what = "the sum of the 26 probabilities of the first letters of all the names in the data set"
    error = _failure(lambda: check_close(np.arange(26.0).sum(), 1.0, long_what,
                                         hint="divide the counts by the number of names"))
    assert type(error) is AssertionError  # nbgrader, the judge and the feedback see no other type
    lines = error._render_traceback_()
    assert lines[0].startswith("line ") and "check_close(np.arange(26.0).sum()" in lines[0]
    text = "\n".join(lines)
    assert "AssertionError: the sum of the 26 probabilities" in text and "expected 1, got 325" in text
    assert lines[-1] == "Hint: divide the counts by the number of names"
    assert "course_utils" not in text and "_raise(" not in text and "Traceback" not in text
    assert all(len(line) <= checks.WIDTH for line in lines), lines
    assert len(lines) <= 6


def test_every_frame_inside_the_checks_is_hidden_from_tracebacks():
    from course_utils import checks

    error = _failure(lambda: check_equal(["a", "c"], ["a", "b"], "names"))
    tb, inside = error.__traceback__, 0
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == checks.__file__:
            inside += 1
            assert tb.tb_frame.f_locals.get("__tracebackhide__") is True, tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    assert inside >= 2
    assert error.__context__ is None  # check_equal's own TypeError is not chained into the report


@pytest.mark.parametrize(("got", "expected", "named"), [
    ([0.5, float("nan"), 0.5], [0.5, 0.0, 0.5], "nan at index (1,)"),
    ([[1.0, 2.0], [float("-inf"), 9.0]], [[1.0, 2.0], [3.0, 4.0]], "-inf at index (1, 0)"),
    ([1.0, float("inf")], [1.0, 2.0], "inf at index (1,)"),
])
def test_a_nan_or_infinity_in_the_answer_is_named_first_with_its_index(got, expected, named):
    message = str(_failure(lambda: check_close(got, expected, "p")))
    assert f"({named})" in message and "largest difference" not in message


def test_a_nan_the_expected_value_also_has_is_not_blamed():
    message = str(_failure(lambda: check_close([float("nan"), 5.0], [float("nan"), 1.0], "p")))
    assert "largest difference 4 at index (1,)" in message and "nan at" not in message


@pytest.mark.parametrize(("source", "line"), [
    ("# Tests for first_letter_distribution (2 points)\ncheck(True, '')",
     "\u2713 first_letter_distribution: visible tests pass (2 points; more tests run at grading)"),
    ("\n# Tests for tensor_neg, tensor_sub (1 point)\n", "\u2713 tensor_neg, tensor_sub: visible tests pass "
                                                        "(1 point; more tests run at grading)"),
    ("# Tests for h (0.5 points)\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS",
     "\u2713 h: all tests pass, hidden ones included (0.5 points)"),
    ("x = 1  # Tests for h (2 points)", None),
    ("# Tests for the lecture's plot", None),
])
def test_a_test_cell_is_recognised_by_its_title(source, line):
    from course_utils.checks import passing_line

    assert passing_line(source) == line


def test_the_line_is_printed_on_stdout_only_for_a_test_cell_that_passed(capsys, monkeypatch):
    from types import SimpleNamespace

    from course_utils.checks import announce_passing_test

    def result(source, success=True):
        return SimpleNamespace(success=success, info=SimpleNamespace(raw_cell=source))

    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    announce_passing_test(result("# Tests for f (2 points)\n"))
    announce_passing_test(result("# Tests for g (2 points)\n", success=False))
    announce_passing_test(result("print('a lecture cell')"))
    out = capsys.readouterr()
    assert out.out == "\u2713 f: visible tests pass (2 points; more tests run at grading)\n" and out.err == ""
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    announce_passing_test(result("# Tests for f (2 points)\n"))
    monkeypatch.setenv("NBGRADER_EXECUTION", "validate")
    announce_passing_test(result("# Tests for f (2 points)\n"))
    out = capsys.readouterr()
    assert out.out.count("\u2713") == 1 and out.err == ""


def test_in_an_ipython_shell_a_passing_test_cell_prints_one_line_and_a_failing_one_is_short():
    code = (
        "import importlib, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance(colors='nocolor')\n"
        "shell.run_cell('import course_utils.checks as c; import importlib; importlib.reload(c)')\n"
        "shell.run_cell('from course_utils.checks import check_close')\n"
        "print('=== pass')\n"
        "shell.run_cell('# Tests for f (2 points)\\ncheck_close(1.0, 1.0, \"f(1)\")')\n"
        "print('=== fail')\n"
        "shell.run_cell('# Tests for g (1 point)\\ncheck_close(2.0, 1.0, \"g(1)\", hint=\"halve it\")')\n"
        "print('=== lecture')\n"
        "shell.run_cell('y = 2')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    passing = out.stdout.split("=== pass\n")[1].split("=== fail")[0]
    failing = out.stdout.split("=== fail\n")[1].split("=== lecture")[0]
    assert passing == "\u2713 f: visible tests pass (2 points; more tests run at grading)\n", out
    assert "line 2: check_close(2.0, 1.0" in failing and "AssertionError: g(1): expected 1, got 2." in failing
    assert "Hint: halve it" in failing and "Traceback" not in failing and "checks.py" not in failing
    assert "\u2713" not in failing and out.stdout.split("=== lecture")[1].strip() == ""
    assert len(failing.strip().splitlines()) <= 4, failing


def test_a_failed_check_still_pickles():
    import pickle

    error = pickle.loads(pickle.dumps(_failure(lambda: check_close(2.0, 1.0, "x"))))
    assert type(error) is AssertionError and str(error) == "x: expected 1, got 2."
    assert error._render_traceback_() == ["AssertionError: x: expected 1, got 2."]
