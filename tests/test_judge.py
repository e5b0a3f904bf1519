"""The judge: test cells run in the grader's process; the student's kernel only answers requests.

Each test runs a small notebook in a real kernel (no sandbox, to stay fast; the sandboxed
path is covered by the adversarial class and the round trips) and judges its test cell.
"""

from __future__ import annotations

import struct

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils.grading.judge import Judge, run_test_cell

SETUP = """\
import numpy as np
import torch
from course_utils.checks import as_array, as_float, check, check_close, check_equal
names = ["ab", "ac", "b"]
"""
HIDDEN = 0.7318236  # an expected value only the test knows


def judge_cells(student: str, *tests: str, plain: tuple[int, ...] = (), **limits) -> list[nbformat.NotebookNode]:
    """Run SETUP and ``student`` in a kernel, then judge each test cell; returns the judged cells.

    The cells at the positions ``plain`` (among ``tests``) run in the kernel as the notebook's own.
    """
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(student)]
    nb.cells += [nbformat.v4.new_code_cell(t) for t in tests]
    client = NotebookClient(nb, timeout=8, kernel_name="python3", allow_errors=True,
                            interrupt_on_timeout=True)
    with client.setup_kernel():
        judge = Judge.for_release(nb, timeout=60, **limits)
        try:
            for index, cell in enumerate(list(nb.cells)):
                if index < 2 or index - 2 in plain:
                    client.execute_cell(cell, index)
                else:
                    run_test_cell(client, judge, cell, index)
        finally:
            judge.close()
    return nb.cells[2:]


def errors(cell) -> list[str]:
    return [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]


def test_values_handles_and_arguments_cross_as_a_test_expects():
    student = '''
def first_letters(words):
    print("computing")
    return np.array([w[0] == "a" for w in words], dtype=float)

def step(W, g):
    W.data += torch.randn(W.shape, generator=g)
    return (W ** 2).sum()

class Value:
    def __init__(self, v):
        self.v, self.children = v, ()
    def __mul__(self, other):
        out = Value(self.v * (other.v if isinstance(other, Value) else other))
        out.children = (self, other) if isinstance(other, Value) else (self,)
        return out
    __rmul__ = __mul__

def order(node):
    seen, out = set(), []
    def visit(n):
        if id(n) not in seen:
            seen.add(id(n))
            for c in n.children:
                visit(c)
            out.append(n)
    visit(node)
    return out

def total(dist):
    return dist.pmf(1) + dist.support()[1]

def fail():
    raise ValueError("not like this")
'''
    test = '''
check_close(first_letters(names), [1, 1, 0], "first_letters(names)")
_W = torch.zeros(3, requires_grad=True)
_g = torch.Generator().manual_seed(0)
_loss = step(_W, _g)
check(_loss.grad_fn is not None, "the loss stays connected to W")
check_close(_W.detach(), torch.randn(3, generator=torch.Generator().manual_seed(0)).numpy(), "W after the step")
check(not torch.equal(torch.randn(3, generator=_g), torch.randn(3, generator=torch.Generator().manual_seed(0))),
      "the generator's stream continued")
_a = Value(3.0)
_b = _a * _a
check(isinstance(_b, Value), "isinstance against the student's class")
check_close(_b.v, 9.0, "a * a")
check(_a in _b.children and order(_b)[-1] is _b, "the same objects come back")
class _Node:
    def __init__(self, *children):
        self.children = children
_leaf = _Node()
_top = _Node(_Node(_leaf), _leaf)
check([id(n) for n in order(_top)][-1] == id(_top) and order(_top)[0] is _leaf, "the test's own objects come back")
class _Dist:
    def pmf(self, k):
        return 0.25
    def support(self):
        return (0, 4)
check_close(total(_Dist()), 4.25, "total of the test's own distribution")
try:
    fail()
except ValueError as exc:
    check("not like this" in str(exc), "the student's error keeps its message")
'''
    (cell,) = judge_cells(student, test)
    assert errors(cell) == []
    assert "computing" in "".join(o.get("text", "") for o in cell.outputs)


def test_a_wrong_or_missing_answer_fails_with_the_checks_message():
    wrong, missing = judge_cells(
        "def f(x):\n    return x + 1\n",
        'check_close(f(1.0), 3.0, "f(1)", hint="double it")',
        'check_close(g(1.0), 3.0, "g(1)")')
    assert errors(wrong) == ["AssertionError: f(1): expected 3, got 2. Hint: double it"]
    assert errors(missing) == ["NameError: name 'g' is not defined"]


def test_an_unfilled_exercise_is_reported_as_not_done():
    (cell,) = judge_cells("def f(x):\n    raise NotImplementedError('Exercise not done yet')\n",
                          'check_close(f(1.0), 2.0, "f(1)")')
    assert errors(cell) == ["NotImplementedError: Exercise not done yet"]


# Code a student could add to a blank notebook to fake passing tests in a shared kernel.
ATTACKS = {
    "post_run_cell clears the error": """
ip = get_ipython()
def clear(result):
    result.error_in_exec = None
    result.error_before_exec = None
ip.events.register("post_run_cell", clear)
ip.showtraceback = lambda *a, **k: None
""",
    "pre_run_cell displays full marks": """
ip = get_ipython()
ip.events.register("pre_run_cell", lambda info: ip.displayhook(1.0))
""",
    "input transformer blanks every cell": """
get_ipython().input_transformers_post.append(lambda lines: ["pass\\n"])
""",
    "AST transformer removes the asserts": """
import ast
class Blank(ast.NodeTransformer):
    def visit_Module(self, node):
        return ast.Module(body=[ast.Pass()], type_ignores=[])
get_ipython().ast_transformers.append(Blank())
""",
    "check helpers replaced in the kernel": """
import course_utils.checks, numpy as np
course_utils.checks.check_close = lambda *a, **k: None
check_close = lambda *a, **k: None
np.testing.assert_allclose = lambda *a, **k: None
np.allclose = lambda *a, **k: True
import builtins
builtins.abs = lambda x: 0.0
""",
    "settrace rewrites the caller's locals": """
import sys
def tracer(frame, event, arg):
    frame.f_locals.pop("expected", None)
    return tracer
sys.settrace(tracer)
""",
    "an answer that walks up the stack": """
import sys
class Sneaky:
    def __array__(self, dtype=None, copy=None):
        frame = sys._getframe(1)
        while frame is not None:
            if "expected" in frame.f_locals:
                return np.asarray(frame.f_locals["expected"])
            frame = frame.f_back
        return np.zeros(1)
""",
    "always equal": """
class Always:
    def __eq__(self, other):
        return True
    __float__ = lambda self: 0.7318236
""",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_code_in_the_kernel_cannot_fake_a_pass(attack):
    student = ATTACKS[attack] + "\ndef answer(x):\n" + (
        "    return Sneaky()\n" if "Sneaky" in ATTACKS[attack] else
        "    return Always()\n" if "Always" in ATTACKS[attack] else
        "    raise NotImplementedError('Exercise not done yet')\n")
    (cell,) = judge_cells(student, f'check_close(answer(2.0), {HIDDEN!r}, "answer(2)")')
    assert errors(cell), f"{attack}: the test passed"
    assert not any(o.output_type == "execute_result" for o in cell.outputs)


def test_the_kernel_never_receives_the_expected_values():
    # A hostile notebook records every request the kernel receives and prints them later.
    spy = '''
import course_utils.grading.judge.kernel as k
RECEIVED = []
for name in ("exposed_lookup", "exposed_apply"):
    original = getattr(k.KernelService, name)
    def spying(self, *args, _original=original):
        RECEIVED.append(repr(args))  # raw: names, and arguments as pickled bytes
        return _original(self, *args)
    setattr(k.KernelService, name, spying)
original_load = k._Unpickler.load
def spying_load(self):
    value = original_load(self)
    RECEIVED.append(repr(value))  # decoded: the arguments themselves
    return value
k._Unpickler.load = spying_load

def answer(x):
    return x * 2
'''
    test = f'''
check_close(answer(1.5), 3.0, "answer(1.5)")
### BEGIN HIDDEN TESTS
check_close(answer(0.25), 0.5, "answer(0.25)")
check_close(answer(2.0), {HIDDEN!r}, "answer(2)")
### END HIDDEN TESTS
'''
    show = 'check(False, "RECEIVED: " + " | ".join(RECEIVED))'
    judged, shown = judge_cells(spy, test, show)
    assert errors(judged) and "answer(2)" in errors(judged)[0]
    (received,) = errors(shown)
    assert "answer" in received and "0.25" in received  # the spy did see the inputs...
    assert str(HIDDEN) not in received  # ...but never an expected value
    assert repr(struct.pack("<d", HIDDEN))[2:-1] not in received  # not even as the bytes of a float
    assert "BEGIN HIDDEN" not in received and "check_close" not in received


def test_a_kernel_that_stops_answering_fails_the_test_not_the_run():
    (stuck, after) = judge_cells(
        "import time\ndef slow(x):\n    time.sleep(60)\n",
        'check_close(slow(1), 1.0, "slow(1)")',
        'check_close(2.0, 2.0, "a test that needs nothing from the kernel")')
    assert errors(stuck) and "did not answer" in errors(stuck)[0]
    assert errors(after) == []


def test_a_flat_list_of_plain_values_crosses_in_one_piece_and_nothing_else_passes_for_one():
    from course_utils.grading.judge import wire

    names = ["emma", "olivia", "ava"] * 1000
    node = wire.encode(names)
    assert node[:2] == ("plain", "list") and node[2] == tuple(names)
    back = wire.decode(node, handle=None)
    assert back == names and type(back) is list
    assert wire.decode(wire.encode(("a", 1, 2.5, None, True)), handle=None) == ("a", 1, 2.5, None, True)

    class Name(str):
        pass

    assert wire.encode([Name("x")])[0] == "list"  # a subclass may lie about itself: item by item
    for forged in [("plain", "list", (object(),)), ("plain", "dict", ("a",)), ("plain", "list", ["a"])]:
        with pytest.raises(wire.WireError):
            wire.decode(forged, handle=None)


def test_a_reference_stands_in_for_an_earlier_exercise_until_the_cell_ends():
    """checks.stand_in at grading time: the student's later function calls the reference, in the
    kernel, for this test cell only, pass or fail; the next cell sees the student's own again."""
    student = '''
def entropy(p):
    return 42.0  # wrong: the earlier exercise

def report(p):
    return {"h": entropy(p)}  # the later exercise, right: it calls entropy
'''
    prelude = '''
from course_utils.checks import stand_in
def _entropy(p):
    p = np.asarray(p, dtype=float)
    return float(-(p[p > 0] * np.log2(p[p > 0])).sum())
stand_in(globals(), entropy=_entropy)
'''
    passing = prelude + "check_close(report([0.5, 0.5])['h'], 1.0, 'report')"
    failing = prelude + "check(False, 'the test fails after standing in')"
    after = "check_close(report([0.5, 0.5])['h'], 42.0, 'the student own entropy is back')"
    cells = judge_cells(student, passing, after, failing, after)
    assert [errors(c) for c in cells] == [[], [], ["AssertionError: the test fails after standing in"], []]


def test_stand_in_in_a_notebook_lasts_for_the_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "from course_utils.checks import stand_in\ndef f():\n    return 1\ndef g():\n    return f()",
        "stand_in(globals(), f=lambda: 2)\nprint(g())",
        "print(g())")])
    NotebookClient(nb, timeout=30, kernel_name="python3").execute()
    assert [c.outputs[0].text for c in nb.cells[1:]] == ["2\n", "1\n"]


def test_a_class_that_stands_in_builds_its_objects_in_the_kernel():
    """What a test builds with a stood-in class lives in the kernel, so the student's code can
    change it there and the test sees the change; a name the student never defined works too."""
    student = """
class Box:
    def __init__(self, v):
        self.v = 0  # wrong: the earlier exercise

def fill(box):
    box.v += 1  # the later exercise, right

def make(v):
    return Box(v)
"""
    test = """
from course_utils.checks import stand_in
class _Box:
    def __init__(self, v):
        self.v = v
def _helper():
    return 7
stand_in(globals(), Box=_Box, helper=_helper)
_b = Box(3)
fill(_b)
check_equal(_b.v, 4, "the box the test built, filled by the student's code")
check_equal(make(5).v, 5, "make() builds the reference box")
check_equal(helper(), 7, "a name the student never defined")
"""
    after = """
check_equal(make(5).v, 0, "the student's own Box is back")
try:
    helper
    check(False, "helper was left behind")
except NameError:
    pass
"""
    cells = judge_cells(student, test, after)
    assert [errors(c) for c in cells] == [[], []]


def printed(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_the_kernel_cannot_name_one_of_the_graders_callables():
    """Issue 28, point 1: a kernel answering a lookup with a library path the grader would resolve
    (here, through a course module's own ``import os``) gets no call in the grader."""
    forger = """
import os
import course_utils.grading.judge.kernel as k
_encode = k.encode
def _forged(obj, *args, **kwargs):
    if obj is whose_pid:
        return ("lib", "course_utils.selfcheck.os.getpid")
    return _encode(obj, *args, **kwargs)
k.encode = _forged
def whose_pid():
    return os.getpid()
KERNEL_PID = os.getpid()
"""
    (cell,) = judge_cells(forger, "check_equal(whose_pid(), KERNEL_PID, 'the process the call ran in')")
    assert errors(cell) and "library object" in errors(cell)[0], errors(cell)


def test_library_objects_are_handles_unless_reviewed_pure():
    student = """
import math
activation = torch.tanh
writer = np.save
module = math
"""
    test = """
from course_utils.grading.judge.session import Handle
check(activation is torch.tanh, "a reviewed pure function comes back as the judge's own")
check(type(writer) is Handle and type(module) is Handle,
      "anything else the kernel holds stays there")
check_close(module.sqrt(16.0), 4.0, "a module of the kernel's still answers")
"""
    (cell,) = judge_cells(student, test)
    assert errors(cell) == []


TEST_HELPERS = """
def use(f, *args):
    KEPT.append(f)
    return f(*args)

def children_of(node):
    KEPT.append(node)
    return [len(c.children) for c in node.children]

def grad_of(f, x):
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(t).backward()
    return t.grad

KEPT = []
"""


def test_a_tests_own_functions_run_in_the_judge_and_never_reach_the_kernel():
    """Issue 28, point 5: what a hidden test defines stays in the grader; the kernel gets stand-ins
    that call back, so printing what it kept shows no code, docstring or constant of the test."""
    test = '''
### BEGIN HIDDEN TESTS
def _secret(x):
    """SECRET-HELPER-DOC"""
    return x * 41.5
class _Node:
    """SECRET-CLASS-DOC"""
    def __init__(self, *children):
        self.children = children
_leaf = _Node()
check_close(use(_secret, 2.0), 83.0, "a test's function, called by the student's code")
check_equal(children_of(_Node(_Node(_leaf, _leaf), _leaf)), [2, 0], "a test's objects, read by the student's code")
check_close(grad_of(lambda t: (t ** 2).sum() * 3.0, [1.0, -2.0]), [6.0, -12.0],
            "the student's autograd through a test's function")
check(use(lambda: _leaf) is _leaf, "the test's own object comes back as itself")
### END HIDDEN TESTS
'''
    strict = """
def _strict(x):
    check(x > 0, "STRICT: the argument must be positive")
use(_strict, -1.0)
"""
    show = """
for f in KEPT:
    print("KEPT", type(f).__name__, getattr(f, "__doc__", None), getattr(f, "__code__", None), repr(f))
    print("DIR", [getattr(type(f), name, None) for name in dir(type(f))])
try:
    KEPT[0](1.0)
except RuntimeError as exc:
    print("LATER", exc)
"""
    judged, failed, shown = judge_cells(TEST_HELPERS, test, strict, show, plain=(2,))
    assert errors(judged) == []
    assert errors(failed) == ["AssertionError: STRICT: the argument must be positive"]
    text = printed(shown)
    assert "KEPT" in text and "only be used while its test runs" in text, text
    for secret in ("SECRET", "41.5", "x * 41", "children"):
        assert secret not in text, (secret, text)


def test_a_function_the_student_can_see_runs_in_the_kernel_a_hidden_one_in_the_judge():
    """A function written in a test's visible part is no secret: it crosses as code, so an optimiser
    calling a test's gradient a thousand times does not make a thousand round trips. A hidden one
    stays a call-back (issue 28, point 5)."""
    student = "import os\nKERNEL_PID = os.getpid()\ndef call_many(f, n):\n    return [f() for _ in range(n)][-1]\n"
    test = """
import os
def _where():
    import os
    return os.getpid()
check_equal(call_many(_where, 2000), KERNEL_PID, "a visible function runs in the kernel")
### BEGIN HIDDEN TESTS
def _hidden_where():
    import os
    return os.getpid()
check_equal(call_many(_hidden_where, 1), os.getpid(), "a hidden function runs in the judge")
### END HIDDEN TESTS
"""
    (cell,) = judge_cells(student, test)
    assert errors(cell) == [], errors(cell)


def test_in_kernel_runs_a_tests_loop_where_the_objects_are_and_takes_it_back():
    """checks.in_kernel: a test that reads many of the notebook's objects does it in the kernel, in
    one request (a judge-side loop here would cost one request per object); the result is checked in
    the grader; the student's errors fail the test; the lent code is dead once the cell ends; in a
    notebook (a plain cell) it just calls the function."""
    student = """
import os
KERNEL_PID = os.getpid()
class P:
    def __init__(self, v):
        self.data = v
ps = [P(float(i)) for i in range(500)]
kept = []
def keep(f):
    kept.append(f)
    return f()
def fail():
    raise ValueError("not like this")
"""
    test = """
from course_utils.checks import in_kernel
_data = in_kernel(globals(), lambda items: [(p.data, __import__("os").getpid()) for p in items], ps)
check_close([d for d, _ in _data], list(range(500)), "the data of 500 objects")
check(all(pid == KERNEL_PID for _, pid in _data), "read in the kernel")
### BEGIN HIDDEN TESTS
def _secret():
    return 0.7318236
check_close(in_kernel(globals(), keep, _secret), 0.7318236, "a lent hidden function")
### END HIDDEN TESTS
"""
    failing = "from course_utils.checks import in_kernel\nin_kernel(globals(), fail)"
    later = "try:\n    kept[0]()\n    print('still alive')\nexcept LookupError:\n    print('taken back')"
    plain = "from course_utils.checks import in_kernel\nprint(in_kernel(globals(), lambda x: x + 1, 2))"
    cells = judge_cells(student, test, failing, later, plain, plain=(2, 3))
    assert errors(cells[0]) == [], errors(cells[0])
    assert errors(cells[1]) == ["ValueError: not like this"]
    assert cells[2].outputs[0].text == "taken back\n"
    assert cells[3].outputs[0].text == "3\n"


def test_a_kernel_that_sends_too_much_fails_its_cell_not_the_grader():
    """The judge reads at most ``max_bytes`` from the kernel per test cell, counted after inflating
    (RPyC compresses: 8 MiB of zeros cross as a few KiB)."""
    student = "def big():\n    return np.zeros(2**20)\n"
    over, after = judge_cells(student, 'check_equal(len(big()), 2**20, "len(big())")',
                              'check_close(1.0, 1.0, "the next cell is judged as usual")', max_bytes=2**20)
    assert errors(over) == ["MemoryError: the notebook's code sent the tests more than 1 MiB in this test "
                            "cell (the grader's limit; return smaller results)"]
    assert errors(after) == []


def test_the_judges_own_work_ends_with_the_cells_time_limit():
    """Work the student's answer makes the judge do (a loop as long as the answer says) is bounded by
    the cell's time limit, and fails that cell only (before: the worker waited for it for ever)."""
    import threading
    import time

    cells: list = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: cells.extend(judge_cells(
        "def how_many():\n    return 10**12\n",
        "for _ in range(int(how_many())):\n    pass",
        'check_close(1.0, 1.0, "the next cell")')), daemon=True)
    worker.start()
    worker.join(120)
    assert not worker.is_alive(), "the judge's work outlived its cell's time limit"
    busy, after = cells
    assert errors(busy) and "time limit" in errors(busy)[0] and "kept them busy" in errors(busy)[0], errors(busy)
    assert errors(after) == []
    assert time.monotonic() - started < 100  # a kernel's start, 8 s of cell, the grace periods


DOUBLE_TEST = """\
check_equal(double(1), 2, "double(1)")
### BEGIN HIDDEN TESTS
# checks: a negative argument
check_equal(double(-3), -6, "double(-3)")
### END HIDDEN TESTS
"""


@pytest.mark.parametrize("judged", [True, False], ids=["judged", "in-kernel"])
def test_the_feedback_places_the_failing_line_by_the_graders_data_never_the_submissions(judged):
    """The judge hands the failing line (4, hidden) over in the cell's metadata, on every run, and the
    autograde pipeline keeps it; the line a submission wrote there (1, visible: the page would show
    the hidden check's message) survives neither a judged run nor one in the kernel."""
    import copy

    from nbconvert.preprocessors import ClearMetadataPreprocessor

    from course_utils.grading.course import load_config
    from course_utils.grading.execute import RELEASE, TrackedExecute
    from course_utils.grading.feedback import RedactHiddenTests
    from course_utils.grading.judge.cell import JUDGED

    def grading(gid, **kw):
        return {"nbgrader": {"grade_id": gid, "schema_version": 3, "locked": False, **kw}}

    release = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell("def double(x):\n    raise NotImplementedError",
                                  metadata=grading("double", solution=True, grade=False)),
        nbformat.v4.new_code_cell(DOUBLE_TEST, metadata=grading("double_test", solution=False, grade=True,
                                                                points=1))])
    submitted = copy.deepcopy(release)
    submitted.cells[1].source = "def double(x):\n    return abs(x) * 2"
    submitted.cells[2].metadata[JUDGED] = {"failing_line": 1}
    graded, _ = TrackedExecute(judge=judged, check_integrity=False, timeout=30).preprocess(
        submitted, {RELEASE: release})
    graded, _ = ClearMetadataPreprocessor(config=load_config())(graded, {})  # as the pipeline runs it
    test = graded.cells[2]
    assert [o.evalue for o in test.outputs if o.output_type == "error"] == ["double(-3): expected -6, got 6."]
    if judged:
        assert test.metadata[JUDGED] == {"failing_line": 4}
        assert not any("Cell In" in line for o in test.outputs for line in o.get("traceback", []))
    else:
        assert JUDGED not in test.metadata
    page, _ = RedactHiddenTests().preprocess(graded, {})
    assert [o.evalue for o in page.cells[2].outputs] == ["A hidden test of double failed. It checks: a negative argument."]
