"""An adversarial class, graded with the instructors' command: contained, and the grade cannot be faked.

One class of 01_probability is built from the real student version: two honest
students and one submission per attack (the network, the gradebook, another
student's files, solutions/, a memory bomb, a fork bomb, an endless loop, a
100 MB print, sys.exit(), os._exit(), replaced test helpers, replaced NumPy
testing functions, patched builtins, an always-equal object, 10,000 cells, and the
ways a notebook could fake passing tests in a shared kernel: IPython hooks and
transformers, tracing, timers, a stack-walking answer, its input history, modules
beside the notebook, a link to solutions/). It is
graded once with ``python -m course_utils.grading.grade`` (what ``make grade``
runs). Each submission must end with its expected status and score within a
bounded time, the honest students must keep their exact scores, and nothing
in the course folder may change but what grading writes.
"""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import nbformat
import pytest
from nbgrader import utils

from course_utils import nbtools
from course_utils.grading.authoring import synthetic as syn

from .sandboxed import OWN_GROUP_BOMB, grade_class, sandboxed_class

A = "01_probability"
CELL_TIMEOUT = 15  # seconds per cell for this class only (the course uses 60; room for a loaded machine)
TIME_LIMIT = 600  # the wall-clock backstop per submission (cells are limited in CPU seconds): no load reaches it
AUTO = sum(syn.points(A)[0].values())  # automatic points of 01_probability
PARTIAL = {"first_letter_distribution", "total_probability", "interval_probability"}
SECRET_OTHER = "SECRET-OF-ANOTHER-STUDENT-4c1f"
SECRET_SOLUTIONS = "SECRET-OF-THE-INSTRUCTOR-9a2e"

pytestmark = sandboxed_class("adversarial")

PROBE = '''
def probe(what, action):
    try:
        found = action()
    except Exception as exc:  # noqa: BLE001
        print("BLOCKED", what, type(exc).__name__)
    else:
        print("LEAK" if found else "BLOCKED", what, repr(found)[:120])
'''

# student -> (status, score (None: empty), words the detail must contain)
EXPECTED = {
    "honest_correct": ("graded", AUTO, ""),
    "honest_partial": ("graded", "partial", ""),
    "network": ("graded", AUTO, ""),
    "gradebook_write": ("graded", AUTO, ""),
    "other_student": ("graded", AUTO, ""),
    "solutions": ("graded", AUTO, ""),
    "memory_bomb": ("graded", AUTO, ""),
    "fork_bomb": ("graded", AUTO, ""),
    "own_group_bomb": ("graded", AUTO, ""),
    "endless_loop": ("graded", AUTO, ""),
    "print_100mb": ("graded", AUTO, ""),
    "sys_exit": ("graded", AUTO, ""),
    "os_exit": ("failed", None, "kernel died at cell 5"),
    # Cheats answer nothing: the judge runs the tests outside their kernel, so they score 0;
    # the source scan still flags code that tampers with what the tests use, for review.
    "replaced_helpers": ("flagged", 0, "code that replaces course_utils.checks.check_close"),
    "numpy_testing": ("flagged", 0, "code that replaces numpy.testing.assert_allclose"),
    "patched_builtins": ("flagged", 0, "code that replaces builtins.abs"),
    # Python itself stops working with this one: the cell never ends, but the reason is clear.
    "wrecked_builtins": ("failed", None, "code that replaces builtins.isinstance at cell 5 line 2"),
    "always_equal": ("graded", 0, ""),
    "ten_thousand_cells": ("failed", None, "too many cells: probability.ipynb has 10,003 cells"),
    # Issue 15: each worked against a shared kernel (full marks from a blank notebook).
    "post_run_cell_hook": (None, 0, ""),
    "pre_run_cell_display": (None, 0, ""),
    "input_transformer": (None, 0, ""),
    "ast_transformer": (None, 0, ""),
    "run_cell_replaced": ("failed", None, "over the time limit"),  # no cell of it runs any more
    "settrace": ("failed", None, "kernel died at cell 5"),  # its tracer crashes the kernel
    "signal_timer": (None, 0, ""),
    "stack_walker": (None, 0, ""),
    "history_leak": (None, 0, ""),
    "shadow_modules": ("graded", 0, "'numpy.py' (a file) was ignored"),
    "link_to_solutions": ("graded", 0, "'notes.ipynb' (a symbolic link) was ignored"),
}
"""status (None: graded or flagged, either is fine), score (None: empty), words the detail must contain."""
LEAK_PROBES = {"network": 2, "gradebook_write": 3, "other_student": 3, "solutions": 4}
"""Attacks that print one BLOCKED (or LEAK) line per attempt."""


def attacks(course: Path, port: int) -> dict[str, str]:
    """The code each attacker adds to the notebook (a new cell after the first answer)."""
    other = course / "submitted" / "honest_correct" / A
    return {
        "network": PROBE + f"""
import socket, urllib.request
probe("grader's machine", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3).recv(100))
probe("internet", lambda: urllib.request.urlopen("https://pypi.org/simple/", timeout=3).read(100))
""",
        "gradebook_write": PROBE + f"""
import sqlite3
def rewrite():
    db = sqlite3.connect({str(course / 'gradebook.db')!r})
    db.execute("UPDATE grade SET auto_score = 100")
    db.commit()
    return "rewritten"
probe("gradebook", rewrite)
probe("course folder", lambda: open({str(course / 'pwned.txt')!r}, "w").write("pwned"))
probe("other student's folder", lambda: open({str(other / 'probability.ipynb')!r}, "w").write("{{}}"))
open("my_own_file.txt", "w").write("the scratch copy is mine")
""",
        "other_student": PROBE + f"""
probe("absolute path", lambda: open({str(other / 'notes.txt')!r}).read())
probe("relative path", lambda: open("../../honest_correct/{A}/notes.txt").read())
import glob
probe("listing", lambda: [p for p in glob.glob({str(course / 'submitted' / '*')!r}) if "honest" in p])
""",
        "solutions": PROBE + f"""
probe("solutions notebook", lambda: open({str(course / 'solutions' / A / 'probability.ipynb')!r}).read())
probe("instructor's notes", lambda: open({str(course / 'solutions' / 'instructor_notes.txt')!r}).read())
probe("gradebook", lambda: open({str(course / 'gradebook.db')!r}, "rb").read(100))
probe("course config", lambda: open({str(course / 'nbgrader_config.py')!r}).read(100))
""",
        "memory_bomb": """
import numpy as np
try:
    hoard = [np.empty(2**28) for _ in range(64)]  # 2 GiB each, 128 GiB in all
except MemoryError:
    hoard = None
    print("MEMORY BOMB STOPPED")
""",
        "fork_bomb": """
import os
children = 0
try:
    while True:
        if os.fork() == 0:
            while True:
                os.fork()
        children += 1
except OSError:
    print("FORK BOMB STOPPED after", children)
""",
        "own_group_bomb": OWN_GROUP_BOMB,  # strays the grader stops must not wake before their turn
        "endless_loop": "while True:\n    pass\n",
        "print_100mb": "for _ in range(100):\n    print('x' * 2**20)\n",
        "sys_exit": "import sys\nsys.exit()\n",
        "os_exit": "import os\nos._exit(1)\n",
        "replaced_helpers": """
import course_utils.checks
def check_close(*args, **kwargs):
    pass
check_shape = check = check_close
def as_array(value, *args):
    return value
course_utils.checks.check_close = check_close
""",
        "numpy_testing": """
import numpy as np
np.testing.assert_allclose = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
""",
        "patched_builtins": """
import builtins
builtins.abs = lambda x: 0.0
builtins.all = lambda iterable: True
""",
        "wrecked_builtins": "import builtins\nbuiltins.isinstance = lambda obj, cls: True\n",
        "post_run_cell_hook": """
ip = get_ipython()
def forgive(result):
    result.error_in_exec = None
ip.events.register("post_run_cell", forgive)
ip.showtraceback = lambda *args, **kwargs: None
""",
        "pre_run_cell_display": """
ip = get_ipython()
ip.events.register("pre_run_cell", lambda info: ip.displayhook(2.0))
""",
        "input_transformer": "get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])\n",
        "ast_transformer": """
import ast
class Blank(ast.NodeTransformer):
    def visit_Module(self, node):
        return ast.Module(body=[ast.Pass()], type_ignores=[])
get_ipython().ast_transformers.append(Blank())
""",
        "run_cell_replaced": "ip = get_ipython()\nip.run_cell = lambda *args, **kwargs: None\n",
        "settrace": """
import sys
def tracer(frame, event, arg):
    if event == "exception":
        frame.f_locals.clear()
    return tracer
sys.settrace(tracer)
""",
        "signal_timer": """
import signal
import course_utils.checks as checks
real = checks.check_close
def swap(signum, frame):
    checks.check_close = (lambda *a, **k: None) if checks.check_close is real else real
signal.signal(signal.SIGALRM, swap)
signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)
""",
        "stack_walker": """
import sys
import numpy as np
class Expected:
    def __array__(self, dtype=None, copy=None):
        frame = sys._getframe(1)
        while frame is not None:
            if "exp_a" in frame.f_locals or "expected" in frame.f_locals:
                return np.asarray(frame.f_locals.get("expected"))
            frame = frame.f_back
        return np.zeros(26)
def first_letter_distribution(names):
    return Expected()
""",
        "history_leak": """
def first_letter_distribution(names):
    raise RuntimeError("HISTORY " + repr(list(In)) + repr(list(globals().get("_ih", []))))
""",
        "shadow_modules": "import numpy\nprint(numpy.__file__)\n",
        "link_to_solutions": """
import json, pathlib
found = [p for p in pathlib.Path(".").iterdir()]
print("FILES", found)
""",
    }


def _tcp_server():
    """A TCP server on the grader's loopback that counts the connections it accepts."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            accepted.append(1)
            conn.sendall(b"the grader's machine answered")
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], accepted, lambda: (stop.set(), thread.join(2), server.close())


def build_class(course: Path, port: int) -> dict[str, int]:
    """The class; returns the expected score of each honest student."""
    release, source, name = syn.versions(course, A)
    solved = syn.solved(release, source)
    nb_name = f"{name}.ipynb"

    def submit(student, nb):
        syn.submit(course, student, A, nb, nb_name)

    def with_cell(nb, code):
        nb = nbformat.from_dict(nb)
        nb.cells.insert(syn.cell_index(nb, "first_letter_distribution") + 1, nbformat.v4.new_code_cell(code))
        return nb

    submit("honest_correct", solved)
    (course / "submitted" / "honest_correct" / A / "notes.txt").write_text(SECRET_OTHER)
    submit("honest_partial", syn.solved(release, source, only=PARTIAL))
    # Instructor-only material: notes beside the assignments (files inside an assignment's folder
    # are released to students by nbgrader) and a line of the instructor's solution.
    (course / "solutions" / "instructor_notes.txt").write_text(SECRET_SOLUTIONS)
    cheats = {"replaced_helpers", "numpy_testing", "patched_builtins", "wrecked_builtins", "post_run_cell_hook",
              "pre_run_cell_display", "input_transformer", "ast_transformer", "run_cell_replaced", "settrace",
              "signal_timer", "stack_walker", "history_leak", "shadow_modules", "link_to_solutions"}
    for student, code in attacks(course, port).items():
        # Containment attacks keep the right answers (they must still score in full);
        # cheats answer nothing (every point they got would be faked).
        submit(student, with_cell(release if student in cheats else solved, code))

    folder = course / "submitted" / "shadow_modules" / A
    (folder / "numpy.py").write_text("raise SystemExit('a numpy of the student')\n")
    (folder / "course_utils").mkdir()
    (folder / "course_utils" / "__init__.py").write_text("")
    (folder / "course_utils" / "checks.py").write_text("def check_close(*a, **k):\n    pass\n")
    link = course / "submitted" / "link_to_solutions" / A / "notes.ipynb"
    link.symlink_to(Path("..", "..", "..", "solutions", A, "probability.ipynb"))

    nb = with_cell(release, "class AlwaysEqual:\n    def __eq__(self, other):\n        return True\n"
                            "    __ne__ = lambda self, other: False\n    __bool__ = lambda self: True\n")
    for cell in nb.cells:
        head = cell.source.split("START OF YOUR CODE")[0]
        if utils.is_solution(cell) and cell.cell_type == "code" and "def " in head:
            cell.source = nbtools.fill_answer(cell.source, "return AlwaysEqual()")
    submit("always_equal", nb)

    nb = nbformat.from_dict(solved)
    nb.cells[1:1] = [nbformat.v4.new_code_cell(f"x = {i}") for i in range(10_003 - len(nb.cells))]
    submit("ten_thousand_cells", nb)

    (path,) = (course / "solutions" / A).glob("*.ipynb")
    instructor = nbtools.read(path)
    cell = instructor.cells[syn.cell_index(instructor, "first_letter_distribution")]
    lines = cell.source.split("\n")
    at = next(i for i, line in enumerate(lines) if nbtools.START_MARKER in line)
    lines.insert(at + 1, lines[at][: len(lines[at]) - len(lines[at].lstrip())] + f"# {SECRET_SOLUTIONS}")
    cell.source = "\n".join(lines)  # inside the solution: stripped from what students get
    nbformat.write(instructor, str(path))

    points = {c.metadata.nbgrader["grade_id"]: float(c.metadata.nbgrader["points"])
              for c in release.cells if utils.is_grade(c) and c.cell_type == "code"}
    return {"honest_correct": AUTO, "honest_partial": sum(points[f"{e}_test"] for e in PARTIAL)}


@pytest.fixture(scope="module")
def graded(names_file, tmp_path_factory):
    course = syn.make_course(tmp_path_factory.mktemp("adversarial"), [A])
    port, accepted, stop = _tcp_server()
    try:
        honest = build_class(course, port)
        graded = grade_class(course, cell_timeout=CELL_TIMEOUT, time_limit=TIME_LIMIT, timeout=900)
    finally:
        stop()
    return {**graded, "honest": honest, "accepted": accepted}


def _outputs(course: Path, student: str) -> str:
    path = course / "autograded" / student / A / "probability.ipynb"
    nb = json.loads(path.read_text())
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                     for c in nb["cells"] for o in c.get("outputs", []))


@pytest.mark.parametrize("student", sorted(EXPECTED))
def test_each_submission_ends_with_a_clear_status(graded, student):
    status, score, words = EXPECTED[student]
    row = graded["rows"][student]
    if score == "partial":
        score = graded["honest"][student]
    assert row["status"] == status if status else row["status"] in ("graded", "flagged"), row
    assert row["score"] == ("" if score is None else f"{score:g}"), row
    assert words in row["detail"], row


def test_honest_students_keep_their_exact_scores(graded):
    for student, score in graded["honest"].items():
        assert graded["rows"][student]["score"] == f"{score:g}", graded["rows"][student]


def test_nothing_outside_the_scratch_copies_changed(graded):
    assert graded["after"] == graded["before"]
    assert not graded["accepted"], "a notebook reached the grader's machine over the network"


@pytest.mark.parametrize("student", sorted(LEAK_PROBES))
def test_every_attempt_to_reach_out_was_blocked(graded, student):
    text = _outputs(graded["course"], student)
    assert "LEAK" not in text, text[:2000]
    assert text.count("BLOCKED") == LEAK_PROBES[student], text[:2000]
    assert SECRET_OTHER not in text and SECRET_SOLUTIONS not in text


def test_bombs_were_stopped_inside_the_sandbox(graded):
    assert "MEMORY BOMB STOPPED" in _outputs(graded["course"], "memory_bomb")
    assert "FORK BOMB STOPPED" in _outputs(graded["course"], "fork_bomb")
    assert "OWN GROUP FORK STOPPED" in _outputs(graded["course"], "own_group_bomb")
    printed = graded["course"] / "autograded" / "print_100mb" / A / "probability.ipynb"
    assert printed.stat().st_size < 5 * 2**20, "the 100 MB print reached the autograded notebook"


def test_no_hidden_test_reaches_the_kernel_or_the_autograded_notebook(graded):
    text = _outputs(graded["course"], "history_leak")
    assert "HISTORY" in text  # the attack ran and printed the kernel's whole input history
    assert "BEGIN HIDDEN TESTS" not in text and "check_close(" not in text and "4410 / 32033" not in text


def test_the_class_is_graded_in_bounded_time(graded):
    # 29 notebooks on 2 workers: the endless loop costs one cell timeout, nothing hangs.
    assert graded["seconds"] < 2 * TIME_LIMIT + 360, graded["stdout"]
