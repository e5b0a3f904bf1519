"""The judge's side of the trust boundary (issue 28, points 1 and 5, and the judge's own limits).

One class of 01_probability graded with ``python -m course_utils.grading.grade`` (what
``make grade`` runs): an honest student, and submissions that try to make the grader
itself run something the student chose, outside the sandbox, as the grader's user:

- ``lib_writer`` binds an exercise's name to a library function that writes a file
  (``matplotlib.pyplot.savefig``) and ``names`` to a path outside the sandbox;
- ``forged_lib`` makes its kernel answer the judge's lookup with a forged library path
  that resolves, in the grader, to ``os.system``, with a shell command as ``names``;
- ``lib_pause`` binds the exercise to ``matplotlib.pyplot.pause`` with an hour as its
  argument: in the grader it would hold the worker far past the cell's time limit;
- ``helper_reader`` keeps what a hidden test lent its function (distributions of classes the
  test defines, sent to the kernel with ``checks.in_kernel``) and, in a later cell, prints
  their classes' docstrings and code and calls them.

None of them may write its marker file, the course folder must hash the same before and
after but for what grading writes, what a hidden test lent must be dead and blank once its
cell has ended, and every submission keeps the score its honest answers earn.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course_utils.grading.authoring import synthetic as syn

from .sandboxed import grade_class, sandboxed_class

A = "01_probability"
CELL_TIMEOUT = 20
TIME_LIMIT = 400  # per submission; a kernel asleep (lib_pause) is stopped by the wall-clock backstop
AUTO = sum(syn.points(A)[0].values())  # automatic points of 01_probability
FIRST = syn.points(A)[0]["first_letter_distribution_test"]  # the exercise the attacks hijack
HELPER_TEXT = "A distribution whose mass is multiplied by a factor"
"""The docstring of a class only a hidden test of 01_probability defines."""

pytestmark = sandboxed_class("boundary_judge")

EXPECTED = {
    "honest_correct": AUTO,
    "lib_writer": AUTO - FIRST,
    "forged_lib": AUTO - FIRST,
    "lib_pause": AUTO - FIRST,
    "helper_reader": AUTO,
}


def attacks(markers: Path) -> dict[str, tuple[str, str]]:
    """student -> (code run before the first test cell, code run right after it)."""
    restore = "names = _real_names\n"
    return {
        "lib_writer": (f"""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
_real_names = names
first_letter_distribution = plt.savefig
names = {str(markers / 'lib_writer.png')!r}
""", restore),
        "forged_lib": (f"""
import course_utils.grading.judge.kernel as _kernel
_encode = _kernel.encode
def _forged(obj, *args, **kwargs):
    if obj is first_letter_distribution:
        return ("lib", "course_utils.selfcheck.os.system")
    return _encode(obj, *args, **kwargs)
_kernel.encode = _forged
_real_names = names
names = {f"touch {markers / 'forged_lib'}"!r}
""", restore),
        "lib_pause": ("""
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
_real_names = names
first_letter_distribution = plt.pause
names = 3600
""", restore),
        "helper_reader": ("""
_kept = []
_real_total_probability = total_probability
def total_probability(dist):
    _kept.append(dist)
    return _real_total_probability(dist)
""", ""),
    }


READER = """
for _d in _kept:
    _klasses = type(_d).__mro__
    try:  # a frozen scipy distribution holds the test's own one as .dist
        _klasses = (*type(_d).__mro__, *type(_d.dist).__mro__)
        _called = _d.pdf(0.5) if hasattr(_d.dist, "_pdf") else _d.pmf(1)
    except Exception as _e:
        _called = type(_e).__name__
    print("CALL", _called)
    for _klass in _klasses:
        if _klass.__module__.startswith(("scipy.", "builtins")):
            continue
        print("KEPT", _klass.__name__, _klass.__doc__)
        for _f in vars(_klass).values():
            _code = getattr(_f, "__code__", None)
            if _code is not None:
                print("CODE", _code.co_names, _code.co_consts)
"""


def build_class(course: Path, markers: Path) -> None:
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)
    nb_name = f"{name}.ipynb"
    syn.submit(course, "honest_correct", A, solved, nb_name)
    for student, (before, after) in attacks(markers).items():
        nb = nbformat.from_dict(solved)
        hijacked = "total_probability_test" if student == "helper_reader" else "first_letter_distribution_test"
        test = syn.cell_index(nb, hijacked)
        if after:
            nb.cells.insert(test + 1, nbformat.v4.new_code_cell(after))
        nb.cells.insert(test, nbformat.v4.new_code_cell(before))
        if student == "helper_reader":
            nb.cells.append(nbformat.v4.new_code_cell(READER))
        syn.submit(course, student, A, nb, nb_name)


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory):
    course = syn.make_course(tmp_path_factory.mktemp("boundary_judge"), [A])
    markers = tmp_path_factory.mktemp("markers")  # outside the sandbox, writable by the grader
    build_class(course, markers)
    graded = grade_class(course, cell_timeout=CELL_TIMEOUT, time_limit=TIME_LIMIT, timeout=1200)
    return {**graded, "markers": markers}


def test_nothing_the_kernel_sends_runs_in_the_grader(graded):
    assert sorted(p.name for p in graded["markers"].iterdir()) == []
    assert graded["after"] == graded["before"]


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_keeps_what_its_honest_answers_earn(graded, student):
    row = graded["rows"][student]
    assert row["status"] in ("graded", "flagged"), row
    assert row["score"] == f"{EXPECTED[student]:g}", row
    assert "internal grading error" not in row["detail"], row


def test_what_a_hidden_test_lent_is_dead_and_blank_after_its_cell(graded):
    path = graded["course"] / "autograded" / "helper_reader" / A / "probability.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    printed = "\n".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                        for c in nb.cells for o in c.get("outputs", []))
    assert "KEPT taken_back" in printed  # the reader ran, and found the test's own classes
    assert printed.count("CALL LookupError") == 4, printed[-2000:]  # the four lent distributions
    assert HELPER_TEXT not in printed and "_gen" not in printed, printed[-2000:]
