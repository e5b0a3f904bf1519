"""The similarity report flags copied answers and leaves independently written ones alone.

The class is synthetic: independent students answer with the fidelity data's differently
written correct answers (the solution counts as one more independent author); one student
copies another with renamed variables and reordered statements; one copies the solution
the same way; one hands in the untouched release.
"""

from __future__ import annotations

import ast
import hashlib
import os
import shutil
from pathlib import Path

import pytest

from course_utils.grading import similarity
from course_utils.grading.authoring.fidelity import load_answers
from course_utils.grading.authoring.synthetic import make_course, submit, versions, with_answer
from course_utils.grading.course import COURSE_ROOT

ASSIGNMENT = "00_math_toolkit"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("COURSE_TEST_ARTIFACTS", COURSE_ROOT / "tests" / "artifacts")) / "similarity"


class _Disguise(ast.NodeTransformer):
    """Rename what the answer itself binds, as a student hiding a copy would."""

    def __init__(self, bound: set[str]):
        self.bound = bound

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.bound:
            node.id = f"my_{node.id}_value"
        return node


def disguised(code: str) -> str:
    """``code`` with its own variables renamed and independent neighbouring statements swapped."""
    tree = ast.parse(code)
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    tree = _Disguise(bound).visit(tree)
    body = tree.body
    for i in range(len(body) - 1):
        a, b = body[i], body[i + 1]
        if not all(isinstance(s, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) for s in (a, b)):
            continue
        def names(s, ctx):
            return {n.id for n in ast.walk(s) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}
        if not (names(a, ast.Store) & (names(b, ast.Load) | names(b, ast.Store))
                or names(b, ast.Store) & names(a, ast.Load)):
            body[i], body[i + 1] = b, a
    return ast.unparse(tree)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("similarity"), [ASSIGNMENT])
    release, source, name = versions(course, ASSIGNMENT)
    solution = similarity.answers(source, similarity.stubs_of(release))
    variants: dict[str, list[str]] = {}
    for answer in load_answers(ASSIGNMENT):
        if answer.kind == "correct":
            variants.setdefault(answer.exercise, []).append(answer.code)
    authors = max(len(v) for v in variants.values())

    def hand_in(student: str, codes: dict[str, str]) -> None:
        nb = release
        for exercise, code in codes.items():
            nb = with_answer(nb, exercise, code, release)
        submit(course, student, ASSIGNMENT, nb, f"{name}.ipynb")

    independent = {f"author{i}": {e: v[i] for e, v in variants.items() if i < len(v)} for i in range(authors)}
    for student, codes in independent.items():
        hand_in(student, codes)
    hand_in("copier", {e: disguised(c) for e, c in independent["author0"].items()})
    hand_in("leaker", {e: disguised(c) for e, c in solution.items()})
    hand_in("blank", {})
    return course, sorted(independent)


def _tree_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_the_copies_are_flagged_and_no_independent_pair_is(course):
    root, authors = course
    report = similarity.compare(ASSIGNMENT, root)
    flagged = {frozenset((p.first, p.second)) for p in report.flagged}
    assert frozenset(("author0", "copier")) in flagged, similarity.summary(report)
    assert frozenset(("leaker", similarity.SOLUTION)) in flagged, similarity.summary(report)
    independent = [*authors, similarity.SOLUTION]
    false = [set(p) for p in flagged if p <= set(independent)]
    assert not false, f"independent answers flagged: {false}\n{similarity.summary(report)}"
    assert all("blank" not in p for p in flagged)


def test_an_earlier_terms_copy_is_found_with_against(course, tmp_path):
    root, _ = course
    earlier = tmp_path / "term-2025" / "alice" / ASSIGNMENT
    earlier.mkdir(parents=True)
    shutil.copy(next((root / "submitted" / "author0" / ASSIGNMENT).glob("*.ipynb")), earlier)
    report = similarity.compare(ASSIGNMENT, root, against=tmp_path)
    pairs = {frozenset((p.first, p.second)) for p in report.flagged}
    assert frozenset(("author0", f"earlier: term-2025/alice/{ASSIGNMENT}")) in pairs


def test_only_the_students_code_between_the_markers_is_compared(course):
    root, _ = course
    report = similarity.compare(ASSIGNMENT, root)
    blank = [p for p in report.pairs if "blank" in (p.first, p.second)]
    assert blank and all(p.answered == 0 and not p.matches for p in blank)


def test_the_command_writes_a_self_contained_report_and_leaves_the_gradebook_alone(course, monkeypatch, capsys):
    root, _ = course
    (root / "gradebook.db").write_bytes(b"the instructor's gradebook")
    before = _tree_hash(root)
    out = root.parent / "similarity-reports"
    monkeypatch.setattr(similarity, "COURSE_ROOT", root)
    assert similarity.main([ASSIGNMENT, "--out", str(out)]) == 0
    assert _tree_hash(root) == before
    printed = capsys.readouterr().out
    assert "FLAGGED author0 & copier" in printed
    page = (out / f"{ASSIGNMENT}.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert "<mark>" in page and "copier" in page
    if CHROMIUM:
        from playwright.sync_api import sync_playwright

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"])
            tab = browser.new_page()
            tab.goto((out / f"{ASSIGNMENT}.html").as_uri())
            assert tab.locator("mark").count() > 0
            tab.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
            browser.close()


def test_unknown_assignment_and_missing_folder_are_clear_errors(capsys):
    assert similarity.main(["99_nothing"]) == 2
    assert "no assignment 99_nothing" in capsys.readouterr().err
    assert similarity.main([ASSIGNMENT, "--against", "/nonexistent/folder"]) == 2
    assert "is not a folder" in capsys.readouterr().err
