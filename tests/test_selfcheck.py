"""`make check` (course_utils.selfcheck): the first real error on top, assignment labels, full messages, totals."""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils import nbtools, selfcheck
from course_utils.grading.course import COURSE_ROOT


def _error(ename: str, evalue: str, line: int | None = 3) -> nbformat.NotebookNode:
    traceback = [f"\x1b[0;31mCell In[7], line {line}\x1b[0m"] if line else []
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[*traceback, f"{ename}: {evalue}"])


def _code(source: str, *outputs, **nbgrader) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"nbgrader": nbgrader} if nbgrader else {})
    cell.outputs = list(outputs)
    return cell


def test_the_first_error_skips_unfilled_stubs_and_what_follows_from_them():
    executed = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 1. Counting\nprose"),
        _code("def f(x):\n    raise NotImplementedError", _error("NotImplementedError", "fill me"),
              solution=True, grade=False, grade_id="f"),
        _code("p_first = f(names)", _error("NotImplementedError", "fill me")),
        _code("# Tests for f (1 point)\ncheck(False, 'no')", _error("AssertionError", "no"),
              grade=True, solution=False, grade_id="f_test", points=1),
        nbformat.v4.new_markdown_cell("## 2. Sampling"),
        _code("print(p_first)", _error("NameError", "name 'p_first' is not defined")),
        _code("runs = {}\nruns['a'] = f(1)", _error("NotImplementedError", "fill me")),
        _code("plot(runs['a'])", _error("KeyError", "'a'")),  # the lecture after an unfilled exercise
        _code("def g(x):\n    return p_first[x]", _error("NameError", "name 'p_first' is not defined"),
              solution=True, grade=False, grade_id="g"),
        _code("def h(x):\n    x = (", _error("SyntaxError", "'(' was never closed (4261455287.py, line 2)", line=2),
              solution=True, grade=False, grade_id="h"),
        _code("print(undefined)", _error("NameError", "name 'undefined' is not defined"),
              solution=True, grade=False, grade_id="k"),
    ])
    found = selfcheck.first_error(executed)
    assert (found.cell, found.line) == (10, 2)
    assert found.message == "SyntaxError: '(' was never closed"
    assert str(found) == "cell 10 (the answer cell of h), line 2: SyntaxError: '(' was never closed"
    del executed.cells[9]
    assert str(selfcheck.first_error(executed)) == "cell 10 (the answer cell of k), line 3: NameError: name " \
                                                   "'undefined' is not defined"


def test_a_lecture_cell_failing_before_any_unfilled_exercise_is_reported():
    executed = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## 2. Sampling"),
        _code("plot(p)", _error("ValueError", "bad value")),
        _code("def f(x):\n    raise NotImplementedError", _error("NotImplementedError", "fill me"),
              solution=True, grade=False, grade_id="f"),
    ])
    assert str(selfcheck.first_error(executed)) == 'cell 2 (under "2. Sampling"), line 3: ValueError: bad value'


def test_an_error_in_an_answer_cell_names_the_exercise():
    executed = nbformat.v4.new_notebook(cells=[
        _code("names = load_names()", _error("NamesDataError", "No names.txt found at data/names.txt. Fix: run "
                                                               "`make data`\nsecond line", line=None)),
    ])
    assert str(selfcheck.first_error(executed)) == (
        "cell 1 (at the top): NamesDataError: No names.txt found at data/names.txt. Fix: run `make data`")
    executed.cells[0].metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "load"}
    assert selfcheck.first_error(executed).place == "the answer cell of load"
    executed.cells[0].outputs = []
    assert selfcheck.first_error(executed) is None


def test_a_cell_stopped_at_the_time_limit_names_the_limit_and_how_to_give_more_time():
    """Issue 32.6: nbclient's interrupt (KeyboardInterrupt) and nbgrader's CellTimeoutError mean the clock
    stopped the cell; the student hears that, the limit, and a command that gives more time."""
    stopped = [_error("KeyboardInterrupt", "", line=12),
               _error("CellTimeoutError", "", line=None)]
    executed = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## 4. Gradient descent"),
        _code("losses = train(W, xenc, ys, steps=25, lr=50)", *copy.deepcopy(stopped)),
    ])
    found = selfcheck.first_error(executed, 60)
    text = str(found)
    assert found.timeout == 60 and "KeyboardInterrupt" not in text, text
    assert text.startswith('cell 2 (under "4. Gradient descent"): the cell ran past 60 s'), text
    assert "machine's speed" in text and "not your code" in text
    assert f"{selfcheck.TIMEOUT_ENV}=300 make check" in text and "--timeout 300" in text
    # the same in an answer cell, after an unfilled exercise: still the clock, not a consequence
    executed.cells.insert(1, _code("def f():\n    raise NotImplementedError", _error("NotImplementedError", "fill"),
                                   solution=True, grade=False, grade_id="f"))
    executed.cells[2].metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "train"}
    found = selfcheck.first_error(executed, 90)
    assert str(found).startswith("cell 3 (the answer cell of train): the cell ran past 90 s"), str(found)
    # an interrupt without nbgrader's timeout error is reported as it is
    executed.cells[2].outputs = [_error("KeyboardInterrupt", "")]
    assert "KeyboardInterrupt" in str(selfcheck.first_error(executed, 60))


def test_the_time_limit_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv(selfcheck.TIMEOUT_ENV, raising=False)
    assert selfcheck.cell_timeout() is None
    monkeypatch.setenv(selfcheck.TIMEOUT_ENV, "300")
    assert selfcheck.cell_timeout() == 300 and selfcheck.cell_timeout(45) == 45
    monkeypatch.setenv(selfcheck.TIMEOUT_ENV, "five minutes")
    with pytest.raises(SystemExit, match="COURSE_CELL_TIMEOUT=300"):
        selfcheck.cell_timeout()


@pytest.mark.notebook
def test_a_slow_cell_is_stopped_at_the_given_limit_and_reported_as_such(tmp_path):
    path = tmp_path / "slow.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## 1. Training"),
        nbformat.v4.new_code_cell("import time\nfor _ in range(600):\n    time.sleep(0.1)"),
        nbformat.v4.new_code_cell("print('after')"),
    ]), str(path))
    report = selfcheck.run_notebook(path, timeout=3)
    assert report.first_error is not None and report.first_error.timeout == 3, report.first_error
    assert str(report.first_error).startswith('cell 2 (under "1. Training"): the cell ran past 3 s'), \
        str(report.first_error)


def test_notebooks_are_labelled_by_their_assignment_folder():
    paths = [Path("notebooks/01_probability/probability.ipynb"), Path("other/01_probability/probability.ipynb"),
             Path("notebooks/07_two/a.ipynb"), Path("notebooks/07_two/b.ipynb")]
    assert list(selfcheck.labels(paths).values()) == ["01_probability", "01_probability", "07_two/a", "07_two/b"]


def test_the_report_keeps_whole_messages_and_adds_a_course_total():
    long = "AssertionError: the sum of the 26 probabilities: expected 1, got 32033. Hint: divide the counts by " \
           "the number of names"
    reports = [
        selfcheck.NotebookReport("01_probability", [
            selfcheck.Row("01_probability", "first_letter_distribution", selfcheck.FAILED, 0, 2, long),
            selfcheck.Row("01_probability", "total_probability", selfcheck.PASSED, 2, 2),
            selfcheck.Row("01_probability", "why", selfcheck.UNANSWERED, 0, 1),
        ]),
        selfcheck.NotebookReport("02_information_theory", [
            selfcheck.Row("02_information_theory", "entropy", selfcheck.FAILED, 0, 3,
                          "NameError: name 'entropy' is not defined"),
            selfcheck.Row("02_information_theory", "q", selfcheck.WRITTEN, 0, 2),
        ], selfcheck.FirstError(4, "the answer cell of entropy", 2, "SyntaxError: invalid syntax")),
    ]
    text = selfcheck.format_report(reports)
    lines = text.splitlines()
    assert lines[1] == "  02_information_theory: cell 4 (the answer cell of entropy), line 2: SyntaxError: invalid syntax"
    assert long in text
    assert "NameError: name 'entropy' is not defined (see the first error above)" in text
    assert re.search(r"^01_probability +first_letter_distribution +failed +0/2$", text, re.MULTILINE), text
    assert "1 of 2 exercises pass" in text and "0 of 1 exercises pass" in text
    assert "Course total: 1 of 3 exercises pass, 2/7 points from the visible tests; 1 of 2 written answers given." \
        in text


@pytest.mark.notebook
def test_make_check_on_a_notebook_with_a_syntax_error(tmp_path, names_file):
    """The command as a student runs it: the error on top, labels, no kernel noise on stderr."""
    folder = tmp_path / "notebooks" / "01_probability"
    folder.mkdir(parents=True)
    nb = nbtools.read(COURSE_ROOT / "notebooks" / "01_probability" / "probability.ipynb")
    exercise = nbtools.exercises(nb)["first_letter_distribution"]
    cell = nb.cells[exercise.solution_index]
    cell.source = nbtools.fill_answer(cell.source, "counts = (")
    nbformat.write(nb, str(folder / "probability.ipynb"))
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", "course_utils.selfcheck", str(folder / "probability.ipynb")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=COURSE_ROOT)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("First error outside the test cells")
    assert lines[1].startswith(f"  01_probability: cell {exercise.solution_index + 1} (the answer cell of "
                               "first_letter_distribution), line ")
    assert lines[1].endswith("SyntaxError: '(' was never closed"), lines[1]
    assert any(line.startswith("01_probability  first_letter_distribution  failed") for line in lines)
    assert lines[-3].startswith("Course total: 0 of ")
    assert "IPKernelApp" not in run.stderr and "WARNING" not in run.stderr, run.stderr


STUDENT_NOTEBOOKS = sorted((COURSE_ROOT / "notebooks").glob("*/*.ipynb"))


@pytest.mark.notebook
@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=lambda p: p.parent.name)
def test_run_all_on_a_fresh_notebook_reaches_the_end(path, names_file):
    """Issue 18.8: the cells that fail until the exercises are done carry raises-exception, so Run All
    (nbclient honours the tag as JupyterLab does) renders the whole lecture that does not need them."""
    from nbclient import NotebookClient

    nb = nbtools.read(path)
    executed = NotebookClient(nb, timeout=300, kernel_name="python3",
                              resources={"metadata": {"path": str(path.parent)}}).execute()  # raises on an untagged error
    code = [c for c in executed.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "Run All stopped before the last cell"
    failing = [c for c in code if any(o.output_type == "error" for o in c.outputs)]
    assert failing and all("raises-exception" in c.metadata.get("tags", []) for c in failing)
    lecture = [c for c in code if "raises-exception" not in c.metadata.get("tags", [])]
    assert len(lecture) >= 2  # the imports and at least one lecture cell of its own


@pytest.mark.notebook
def test_the_raises_exception_tags_change_no_score(names_file, tmp_path):
    """Validate and make check score a notebook with the tags exactly as without them."""
    path = COURSE_ROOT / "notebooks" / "00_math_toolkit" / "math_toolkit.ipynb"
    answered = nbtools.read(path)  # one exercise right, one wrong, the rest untouched
    found = nbtools.exercises(answered)
    for grade_id, code in (("angle", "x, y = np.asarray(x, float), np.asarray(y, float)\n"
                                     "theta = np.arccos(np.clip(x @ y / np.linalg.norm(x) / np.linalg.norm(y), -1, 1))"),
                           ("matmul", "C = np.zeros((1, 1))")):
        cell = answered.cells[found[grade_id].solution_index]
        cell.source = nbtools.fill_answer(cell.source, code)
    untagged = copy.deepcopy(answered)
    for cell in untagged.cells:
        cell.metadata.pop("tags", None)
    scores = []
    for version in (answered, untagged):
        target = tmp_path / path.name
        nbformat.write(version, str(target))
        scores.append([(r.exercise, r.status, r.points, r.max_points)
                       for r in selfcheck.check_notebook(target)])
    assert scores[0] == scores[1]
    status = {name: state for name, state, _, _ in scores[0]}
    assert status["angle"] == selfcheck.PASSED and status["matmul"] == selfcheck.FAILED


@pytest.mark.notebook
def test_validate_puts_the_course_summary_first(tmp_path, names_file):
    """Issues 18.4 and 34.6: the Validate button's reply is the summary, then a few lines per failing
    exercise; the exercises not attempted are named once, without tracebacks."""
    from course_utils.validation import CourseValidator

    path = COURSE_ROOT / "notebooks" / "00_math_toolkit" / "math_toolkit.ipynb"
    nb = nbtools.read(path)
    found = nbtools.exercises(nb)
    cell = nb.cells[found["matmul"].solution_index]
    cell.source = nbtools.fill_answer(cell.source, "C = np.zeros((1, 1))")
    target = tmp_path / path.name
    nbformat.write(nb, str(target))
    results = CourseValidator(config=nbtools.load_config(COURSE_ROOT)).validate(str(target))
    (first,) = results["failed"]  # one entry: the lab extension labels each entry "The following cell failed:"
    head = first["source"]
    assert max(len(line) for line in head.splitlines()) <= 90  # wrapped to the dialog's width
    head = " ".join(line.strip() for line in head.splitlines())
    assert head.startswith(f"SUMMARY: 0 of {len(found)} exercises pass the visible tests; failing: matmul; "
                           "not attempted: angle, "), head
    assert head.endswith("written answers missing: derivative_error, weight_scale."), head
    raw = first["raw_error"]
    assert raw.startswith("FAILING: matmul (0/"), raw
    assert len(raw.splitlines()) <= 5 and "Traceback" not in raw and "NotImplementedError" not in raw, raw
    assert "AssertionError" in raw
    assert "<style>" in first["error"] and "display: none" in first["error"]  # hides nbgrader's label


@pytest.mark.notebook
def test_validate_judges_warnings_as_grading_does(tmp_path, names_file):
    """Issue 34.7: notebook 02's own cross_entropy and kl_divergence return inf for q = 0 with NumPy's
    "divide by zero" warning on stderr; grading ignores it, and so do Validate and make check."""
    from course_utils.grading.authoring.synthetic import solved
    from course_utils.validation import CourseValidator

    name = "02_information_theory/information_theory.ipynb"
    release, source = nbtools.read(COURSE_ROOT / "notebooks" / name), nbtools.read(COURSE_ROOT / "solutions" / name)
    nb = solved(release, source, only={"entropy", "cross_entropy", "kl_divergence"})
    target = tmp_path / "information_theory.ipynb"
    nbformat.write(nb, str(target))
    validator = CourseValidator(config=nbtools.load_config(COURSE_ROOT))
    results = validator.validate(str(target))
    warned = [c for c in validator._executed.cells if nbtools.is_test_cell(c) and any(
        o.output_type == "stream" and o.name == "stderr" and "divide by zero" in o.text for o in c.outputs)]
    assert warned, "the solutions no longer warn: this test checks nothing"
    head = " ".join(line.strip() for line in results["failed"][0]["source"].splitlines())
    assert "failing:" not in head, head
    for entry in results["failed"]:  # nbgrader's own rule listed both test cells as failing
        for name in ("cross_entropy", "kl_divergence"):
            assert f"Tests for {name}" not in entry["source"] and f"FAILING: {name}" not in entry["raw_error"]
    rows = {r.exercise: r.status for r in selfcheck.check_notebook(target)}
    assert rows["cross_entropy"] == rows["kl_divergence"] == selfcheck.PASSED, rows


def test_the_course_commands_resolve_every_kernel_name_to_this_interpreter():
    from course_utils.grading.execute import TrackedExecute
    from course_utils.grading.sandbox import SandboxedKernelManager
    from course_utils.kernel import CourseExecute, CourseKernelManager, CourseKernelSpecManager
    from course_utils.validation import CourseValidator

    for name in ("bigram-course", "python3", "some-other-kernel"):
        assert CourseKernelSpecManager().get_kernel_spec(name).argv[0] == sys.executable
    assert CourseExecute in CourseValidator.preprocessors
    assert issubclass(TrackedExecute().kernel_manager_class, CourseKernelManager)
    assert issubclass(SandboxedKernelManager, CourseKernelManager)


@pytest.mark.notebook
def test_make_check_ignores_a_conflicting_user_kernelspec(tmp_path, names_file):
    """Issue 18.13: user-level `python3` and `bigram-course` kernelspecs that start another
    interpreter change nothing: make check runs the course's own Python."""
    impostor = tmp_path / "other-python"
    marker = tmp_path / "impostor-ran"
    impostor.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    impostor.chmod(0o755)
    data = tmp_path / "jupyter-data"
    for name in ("python3", "bigram-course"):
        (data / "kernels" / name).mkdir(parents=True)
        (data / "kernels" / name / "kernel.json").write_text(
            f'{{"argv": ["{impostor}", "-f", "{{connection_file}}"], "display_name": "other", "language": "python"}}')
    path = COURSE_ROOT / "notebooks" / "00_math_toolkit" / "math_toolkit.ipynb"
    nb = nbtools.read(path)
    assert nb.metadata.kernelspec.name == "bigram-course"
    cell = nb.cells[nbtools.exercises(nb)["angle"].solution_index]
    cell.source = nbtools.fill_answer(
        cell.source, "x, y = np.asarray(x, float), np.asarray(y, float)\n"
                     "theta = np.arccos(np.clip(x @ y / np.linalg.norm(x) / np.linalg.norm(y), -1, 1))")
    target = tmp_path / "notebooks" / "00_math_toolkit" / path.name
    target.parent.mkdir(parents=True)
    nbformat.write(nb, str(target))
    # user-level kernelspecs first (jupyter_core otherwise prefers the virtual environment's own)
    env = {**os.environ, "JUPYTER_DATA_DIR": str(data), "JUPYTER_PREFER_ENV_PATH": "0", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", "course_utils.selfcheck", str(target)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=COURSE_ROOT)
    assert run.returncode == 0, run.stderr
    assert not marker.exists(), "make check started the user's kernelspec"
    assert re.search(r"^00_math_toolkit\s+angle\s+passed\s+1/1$", run.stdout, re.MULTILINE), run.stdout
