"""course_utils.grading.integrity: replacing what the tests rely on is noticed, honest code is not.

The honest side is checked at scale by the fidelity run (tests/test_fidelity.py):
every solution and every listed answer of every notebook goes through both
checks there and must raise nothing.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader import utils

from course_utils import nbtools
from course_utils.grading import integrity
from course_utils.grading.course import COURSE_ROOT

RELEASE = nbtools.read(COURSE_ROOT / "notebooks" / "01_probability" / "probability.ipynb")


def test_plan_reads_what_the_course_imports_from_the_release():
    plan = integrity.Plan.from_release(RELEASE)
    assert plan.imports["check_close"] == "course_utils.checks.check_close"
    assert plan.imports["np"] == "numpy" and plan.imports["stats"] == "scipy.stats"
    assert {"builtins", "math", "numpy", "numpy.testing", "scipy.stats", "course_utils.checks"} <= set(plan.modules)
    assert "torch" not in plan.modules  # 01 does not use torch: no need to import it to watch it
    assert "len" in plan.test_builtins


def _scan(code: str) -> list[str]:
    nb = nbformat.from_dict(RELEASE)
    nb.cells.insert(2, nbformat.v4.new_code_cell(code))
    return [what for _, _, what in integrity.scan(nb, integrity.Plan.from_release(RELEASE))]


@pytest.mark.parametrize(("code", "finding"), [
    ("np.testing.assert_allclose = lambda *a, **k: None", "replaces numpy.testing.assert_allclose"),
    ("import numpy.testing as npt\nnpt.assert_allclose = print", "replaces numpy.testing.assert_allclose"),
    ("import course_utils.checks as c\nc.check_close = print", "replaces course_utils.checks.check_close"),
    ("def check_close(*args, **kwargs):\n    pass", "binds `check_close` again"),
    ("from numpy import allclose as check_close", "binds `check_close` again"),
    ("import builtins\nbuiltins.len = lambda x: 26", "imports builtins"),
    ("len = lambda x: 26", "binds `len` (the tests use the builtin len())"),
    ("setattr(np, 'allclose', lambda *a, **k: True)", "setattr() on numpy"),
    ("__builtins__.abs = lambda x: 0", "uses __builtins__"),
    ("import sys\nsys.modules['numpy'] = None", "changes sys.modules"),
    ("def f():\n    import sys\n    return sys._getframe(1).f_globals", "reaches into the caller's frame"),
    ("import gc\ngc.get_referrers(np.allclose)", "searches the interpreter's objects"),
    ("exec('np.allclose = print')", "runs code from a string (exec)"),
    ("globals()['check_close'] = print", "assigns through globals()"),
    ("def first_letter_distribution(names):\n    global check_close\n    check_close = print", "binds `check_close` again"),
])
def test_scan_finds_each_way_of_replacing_what_the_tests_use(code, finding):
    assert any(finding in what for what in _scan(code)), _scan(code)


@pytest.mark.parametrize("code", [
    "import numpy as np\nfrom course_utils.checks import check_close",  # the course's own imports again
    "counts = np.zeros(26)\ncounts[0] += 1\nrng = np.random.default_rng(0)",
    "def first_letter_distribution(names):\n    total = len(names)\n    return np.bincount([0], minlength=26) / total",
    "%timeit np.zeros(3)",
    "this is not python (",
])
def test_scan_leaves_ordinary_code_alone(code):
    assert _scan(code) == []


def _cell(source: str, test: bool = False) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    if test:
        cell.metadata.nbgrader = {"grade": True, "solution": False, "grade_id": "t", "points": 1,
                                  "locked": True}
    return cell


@pytest.mark.notebook
def test_monitor_names_what_a_kernel_replaced_and_nothing_else():
    release = nbformat.v4.new_notebook(cells=[
        _cell("import numpy as np\nfrom scipy import stats\n"
              "from course_utils.checks import check, check_close"),
        _cell("check_close(len(np.ones(3)), 3)\ncheck(abs(-1) == 1, 'abs')", test=True),
    ])
    plan = integrity.Plan.from_release(release)
    test = release.cells[1]
    nb = nbformat.v4.new_notebook(cells=[release.cells[0]])
    client = NotebookClient(nb, timeout=60, kernel_name="python3")
    found = []

    def step(code):
        client.execute_cell(_cell(code), 0)
        client.execute_cell(test, 0)
        found.append(monitor.check(test))

    with client.setup_kernel():
        monitor = integrity.Monitor(client, plan)
        assert monitor.start() == []
        client.execute_cell(nb.cells[0], 0)
        step("import torch\nfrom scipy import special\nx = stats.norm(0, 1).pdf(0.0)")  # lazy loading is fine
        step("np.testing.assert_allclose = lambda *a, **k: None")
        step("import numpy.testing\nnumpy.testing.assert_allclose = numpy.testing._private.utils.assert_allclose"
             "\ndef check_close(*a, **k):\n    pass")
        step("import course_utils.checks\ncheck_close = course_utils.checks.check_close\n"
             "import builtins\nbuiltins.abs = lambda x: 1")
        step("def len(x):\n    return 3")
    assert found[0] == []
    assert found[1] == ["numpy.testing.assert_allclose was replaced"]
    assert found[2] == ["`check_close` in the notebook is no longer course_utils.checks.check_close"]
    assert found[3] == ["builtins.abs was replaced"]
    assert found[4] == ["`len` in the notebook hides the builtin len()", "builtins.abs was replaced"]


def test_a_flagged_test_cell_scores_zero_in_nbgrader():
    cell = _cell("check_close(1, 1)\n1.0", test=True)
    cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1.0"}, execution_count=1)]
    assert utils.determine_grade(cell) == (1, 1)
    cell.outputs.insert(0, integrity.error_output(["numpy.allclose was replaced"]))
    assert utils.determine_grade(cell) == (0, 1)
    assert cell.outputs[0].evalue == "numpy.allclose was replaced" + integrity.SCORED_ZERO


# --------------------------------------------------------------------------- issue 28: the trust boundary

@pytest.mark.parametrize(("code", "finding"), [
    ("from course_utils.grading.references import ReferenceTensor", "imports the grader's own code"),
    ("import course_utils.grading.judge.kernel as k", "imports the grader's own code"),
    ("from course_utils import grading", "imports the grader's own code"),
    ("def keep(f):\n    return f.__code__", "reads a function's code (__code__)"),
    ("def keep(f):\n    return f.__globals__['topological_order']", "reads a function's globals"),
])
def test_scan_finds_the_grader_imported_and_lent_code_dug_out(code, finding):
    assert any(finding in what for what in _scan(code)), _scan(code)


def test_scan_reads_a_cell_whose_nbgrader_metadata_is_not_a_mapping():
    nb = nbformat.from_dict(RELEASE)
    nb.cells.insert(2, nbformat.v4.new_code_cell("import ctypes"))
    nb.cells[2].metadata["nbgrader"] = "not a mapping"
    found = integrity.scan(nb, integrity.Plan.from_release(RELEASE))
    assert [(index, what) for index, _, what in found] == [(2, "imports ctypes")]


def _graded_ids(nb) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if isinstance(c.metadata.get("nbgrader"), dict) and "grade_id" in c.metadata.nbgrader]


def test_repair_puts_graded_cells_back_in_release_order():
    from course_utils.grading.repair import repair

    release_ids = _graded_ids(RELEASE)
    nb = nbformat.from_dict(RELEASE)
    tests = [i for i, c in enumerate(nb.cells) if utils.is_grade(c) and not utils.is_solution(c)]
    first = nb.cells.pop(tests[0])  # an exercise's test moved to the very end, after every later test
    nb.cells.append(first)
    nb.cells.insert(1, nbformat.v4.new_code_cell("x = 'my own cell'"))
    assert _graded_ids(nb) != release_ids
    fixed = repair(nb, RELEASE, "probability.ipynb")
    assert _graded_ids(fixed.nb) == release_ids
    assert fixed.nb.cells[1].source == "x = 'my own cell'"  # the student's own cells stay where they were
    assert any("out of order" in note and first.metadata.nbgrader["grade_id"] in note for note in fixed.notes)
    assert not any("out of order" in note for note in repair(RELEASE, RELEASE, "probability.ipynb").notes)


def test_a_cell_whose_nbgrader_metadata_is_not_a_mapping_fails_with_its_reason():
    from course_utils.grading.repair import Unrepairable, repair

    nb = nbformat.from_dict(RELEASE)
    nb.cells[3].metadata["nbgrader"] = ["grade", True]
    with pytest.raises(Unrepairable, match="metadata damaged beyond repair: probability.ipynb cell 4 .* a list"):
        repair(nb, RELEASE, "probability.ipynb")


def _error(ename: str, *traceback: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue="no such file", traceback=list(traceback))


def test_only_the_environment_raising_outside_student_code_is_the_graders_fault():
    from course_utils.grading.faults import environment_fault

    release = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from course_utils.data import load_names\nnames = load_names()"),
        nbformat.v4.new_code_cell("def answer():\n    raise NotImplementedError"),
        nbformat.v4.new_code_cell("print(answer())"),
        _cell("check_close(answer(), 1)", test=True),
    ])
    release.cells[1].metadata.nbgrader = {"solution": True, "grade": False, "grade_id": "answer", "locked": False}

    def graded(at: int, *traceback: str, answered: bool = True):
        nb = nbformat.from_dict(release)
        if answered:
            nb.cells[1].source = "def answer():\n    return open('mine.json').read()"
        for count, cell in enumerate(nb.cells, 1):
            cell.execution_count = count
        nb.cells[at].outputs = [_error("FileNotFoundError", *traceback)]
        return environment_fault(nb, release)

    assert "cell 1 failed with FileNotFoundError" in graded(0)  # before any student code: the grader's
    assert "cell 4 failed" in graded(3, "Test cell, line 1")  # the judge's own side of a test
    assert graded(2) is None  # an unchanged cell, after the student's code ran: the student's
    assert graded(3, "Cell In[4], line 1", "Cell In[2], line 2, in answer()") is None  # through their cell
    assert "cell 3 failed" in graded(2, answered=False)  # no student code ran before it
