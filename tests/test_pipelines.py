"""The course's nbgrader pipelines are written once (course_utils/grading/pipelines.py) and every
path runs them: `make grade` and `make feedback`, and nbgrader's own commands and the Formgrader
through nbgrader_config.py. Feedback pages are written in the grading command's kind of pool."""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets.utils.importstring import import_item

from course_utils.grading import feedback, pipelines
from course_utils.grading.autograde import Grader
from course_utils.grading.course import COURSE_ROOT, Task, load_config
from course_utils.grading.settings import Grading

CANARY_STEPS = {pipelines.PREFLIGHT, pipelines.ATTRIBUTE_FAULTS, pipelines.REFRESH_GRADES}


def _step_names(node: ast.AST) -> set[str]:
    """The preprocessor classes a list or tuple literal names, as names or import strings."""
    names = set()
    for element in getattr(node, "elts", []):
        if isinstance(element, ast.Constant) and isinstance(element.value, str):
            dotted = element.value
        elif isinstance(element, (ast.Name, ast.Attribute)):
            dotted = ast.unparse(element)
        else:
            continue
        names.add(dotted.rsplit(".", 1)[-1])
    return names


def test_each_pipeline_is_written_once_and_every_path_runs_it(tmp_path):
    config = load_config(COURSE_ROOT)
    standalone = config.Autograde.autograde_preprocessors
    assert standalone == pipelines.autograde_preprocessors(standalone=True)
    # nbgrader's own autograde is the grading command's, with the command's own steps around it.
    assert [s for s in standalone if s not in CANARY_STEPS] == list(pipelines.AUTOGRADE)
    assert standalone.index(pipelines.ATTRIBUTE_FAULTS) < standalone.index("nbgrader.preprocessors.SaveAutoGrades")
    grader = Grader(settings=Grading.load(COURSE_ROOT), releases={"a": {}}, stage=tmp_path)
    app = grader._autograde(Task("s", "a", str(tmp_path)), logging.getLogger("test"))
    assert app.autograde_preprocessors == list(pipelines.AUTOGRADE)
    assert config.GenerateFeedback.preprocessors == list(pipelines.FEEDBACK)
    _, feedback_config = feedback._coursedir(COURSE_ROOT, "sqlite:///unused.db", "a", "s")
    assert feedback_config.GenerateFeedback.preprocessors == list(pipelines.FEEDBACK)
    for step in (*pipelines.autograde_preprocessors(standalone=True), *pipelines.FEEDBACK):
        assert issubclass(import_item(step), Preprocessor), step

    # No other module writes either list again (a list naming two of a pipeline's steps).
    autograde = {s.rsplit(".", 1)[-1] for s in pipelines.autograde_preprocessors(standalone=True)}
    feedback_steps = {s.rsplit(".", 1)[-1] for s in pipelines.FEEDBACK}
    copies = []
    for path in [COURSE_ROOT / "nbgrader_config.py", *sorted((COURSE_ROOT / "course_utils").rglob("*.py"))]:
        if path.name == "pipelines.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple)):
                named = _step_names(node)
                if len(named & autograde) >= 2 or len(named & feedback_steps) >= 2:
                    copies.append(f"{path.relative_to(COURSE_ROOT)}:{node.lineno}: {sorted(named)}")
    assert not copies, "pipeline steps listed outside course_utils/grading/pipelines.py:\n" + "\n".join(copies)


def _page_or_die(root, db_url, assignment, student, include_unreviewed=False) -> bool:
    if student == "crashes":
        os._exit(1)  # a worker killed under nbgrader (out of memory, a crash in a library)
    return True


def test_a_feedback_worker_that_dies_costs_only_its_own_page(tmp_path, monkeypatch):
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "t"\n')
    for student in ("alice", "crashes", "zoe"):
        folder = tmp_path / "autograded" / student / "a1"
        folder.mkdir(parents=True)
        (folder / "nb.ipynb").write_text("{}")
    monkeypatch.setattr(feedback, "_one", _page_or_die)
    done = feedback.write_pages(Path(tmp_path), ["a1"], db_url=f"sqlite:///{tmp_path / 'gradebook.db'}",
                                jobs=2, progress=False)
    assert sorted(done["written"]) == ["alice/a1", "zoe/a1"]
    assert done["failed"] == ["crashes/a1"]
