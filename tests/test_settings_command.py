"""Each grading setting is declared once, as a trait of ``Grading``: the grading command's options,
their help, ``grade()``'s keywords and what the canary's run grades with all follow from it."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from traitlets import Bool, Integer

from course_utils.grading import canary, grade
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.settings import Grading

A = "00_math_toolkit"


def _help(capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        grade.main(["--help"])
    assert exit_.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def _words(text: str) -> str:
    return " ".join(text.split())


def test_help_lists_every_setting_with_the_help_of_its_trait(capsys):
    shown = _help(capsys)
    for name, trait in Grading.class_traits(config=True).items():
        option = trait.metadata.get("option", name.replace("_", "-"))
        if isinstance(trait, Bool) and trait.default_value:
            option = f"no-{option}"
        assert f"--{option}" in shown, f"c.Grading.{name} has no option in --help"
        assert _words(trait.help)[:60] in shown, f"--{option}: not the help of c.Grading.{name}"
    for option in ("--cell-timeout", "--unsandboxed", "--root", "-j, --jobs"):
        assert option in shown


def _parsed(monkeypatch, argv: list[str]):
    """What ``main`` hands ``grade()`` for this command line (nothing is graded)."""
    seen = {}

    def fake_grade(root=COURSE_ROOT, assignments=None, *, settings=None, **values):
        seen.update(assignments=assignments, settings=settings, values=values)
        raise ValueError("stop here")

    monkeypatch.setattr(grade, "grade", fake_grade)
    assert grade.main(argv) == 2
    return seen


def test_the_command_line_builds_one_settings_object_and_grade_takes_it_whole(tmp_path, monkeypatch):
    course = syn.make_course(tmp_path / "course", [A])
    seen = _parsed(monkeypatch, [
        A, "--root", str(course), "-j", "3", "--shard", "1/2", "--db-url", "sqlite:////srv/g.db", "--force",
        "--student", "ada", "--student", "bob", "--cell-timeout", "7", "--unsandboxed", "--skip-canary",
        "--wall-factor", "4", "--time-limit", "90", "--no-progress", "--output", str(tmp_path / "g.csv")])
    settings = seen["settings"]
    assert seen["assignments"] == [A] and seen["values"] == {}
    assert isinstance(settings, Grading) and settings.root == course.resolve()
    assert (settings.jobs, settings.shard, settings.gradebook, settings.force, settings.students) == (
        3, "1/2", "sqlite:////srv/g.db", True, ["ada", "bob"])
    assert (settings.skip_canary, settings.wall_factor, settings.time_limit, settings.progress) == (
        True, 4, 90, False)
    assert settings.output == str(tmp_path / "g.csv")
    # one quantity, one place: the cell's limit is nbgrader's Execute.timeout, the opt-out the sandbox's
    config = settings.nbgrader_config()
    assert config.Execute.timeout == 7 and config.SandboxProvisioner.allow_unsandboxed is True
    assert not set(Grading.class_traits(config=True)) & {"cell_timeout", "unsandboxed"}


def test_a_setting_the_command_does_not_have_is_an_error(monkeypatch, capsys):
    monkeypatch.setattr(grade, "grade", lambda *a, **k: pytest.fail("graded despite a bad option"))
    assert grade.main(["--job", "3"]) == 2
    assert "no option --job" in capsys.readouterr().err
    assert grade.main(["--jobs", "three"]) == 2
    assert "'jobs' trait" in capsys.readouterr().err
    with pytest.raises(TypeError, match="no grading setting 'job'"):
        Grading.load(COURSE_ROOT, job=3)


def test_grades_keywords_are_the_options(tmp_path):
    course = syn.make_course(tmp_path / "course", [A])
    settings = Grading.load(course, jobs=2, cell_timeout=9, unsandboxed=True, force=True, output=tmp_path / "x.csv")
    config = settings.nbgrader_config()
    assert (settings.jobs, settings.force, settings.output) == (2, True, str(tmp_path / "x.csv"))
    assert config.Execute.timeout == 9 and config.SandboxProvisioner.allow_unsandboxed is True


def test_a_new_trait_is_an_option_a_keyword_and_reaches_the_canary():
    """What adding a setting takes: one trait, nothing else."""

    class Grading2(Grading):
        retries = Integer(1, help="Times a submission whose grader raised is tried again.").tag(
            config=True, canary=True)

    aliases, _ = Grading2.command_line()
    assert aliases["retries"] == "Grading2.retries"
    assert Grading2.keywords(retries=3) == {"Grading2": {"retries": 3}}
    assert Grading2.load(COURSE_ROOT, retries=3, jobs=2).shared_with_canary() == {"Grading2": {"retries": 3}}


class _Recorder:
    """Stands in for the subprocess module the canary runs the grading command with: keeps the
    command and the settings file it names (the canary's scratch folder goes with its run)."""

    TimeoutExpired = subprocess.TimeoutExpired

    def __init__(self):
        self.command: list[str] = []
        self.written: dict = {}
        self.returncode = 1

    def Popen(self, command, **kwargs):  # noqa: N802  (subprocess's name)
        self.command = list(command)
        self.written = json.loads(Path(command[command.index("--config") + 1]).read_text())
        return self

    def wait(self, timeout=None):
        return 1


def test_the_canary_grades_with_the_settings_that_change_how_a_notebook_runs(tmp_path, monkeypatch):
    course = syn.make_course(tmp_path / "course", [A])
    settings = Grading.load(course, jobs=6, db_url="sqlite:////srv/g.db", force=True, students=["ada"],
                            time_limit=90, cell_timeout=7, unsandboxed=True, wall_factor=4)
    recorder = _Recorder()
    monkeypatch.setattr(canary, "subprocess", recorder)
    canary.check(course, [A], settings=settings)
    assert recorder.written == {"Execute": {"timeout": 7}, "SandboxProvisioner": {"allow_unsandboxed": True},
                                "Grading": {"wall_factor": 4}}

    # and the grading command reads them back from that file, beneath its own options
    written = tmp_path / "written.json"
    written.write_text(json.dumps(recorder.written))
    command = recorder.command
    command[command.index("--config") + 1] = str(written)
    command[command.index("--root") + 1] = str(course)  # the canary's scratch course is gone by now
    seen = _parsed(monkeypatch, command[command.index("--root"):])
    run = seen["settings"]
    assert (run.jobs, run.skip_canary, run.wall_factor, run.force, run.students, run.time_limit) == (
        1, True, 4, False, [], Grading.time_limit.default_value)
    assert run.gradebook == f"sqlite:///{course.resolve() / 'gradebook.db'}"
    assert run.nbgrader_config().Execute.timeout == 7


def test_make_grade_passes_its_variables_and_any_option(monkeypatch):
    dry = subprocess.run(
        ["make", "-n", "grade", "ASSIGNMENT=" + A, "JOBS=3", "SHARD=1/2",
         "DB_URL=sqlite:////srv/g.db", "FORCE=1", "UNSANDBOXED=1", "SKIP_CANARY=1",
         "OPTIONS=--wall-factor 4 --cell-timeout 7"],
        cwd=COURSE_ROOT, capture_output=True, text=True, timeout=120)
    (line,) = [x for x in dry.stdout.splitlines() if re.search(r"-m course_utils\.grading\.grade\b", x)]
    argv = shlex.split(line)
    seen = _parsed(monkeypatch, argv[argv.index("course_utils.grading.grade") + 1:])
    settings = seen["settings"]
    assert seen["assignments"] == [A]
    assert (settings.jobs, settings.shard, settings.db_url, settings.force, settings.skip_canary,
            settings.wall_factor) == (3, "1/2", "sqlite:////srv/g.db", True, True, 4)
    config = settings.nbgrader_config()
    assert config.Execute.timeout == 7 and config.SandboxProvisioner.allow_unsandboxed is True


def test_a_setting_that_moved_to_the_class_of_its_quantity_says_where(tmp_path):
    course = syn.make_course(tmp_path / "course", [A], config_lines="c.Grading.cell_timeout = 30\nc.Grading.jobz = 2")
    with pytest.raises(ValueError, match=r"c\.Grading\.cell_timeout is now c\.Execute\.timeout.*"
                                         r"c\.Grading\.jobz is no setting"):
        Grading.load(course)
