"""The grading settings: nbgrader_config.py's c.Grading, overridden by the command line."""

from __future__ import annotations

import shutil

from course_utils.grading.course import COURSE_ROOT
from course_utils.grading.settings import Grading


def _course(tmp_path, lines: str):
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", tmp_path)
    with (tmp_path / "nbgrader_config.py").open("a") as fh:
        fh.write("\n" + lines + "\n")
    return tmp_path


def test_the_course_config_sets_what_the_command_line_does_not(tmp_path):
    root = _course(tmp_path, 'c.Grading.db_url = "sqlite:////srv/shared.db"\nc.Grading.time_limit = 42')
    settings = Grading.load(root, time_limit=None, jobs=3)
    assert (settings.gradebook, settings.time_limit, settings.jobs) == ("sqlite:////srv/shared.db", 42, 3)
    assert Grading.load(root, db_url="sqlite:////other.db").gradebook == "sqlite:////other.db"


def test_without_a_gradebook_url_it_is_the_course_folders(tmp_path):
    settings = Grading.load(_course(tmp_path, ""))
    assert settings.gradebook == f"sqlite:///{tmp_path.resolve() / 'gradebook.db'}"


def test_nbgrader_is_configured_as_the_settings_say(tmp_path):
    config = Grading.load(_course(tmp_path, ""), cell_timeout=7, unsandboxed=True).nbgrader_config()
    assert config.Execute.timeout == 7
    assert config.SandboxProvisioner.allow_unsandboxed is True
    # the canary's run of the command grades with them too (written whole, not option by option)
    assert Grading.load(tmp_path, cell_timeout=7, unsandboxed=True).shared_with_canary() == {
        "Execute": {"timeout": 7}, "SandboxProvisioner": {"allow_unsandboxed": True}}
