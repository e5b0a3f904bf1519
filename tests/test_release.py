"""The committed student notebooks are exactly what nbgrader generates, and give nothing away."""

from __future__ import annotations

from course_utils import nbtools
from course_utils.grading.authoring.release import generate
from course_utils.grading.course import COURSE_ROOT, RELEASE_DIR, SOURCE_DIR, source_notebooks
from course_utils.grading.feedback import hidden_regions

from .conftest import ASSIGNMENTS, per_assignment
from .leaks import answer_lines, course_secrets, lines_of, secret_and_public_lines

STUB = 'raise NotImplementedError("Exercise not done yet'


@per_assignment("release")
def test_committed_release_equals_a_fresh_generation(assignment, tmp_path):
    fresh = generate(assignment, tmp_path)
    committed = COURSE_ROOT / RELEASE_DIR / assignment
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*")
                             if p.is_file() and ".ipynb_checkpoints" not in p.parts)
    assert committed_files == fresh_files
    for rel in fresh_files:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), (
            f"{RELEASE_DIR}/{assignment}/{rel} is stale: run `make release` and commit it")


@per_assignment("release")
def test_no_solution_or_hidden_test_line_in_the_student_notebooks(assignment):
    released = set().union(*(lines_of(p) for p in (COURSE_ROOT / RELEASE_DIR).rglob("*") if p.is_file()))
    assert sorted(course_secrets()[assignment] & released) == []


@per_assignment("release")
def test_every_exercise_keeps_banner_markers_and_a_failing_stub(assignment):
    for path in source_notebooks(assignment):
        release = nbtools.read(COURSE_ROOT / RELEASE_DIR / assignment / path.name)
        exercises = nbtools.exercises(release)
        assert len(exercises) >= 8, f"{path.name} has only {len(exercises)} autograded exercises"
        for ex in exercises.values():
            lines = release.cells[ex.solution_index].source.splitlines()
            text = "\n".join(lines)
            assert "# TODO:" in text and "#" * 80 in text, f"{ex.grade_id}: TODO banner missing"
            start = next(i for i, line in enumerate(lines) if nbtools.START_MARKER in line)
            assert lines[start].strip() == "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
            assert STUB in lines[start + 1], f"{ex.grade_id}: no failing stub after the START marker"
            assert lines[start + 2].strip() == "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"


def test_every_assignment_folder_holds_only_its_notebook():
    # nbgrader copies every file of a source folder to the students
    extra = [str(p.relative_to(COURSE_ROOT)) for a in ASSIGNMENTS
             for p in (COURSE_ROOT / SOURCE_DIR / a).rglob("*")
             if p.is_file() and p.suffix != ".ipynb" and ".ipynb_checkpoints" not in p.parts]
    assert extra == []


def test_secret_lines_are_found_in_a_small_notebook():
    """The leak check itself: solution and hidden lines are secret, shared lines are public."""
    import nbformat

    cell = nbformat.v4.new_code_cell(
        "def f(x):\n    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"
        "    y = x * 42\n    return y\n    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****\n"
        "    return y"
    )
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f"}
    test = nbformat.v4.new_code_cell("assert f(1) == 42\n### BEGIN HIDDEN TESTS\nassert f(2) == 84\n"
                                     "### END HIDDEN TESTS")
    nb = nbformat.v4.new_notebook(cells=[cell, test])
    secret, public = secret_and_public_lines(nb)
    assert secret == {"y = x * 42", "assert f(2) == 84"}
    assert "return y" in public and "assert f(1) == 42" in public
    assert answer_lines(nb, min_length=5) == {"y = x * 42", "return y"}


@per_assignment("release")
def test_no_other_notebook_shows_this_assignments_answers(assignment):
    """Handed out week by week, no other notebook may print what this one asks students to write
    (06 once showed 05's vectorised count)."""
    answers = set().union(*(answer_lines(nbtools.read(p)) for p in source_notebooks(assignment)))
    assert answers, f"{assignment} has no answer lines to look for"
    others = [p for a in ASSIGNMENTS if a != assignment
              for p in sorted((COURSE_ROOT / RELEASE_DIR / a).glob("*.ipynb"))]
    shown = {str(p.relative_to(COURSE_ROOT)): sorted(answers & lines_of(p)) for p in others}
    assert {path: lines for path, lines in shown.items() if lines} == {}


@per_assignment("release")
def test_every_hidden_block_says_what_it_checks(assignment):
    """Feedback shows a failing hidden test's `# checks:` line instead of its code."""
    missing = []
    for path in source_notebooks(assignment):
        for cell in nbtools.read(path).cells:
            regions = hidden_regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
            missing += [cell.metadata.get("nbgrader", {}).get("grade_id", cell.get("id"))
                        for _, _, what in regions if not what]
    assert missing == [], "hidden blocks without a `# checks:` line right after BEGIN"
