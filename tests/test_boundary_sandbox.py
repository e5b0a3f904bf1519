"""The judge's trust boundary, kernel side (issue 28, points 2, 3, 4 and 7), tried by a hostile class.

One class of 04_autograd (the assignment that lends the most reference code), graded once
with ``python -m course_utils.grading.grade`` (what ``make grade`` runs):

- ``reads_tests`` opens every file in its working folder (nbgrader's autograde used to
  run the kernel beside the sanitised notebook, hidden tests restored) and in the folder
  the sandbox copies it from, and tries to write to the course package and beside its folder;
- ``imports_reference`` answers ``tensor_mul`` with the instructor's reference engine,
  imported from ``course_utils.grading.references``, and looks for the grader's package,
  the solutions, the tests, the gradebook and the other students' folders;
- ``keeps_reference`` keeps the engine ``tensor_add``'s test lends (every operation but
  the student's own addition) and answers ``tensor_mul`` with it, tests in release order;
- ``reorders_tests`` moves ``tensor_mul``'s test cell below ``compare_with_torch``'s,
  whose test lends the whole reference engine, and answers ``tensor_mul`` with it;
- ``own_missing_file`` raises FileNotFoundError from its own code inside an unchanged
  lecture cell (which counted as the grader's fault: no score, regraded every run);
- ``bad_metadata`` has a cell whose ``metadata.nbgrader`` is a string (which crashed
  the grader: "internal grading error", regraded every run).

Each must end with its expected status and score, the honest student keeps the exact
score, nothing in the course folder changes but what grading writes, and the run leaves
nothing in its temporary folder. On a machine far too busy, 04 may take minutes per
notebook: the time limit here is generous.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils

from course_utils.grading import errors
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT

from .sandboxed import grade_class, sandboxed_class

A = "04_autograd"
CELL_TIMEOUT = 60
TIME_LIMIT = 2400

pytestmark = sandboxed_class("boundary")

READS_TESTS = """
import os, course_utils
print("FILES", sorted(os.listdir(".")))
for _target in (os.path.join(os.path.dirname(course_utils.__file__), "grading", "pwned.py"),
                os.path.join(os.path.dirname(course_utils.__file__), "pwned.py"), "/.submission/pwned.txt",
                os.path.join(os.path.dirname(os.getcwd()), "pwned.txt")):
    try:
        with open(_target, "w") as _f:
            _f.write("pwned")
        print("WROTE", _target)
    except OSError as _exc:
        print("WRITE-BLOCKED", type(_exc).__name__)
for _root in (".", "/.submission"):
    for _dir, _dirs, _files in os.walk(_root):
        for _name in _files:
            try:
                with open(os.path.join(_dir, _name), errors="replace") as _f:
                    _text = _f.read()
            except OSError as _exc:
                print("UNREADABLE", _name, type(_exc).__name__)
                continue
            if "BEGIN HIDDEN TESTS" in _text or "check_close(" in _text:
                print("HIDDEN-LEAK", os.path.join(_dir, _name))
"""

PROBES = """
import os, course_utils
def _probe(what, path):
    try:
        found = sorted(os.listdir(path)) if os.path.isdir(path) else open(path, "rb").read(64)
    except OSError as exc:
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("VISIBLE", what, repr(found)[:200])
_probe("grading package", os.path.join(os.path.dirname(course_utils.__file__), "grading"))
_probe("references", os.path.join(os.path.dirname(course_utils.__file__), "grading", "references.py"))
_probe("authoring", os.path.join(os.path.dirname(course_utils.__file__), "grading", "authoring"))
for _what, _path in PATHS.items():
    _probe(_what, _path)
try:
    from course_utils.grading.references import ReferenceTensor as _Reference
    print("REFERENCE-LEAK")
except ImportError as exc:
    _Reference = None
    print("NO REFERENCE", type(exc).__name__)
"""
PROBED = ("solutions", "tests", "gradebook", "other's autograded", "other's submission",
          "course's own solutions", "course's own tests")

BORROWED_MUL = """
def tensor_mul(self, other):
    return {source}.__mul__(self, other)

Tensor.__mul__ = tensor_mul
Tensor.__rmul__ = tensor_mul
"""

KEEPS_ADD = """

_LENT = []
_own_add = tensor_add

def tensor_add(self, other):
    _LENT.append(type(self))  # the engine the test lends, all of it the course's but __add__
    return _own_add(self, other)

Tensor.__add__ = tensor_add
Tensor.__radd__ = tensor_add
"""

KEEPS_COMPARE = """

_LENT = []
_own_compare = compare_with_torch

def compare_with_torch(build, values):
    _LENT.append(Tensor)  # the reference engine its test lends
    return _own_compare(build, values)
"""

OWN_MISSING_FILE = """
    if getattr(root, "label", "") == "o":  # only the lecture's neuron is labelled o
        raise FileNotFoundError(2, "No such file or directory", "my_cache.json")
"""


def _points(release) -> dict[str, float]:
    return {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
            for c in release.cells if utils.is_grade(c) and c.cell_type == "code"}


def _source(nb, grade_id: str) -> str:
    return nb.cells[syn.cell_index(nb, grade_id)].source


def _replaced(nb, grade_id: str, source: str):
    nb = nbformat.from_dict(nb)
    nb.cells[syn.cell_index(nb, grade_id)].source = source
    return nb


def build_class(course: Path) -> dict[str, tuple]:
    """The class; returns student -> (status (None: graded or flagged), points lost against the honest
    student (None: no score), words the detail must contain[, the honest student's score])."""
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)
    points = _points(release)
    auto = sum(points.values())
    mul = points["tensor_mul_test"]

    def submit(student, nb):
        syn.submit(course, student, A, nb, f"{name}.ipynb")

    def with_cell(nb, after: str, code: str):
        nb = nbformat.from_dict(nb)
        nb.cells.insert(syn.cell_index(nb, after) + 1, nbformat.v4.new_code_cell(code))
        return nb

    submit("honest_correct", solved)
    submit("reads_tests", with_cell(solved, "forward_difference", READS_TESTS))

    paths = {"solutions": course / "solutions" / A, "tests": COURSE_ROOT / "tests",
             "gradebook": course / "gradebook.db",
             "other's autograded": course / "autograded" / "honest_correct" / A,
             "other's submission": course / "submitted" / "honest_correct" / A,
             "course's own solutions": COURSE_ROOT / "solutions",
             "course's own tests": COURSE_ROOT / "tests" / "test_hostile.py"}
    probes = f"PATHS = {json.dumps({k: str(v) for k, v in paths.items()})}\n" + PROBES
    nb = with_cell(solved, "forward_difference", probes)
    submit("imports_reference", _replaced(nb, "tensor_mul", BORROWED_MUL.format(source="_Reference")))

    nb = _replaced(solved, "tensor_add", _source(solved, "tensor_add") + KEEPS_ADD)
    submit("keeps_reference", _replaced(nb, "tensor_mul", BORROWED_MUL.format(source="_LENT[-1]")))

    nb = _replaced(solved, "compare_with_torch", _source(solved, "compare_with_torch") + KEEPS_COMPARE)
    nb = _replaced(nb, "tensor_mul", BORROWED_MUL.format(source="_LENT[-1]"))
    test = nb.cells.pop(syn.cell_index(nb, "tensor_mul_test"))
    nb.cells.insert(syn.cell_index(nb, "compare_with_torch_test") + 1, test)
    submit("reorders_tests", nb)

    order = _source(solved, "topological_order")
    head, marker, tail = order.partition("\n    # *****START OF YOUR CODE")
    submit("own_missing_file", _replaced(solved, "topological_order",
                                         head + OWN_MISSING_FILE.rstrip("\n") + marker + tail))

    nb = nbformat.from_dict(solved)
    nb.cells[syn.cell_index(nb, "forward_difference") + 1].metadata["nbgrader"] = "not a mapping"
    submit("bad_metadata", nb)

    # Points below the honest student's (None: no score); the honest student scores every automatic point.
    return {
        "honest_correct": ("graded", 0, "", auto),
        "reads_tests": ("graded", 0, ""),
        "imports_reference": ("flagged", mul, "course_utils.grading"),
        "keeps_reference": (None, mul, ""),
        "reorders_tests": (None, mul, "out of order"),
        "own_missing_file": ("graded", 0, ""),
        "bad_metadata": ("failed", None, "metadata damaged beyond repair"),
    }


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory):
    course = syn.make_course(tmp_path_factory.mktemp("boundary"), [A])
    scratch = Path(tempfile.mkdtemp(prefix="boundary-", dir="/tmp"))
    expected = build_class(course)
    graded = grade_class(course, cell_timeout=CELL_TIMEOUT, time_limit=TIME_LIMIT, timeout=3600,
                         env={**os.environ, "TMPDIR": str(scratch)})
    yield {**graded, "expected": expected, "scratch": scratch,
           "leftovers": sorted(p.name for p in scratch.iterdir())}
    shutil.rmtree(scratch, ignore_errors=True)


def _outputs(graded, student: str) -> str:
    path = graded["course"] / "autograded" / student / A / "autograd.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                     for c in nb.cells for o in c.get("outputs", []))


@pytest.mark.parametrize("student", ["honest_correct", "reads_tests", "imports_reference", "keeps_reference",
                                     "reorders_tests", "own_missing_file", "bad_metadata"])
def test_each_submission_ends_with_its_own_status_and_score(graded, student):
    status, lost, words = graded["expected"][student][:3]
    honest = float(graded["rows"]["honest_correct"]["score"])
    score = None if lost is None else honest - lost
    row = graded["rows"][student]
    assert row["status"] == status if status else row["status"] in ("graded", "flagged"), row
    assert row["score"] == ("" if score is None else f"{score:g}"), row
    assert words in row["detail"], row
    assert not row["detail"].startswith((errors.EnvironmentFault.prefix, errors.InternalError.prefix)), row


def test_the_honest_student_keeps_every_automatic_point(graded):
    assert graded["rows"]["honest_correct"]["score"] == f"{graded['expected']['honest_correct'][3]:g}"


def test_no_hidden_test_is_in_the_kernels_folder(graded):
    text = _outputs(graded, "reads_tests")
    assert "FILES" in text, text[:2000]  # the attack ran
    assert "HIDDEN-LEAK" not in text, text[:3000]
    files = text.split("FILES", 1)[1].splitlines()[0]
    assert ".ipynb" not in files, files


def test_no_grader_code_solution_test_or_other_student_is_visible(graded):
    text = _outputs(graded, "imports_reference")
    assert "NO REFERENCE" in text and "REFERENCE-LEAK" not in text, text[:3000]
    for what in PROBED:
        assert f"BLOCKED {what} " in text, (what, text[:3000])
    assert "VISIBLE references" not in text and "VISIBLE authoring" not in text, text[:3000]
    assert "references.py" not in text.split("VISIBLE grading package", 1)[-1].split("\n", 1)[0]


def test_a_reordered_submission_says_so(graded):
    assert "out of order" in graded["rows"]["reorders_tests"]["detail"]
    assert "out of order" not in graded["rows"]["keeps_reference"]["detail"]


def test_nothing_outside_the_sandbox_was_written(graded):
    assert graded["after"] == graded["before"]
    assert graded["leftovers"] == []
    text = _outputs(graded, "reads_tests")  # the package (shared with other engineers' edits) by attempt
    assert text.count("WRITE-BLOCKED") == 4 and "WROTE" not in text, text[:3000]
    assert not (COURSE_ROOT / "course_utils" / "pwned.py").exists()
