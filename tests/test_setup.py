"""`make install`: uv with pip's own settings when it can, pip otherwise, the same pins either way.

The Makefile runs in a scratch folder with a stand-in interpreter and a stand-in uv that
record how they are called, so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from course_utils.grading.course import COURSE_ROOT

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

FAKE_PYTHON = """#!/bin/bash
echo "python $*" >> "$CALLS"
if [ "$1 $2 $3" = "-m pip config" ]; then exec {real} "$@"; fi
if [ "$*" = "-m pip install --quiet --quiet uv" ] && [ -n "$UV_FROM_PIP" ]; then
    cp "$UV_FROM_PIP" "$(dirname "$0")/uv"
fi
"""
FAKE_UV = """#!/bin/bash
{{ echo "uv $*"; echo "SSL_CERT_FILE=$SSL_CERT_FILE UV_HTTP_TIMEOUT=$UV_HTTP_TIMEOUT"; }} >> "$CALLS"
sleep ${{UV_SECONDS:-0}}
exit ${{UV_EXIT:-0}}
"""


def _executable(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def course(tmp_path):
    """The instructor's course folder (it has solutions/) with the real Makefile, a stand-in
    .venv/bin/python and a pip.conf."""
    folder = tmp_path / "course"
    (folder / ".venv" / "bin").mkdir(parents=True)
    (folder / "solutions").mkdir()
    shutil.copy(COURSE_ROOT / "Makefile", folder)
    shutil.copy(COURSE_ROOT / "pyproject.toml", folder)
    _executable(folder / ".venv" / "bin" / "python", FAKE_PYTHON.format(real=sys.executable))
    uv = _executable(tmp_path / "uv", FAKE_UV.format())
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nconstraint = /etc/course/constraints.txt\n"
                    "extra-index-url = file:///idx/one file:///idx/two\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "SSL_CERT"))}
    env.update(PIP_CONFIG_FILE=str(conf), PIP_FIND_LINKS="/wheels/a /wheels/b", PIP_CERT="/certs/ca.pem",
               PIP_DEFAULT_TIMEOUT="180", CALLS=str(tmp_path / "calls.txt"),
               PATH=os.pathsep.join(p for p in env["PATH"].split(os.pathsep)
                                    if not (Path(p) / "uv").exists()))
    return folder, uv, env


def _install(folder: Path, env: dict, *args: str) -> list[str]:
    run = subprocess.run(["make", "install", *args], cwd=folder, env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert (folder / ".venv" / ".installed").exists()
    calls = Path(env["CALLS"]).read_text().splitlines()
    return [run.stdout, *calls]


def test_uv_installs_the_pins_from_pips_own_sources(course):
    folder, uv, env = course
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    out, *calls = _install(folder, env)
    (uv_call,) = [c for c in calls if c.startswith("uv ")]
    assert uv_call.startswith(f"uv pip install --python {folder}/.venv/bin/python --index-strategy unsafe-best-match")
    for option in ("--find-links /wheels/a", "--find-links /wheels/b", "--constraint /etc/course/constraints.txt",
                   "--extra-index-url file:///idx/one", "--extra-index-url file:///idx/two",
                   "--compile-bytecode"):  # as pip does: no process compiles the packages again
        assert option in uv_call, uv_call
    assert uv_call.endswith("torch==2.13.0 -e .[test]") and "--index-url" not in uv_call
    assert "/opt/wheels" not in uv_call  # the environment variable comes before the config files
    assert "SSL_CERT_FILE=/certs/ca.pem UV_HTTP_TIMEOUT=180" in calls
    assert not any(c.startswith("python -m pip install") for c in calls), calls
    assert "with uv" not in out and f"with {folder}/.venv/bin/uv" in out


def test_without_uv_it_is_installed_from_pypi_first(course):
    folder, uv, env = course
    out, *calls = _install(folder, {**env, "UV_FROM_PIP": str(uv)})
    assert "python -m pip install --quiet --quiet uv" in calls
    assert any(c.startswith("uv pip install") for c in calls) and "Installing uv" in out


@pytest.mark.parametrize("how", ["uv fails", "NO_UV=1"])
def test_pip_installs_the_same_pins_when_uv_cannot(course, how):
    folder, uv, env = course
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    out, *calls = _install(folder, {**env, "UV_EXIT": "1"} if how == "uv fails" else env,
                           *(["NO_UV=1"] if how == "NO_UV=1" else []))
    pip = [c for c in calls if c.startswith("python -m pip install")]
    assert pip == ["python -m pip install --quiet torch==2.13.0", "python -m pip install --quiet -e .[test]"]
    assert any(c.startswith("uv ") for c in calls) == (how == "uv fails")
    assert "with pip" in out


def test_students_install_without_the_test_tools(course):
    """Issue 34.9: the student's copy (no solutions/) installs the course, not its test extras."""
    folder, uv, env = course
    (folder / "solutions").rmdir()
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    _, *calls = _install(folder, env)
    (uv_call,) = [c for c in calls if c.startswith("uv ")]
    assert uv_call.endswith("torch==2.13.0 -e .") and "[test]" not in uv_call, uv_call
    Path(env["CALLS"]).write_text("")
    _, *calls = _install(folder, {**env, "UV_EXIT": "1"}, "-B")
    assert [c for c in calls if c.startswith("python -m pip install")] == [
        "python -m pip install --quiet torch==2.13.0", "python -m pip install --quiet -e ."]


def test_a_new_date_on_the_same_pyproject_does_not_reinstall(course):
    """Issue 34.9: unpacking a week's archive rewrites pyproject.toml with a new date and the same
    content: nothing is installed again; a changed pyproject.toml is installed."""
    folder, uv, env = course
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    _install(folder, env)
    Path(env["CALLS"]).write_text("")
    later = (folder / ".venv" / ".installed").stat().st_mtime + 60
    os.utime(folder / "pyproject.toml", (later, later))
    _, *calls = _install(folder, env)
    assert calls == [], calls
    with (folder / "pyproject.toml").open("a") as project:
        project.write("\n# a new dependency\n")
    _, *again = _install(folder, env)
    assert any(c.startswith("uv pip install") for c in again), again


def test_a_venv_installed_before_the_stamp_is_kept(course):
    """A .venv installed (by mtime) after pyproject.toml's last change, before the content stamp
    existed, is not installed again."""
    folder, uv, env = course
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    Path(env["CALLS"]).write_text("")
    later = (folder / "pyproject.toml").stat().st_mtime + 60
    (folder / ".venv" / ".installed").touch()
    os.utime(folder / ".venv" / ".installed", (later, later))
    _, *calls = _install(folder, env)
    assert calls == [], calls


def test_an_install_stopped_midway_is_done_again_in_full(course):
    """Ctrl-C during the install (torch's download, say) can leave a package half unpacked that the
    installer would take as there: the next install installs every package again, once."""
    import signal
    import time

    folder, uv, env = course
    shutil.copy(uv, folder / ".venv" / "bin" / "uv")
    make = subprocess.Popen(["make", "install"], cwd=folder, env={**env, "UV_SECONDS": "60"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    calls = Path(env["CALLS"])
    deadline = time.monotonic() + 60
    while not (calls.exists() and "uv pip install" in calls.read_text()):
        assert time.monotonic() < deadline and make.poll() is None, "the install did not start"
        time.sleep(0.1)
    os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
    assert make.wait(timeout=30) != 0
    calls.write_text("")
    out, *again = _install(folder, env)
    (uv_call,) = [c for c in again if c.startswith("uv ")]
    assert "--reinstall" in uv_call and "did not finish" in out, (out, uv_call)
    calls.write_text("")
    with (folder / "pyproject.toml").open("a") as project:
        project.write("\n# a new dependency\n")
    _, *then = _install(folder, env)
    (uv_call,) = [c for c in then if c.startswith("uv ")]
    assert "--reinstall" not in uv_call, uv_call
