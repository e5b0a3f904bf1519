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
