"""The grading sandbox (course_utils.grading.sandbox): what a submission's kernel can and cannot do.

Each test runs small notebooks with nbclient and ``SandboxedKernelManager`` (its kernels
started by ``SandboxProvisioner``) in
a folder laid out like a course (gradebook.db, solutions/, submitted/ and
autograded/ of other students), the kernel's working directory being one
student's autograded folder, as ``nbgrader autograde`` does.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_code_cell, new_notebook
from traitlets.config import Config

from course_utils.grading import sandbox
from course_utils.grading.course import COURSE_ROOT, load_config
from course_utils.grading.sandbox import (
    OPT_OUT_ENV,
    SandboxedKernelManager,
    SandboxProvisioner,
    SandboxUnavailable,
    check_bwrap,
)
from course_utils.nbtools import CellScorer

pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("sandbox")]


def _bwrap_problem() -> str | None:
    try:
        check_bwrap()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


_PROBLEM = _bwrap_problem()
needs_bwrap = pytest.mark.skipif(
    _PROBLEM is not None, reason=f"the sandbox cannot run here: {_PROBLEM}")


# --------------------------------------------------------------------------- helpers

def notebook(*cells: str) -> nbformat.NotebookNode:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def client_for(nb, cwd: Path, *, timeout: int = 30, **limits) -> tuple[NotebookClient, list]:
    """An nbclient for ``nb`` that creates its own sandboxed kernel in ``cwd`` (as nbgrader's
    Execute does) and the list that will hold that kernel's manager."""
    created: list[SandboxedKernelManager] = []

    class Recorded(SandboxedKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            created.append(self)

    client = NotebookClient(nb, kernel_manager_class=Recorded,
                            config=Config({"SandboxProvisioner": limits}),
                            resources={"metadata": {"path": str(cwd)}}, timeout=timeout,
                            allow_errors=True, startup_timeout=60)
    return client, created


def run(nb, cwd: Path, *, timeout: int = 30, dies: bool = False, **limits) -> SandboxProvisioner:
    """Execute ``nb`` in a sandboxed kernel started in ``cwd``; return its sandbox (the provisioner).

    With ``dies``, the kernel must die during the run (nbclient's DeadKernelError).
    """
    client, created = client_for(nb, cwd, timeout=timeout, **limits)
    if dies:
        with pytest.raises(DeadKernelError):
            client.execute()
    else:
        client.execute()
    return created[0].provisioner


def text(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append(f"{out.ename}: {out.evalue}")
        elif "text/plain" in out.get("data", {}):
            parts.append(out.data["text/plain"])
    return "".join(parts)


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root)).encode()
        if path.is_symlink():
            digest.update(b"L" + rel + os.readlink(path).encode())
        elif path.is_file():
            digest.update(b"F" + rel + path.read_bytes())
        else:
            digest.update(b"D" + rel)
    return digest.hexdigest()


def leftovers(box: SandboxProvisioner, wait: float = 10.0) -> list[str]:
    """Processes still running as the sandbox's user or naming its folder, after ``wait`` seconds at most."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for proc in psutil.process_iter(["pid", "uids", "cmdline"]):
            try:
                uids, cmdline = proc.info["uids"], proc.info["cmdline"] or []
            except psutil.Error:
                continue
            if (uids and box.sandbox_uid in (uids.real, uids.effective)) or (
                    box.sandbox_path and any(box.sandbox_path in arg for arg in cmdline)):
                found.append(f"{proc.info['pid']} {' '.join(cmdline)[:80]}")
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def course(tmp_path) -> dict[str, Path]:
    """A course folder with secrets around one student's autograded folder (the kernel's cwd)."""
    root = tmp_path / "course"
    (root / "solutions" / "01_probability").mkdir(parents=True)
    (root / "solutions" / "01_probability" / "probability.ipynb").write_text("SECRET-SOLUTION")
    (root / "gradebook.db").write_text("SECRET-GRADEBOOK")
    for student in ("alice", "bob"):
        (root / "submitted" / student / "01_probability").mkdir(parents=True)
        (root / "submitted" / student / "01_probability" / "probability.ipynb").write_text(f"{student}'s")
    (root / "autograded" / "bob" / "01_probability").mkdir(parents=True)
    (root / "autograded" / "bob" / "01_probability" / "probability.ipynb").write_text("SECRET-BOB")
    cwd = root / "autograded" / "alice" / "01_probability"
    cwd.mkdir(parents=True)
    (cwd / "data.txt").write_text("alice's data")
    (cwd / "sub").mkdir()
    (cwd / "sub" / "more.txt").write_text("more")
    (cwd / "link-to-gradebook").symlink_to(root / "gradebook.db")
    return {"root": root, "cwd": cwd}


# --------------------------------------------------------------------------- isolation

@needs_bwrap
def test_no_network_no_secrets_no_writes_outside(course, monkeypatch, names_file):
    root, cwd = course["root"], course["cwd"]
    monkeypatch.setenv("COURSE_SECRET_TOKEN", "hunter2")
    listener = socket.create_server(("0.0.0.0", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    connections = []

    def accept():
        end = time.monotonic() + 60
        while time.monotonic() < end and listener.fileno() != -1:
            try:
                connections.append(listener.accept())
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    host_ips = sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                       if a.family == socket.AF_INET})
    before = tree_hash(root)
    secrets = [root / "gradebook.db", root / "solutions" / "01_probability" / "probability.ipynb",
               root / "submitted" / "bob" / "01_probability" / "probability.ipynb",
               root / "autograded" / "bob" / "01_probability" / "probability.ipynb",
               "../../../gradebook.db", "link-to-gradebook",
               COURSE_ROOT / "solutions" / "01_probability" / "probability.ipynb",
               COURSE_ROOT / "nbgrader_config.py",
               COURSE_ROOT / "tests" / "test_sandbox.py", "/root/.bashrc", "/etc/shadow"]
    outside = [root / "gradebook.db", root / "evil.txt", "../../../evil.txt", "../../bob/evil.txt",
               COURSE_ROOT / "evil.txt", COURSE_ROOT / "course_utils" / "evil.py", "/usr/evil", "/etc/evil",
               "/evil", str(Path(sys.prefix) / "evil")]
    nb = notebook(
        # 0: network
        f"""import socket
opened = []
for host in {host_ips!r} + ["1.1.1.1"]:
    try:
        socket.create_connection((host, {port} if host != "1.1.1.1" else 53), timeout=2).close()
        opened.append(host)
    except OSError:
        pass
try:
    socket.getaddrinfo("pypi.org", 443)
    opened.append("dns")
except OSError:
    pass
print("NETWORK", opened)""",
        # 1: reading
        f"""import os
readable = []
for path in {[str(p) for p in secrets]!r}:
    try:
        with open(path, "rb") as f:
            f.read(1)
        readable.append(path)
    except OSError:
        pass
print("READABLE", readable)
print("COURSE", sorted(os.listdir({str(COURSE_ROOT)!r})))
print("ROOTHOME", sorted(os.listdir("/root")))
print("WORK", sorted(os.listdir("/work")))""",
        # 2: writing
        f"""written = []
for path in {[str(p) for p in outside]!r}:
    try:
        with open(path, "w") as f:
            f.write("evil")
        written.append(path)
    except OSError:
        pass
print("WRITTEN", written)
for path in ["x.txt", "sub/y.txt", "/tmp/t.txt", os.path.expanduser("~/h.txt")]:
    with open(path, "w") as f:
        f.write("mine")
with open("data.txt", "a") as f:
    f.write("changed")
print("SCRATCH", sorted(os.listdir(".")), open("data.txt").read())""",
        # 3: who am I
        """import os
try:
    os.setuid(0)
    print("ROOT AGAIN")
except PermissionError:
    pass
print("UID", os.getuid(), "SECRET" if "COURSE_SECRET_TOKEN" in os.environ else "NOSECRET",
      "CWD", os.getcwd())""",
        # 4: what the notebooks need: torch, matplotlib, graphviz's dot, the names
        """import torch, matplotlib.pyplot as plt, graphviz
from course_utils.data import load_names
plt.plot([1, 2]); plt.savefig("fig.png")
svg = graphviz.Digraph(); svg.edge("a", "b")
print("WORKS", float(torch.ones(3).sum()), len(svg.pipe(format="svg")) > 100, len(load_names()))""",
        # 5: processes that try to outlive the kernel (a session leader and a double fork)
        """import subprocess, time
subprocess.Popen(["sh", "-c", "sleep 300 & sleep 300"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(300)
    os._exit(0)
time.sleep(0.5)
print("SPAWNED")""",
    )
    box = run(nb, cwd)
    listener.close()
    out = [text(c) for c in nb.cells]
    assert "NETWORK []" in out[0], out[0]
    assert not connections
    assert "READABLE []" in out[1], out[1]
    assert "COURSE ['.venv', 'course_utils']" in out[1] or "COURSE ['.venv', 'course_utils', 'data']" in out[1], out[1]
    assert "ROOTHOME ['.pyenv']" in out[1] or str(Path.home()) != "/root", out[1]
    assert "WRITTEN []" in out[2], out[2]
    assert "SCRATCH ['data.txt', 'link-to-gradebook', 'sub', 'x.txt'] alice's datachanged" in out[2], out[2]
    uid = box.sandbox_uid
    assert f"UID {uid} NOSECRET CWD {os.path.realpath(cwd)}" in out[3] and uid >= sandbox.UID_BASE, out[3]
    assert "ROOT AGAIN" not in out[3]
    assert "WORKS 3.0 True 32033" in out[4], out[4]
    assert not any(o.get("name") == "stderr" for c in nb.cells for o in c.get("outputs", [])), out
    assert "SPAWNED" in out[5], out[5]
    # Nothing outside changed, the scratch copy included; nothing is left running.
    assert tree_hash(root) == before
    assert not (cwd / "x.txt").exists() and (cwd / "data.txt").read_text() == "alice's data"
    assert leftovers(box) == []
    assert not os.path.exists(box.sandbox_path)


@needs_bwrap
def test_the_kernel_sees_no_notebook_and_only_the_judges_side_of_the_grader(course):
    """Issue 28: the working folder is nbgrader's autograded folder, where the notebook being graded
    is written with its hidden tests; the grader's package holds the instructor's reference code."""
    cwd = course["cwd"]
    (cwd / "probability.ipynb").write_text("BEGIN HIDDEN TESTS: SECRET-TESTS")
    (cwd / "sub" / "other.ipynb").write_text("SECRET-OTHER-NOTEBOOK")
    (cwd / ".ipynb_checkpoints").mkdir()
    (cwd / ".ipynb_checkpoints" / "data-checkpoint.txt").write_text("SECRET-CHECKPOINT")
    nb = notebook(
        """import os, course_utils
found = []
for root in (".", "/.submission"):
    for folder, _dirs, files in os.walk(root):
        found += [os.path.join(folder, f) for f in files]
print("FOUND", sorted(found))
grading = os.path.join(os.path.dirname(course_utils.__file__), "grading")
print("GRADING", sorted(os.path.relpath(os.path.join(f, n), grading)
                        for f, _d, names in os.walk(grading) for n in names if n.endswith(".py")))""",
        """try:
    import course_utils.grading.references
    print("REFERENCES IMPORTED")
except ImportError as exc:
    print("NO REFERENCES", type(exc).__name__)
from course_utils.grading.judge import kernel
from course_utils.checks import check_close
print("JUDGE", kernel.serve.__name__)""",
    )
    run(nb, cwd)
    out = [text(c) for c in nb.cells]
    assert "SECRET" not in "".join(out), out
    assert ("FOUND ['./data.txt', './link-to-gradebook', './sub/more.txt', '/.submission/data.txt', "
            "'/.submission/link-to-gradebook', '/.submission/sub/more.txt']" in out[0]), out[0]
    assert ("GRADING ['__init__.py', 'judge/__init__.py', 'judge/kernel.py', 'judge/wire.py', "
            "'sandbox/boot.py']" in out[0]), out[0]
    assert "NO REFERENCES ModuleNotFoundError" in out[1] and "JUDGE serve" in out[1], out[1]


@needs_bwrap
def test_memory_bomb_and_fork_bomb_are_contained(course):
    from .sandboxed import FORK_BOMB  # here: a test below imports this module as a script

    nb = notebook(
        """try:
    x = bytearray(6 * 2**30)
except MemoryError:
    print("BIG BLOCKED")""",
        """chunks = []
try:
    while True:
        chunks.append(bytearray(64 * 2**20))
except MemoryError:
    n = len(chunks)
    del chunks
    print("GRADUAL BLOCKED", n)""",
        "import torch\ntry:\n    torch.empty(2**31)\nexcept RuntimeError:\n    print('TORCH BLOCKED')",
        "print('ALIVE')",
        FORK_BOMB,
        "print('PROCS', sum(1 for p in os.listdir('/proc') if p.isdigit()))",
    )
    started = time.monotonic()
    # 20 s per cell: importing torch alone took more than 5 s under CI's load
    box = run(nb, course["cwd"], timeout=20, memory_mb=1536, max_processes=48)
    out = [text(c) for c in nb.cells]
    assert "BIG BLOCKED" in out[0], out[0]
    assert "GRADUAL BLOCKED" in out[1] and int(out[1].split()[-1]) < 24, out[1]
    assert "TORCH BLOCKED" in out[2], out[2]
    assert "ALIVE" in out[3], out[3]
    assert "FORK STOPPED" in out[4] and int(out[4].split()[2]) < 48, out[4]
    assert int(out[5].split()[-1]) <= 48 + 2, out[5]
    assert time.monotonic() - started < 60
    assert leftovers(box) == []


@needs_bwrap
def test_infinite_loop_is_cut_at_the_cell_timeout(course):
    nb = notebook("while True:\n    pass", "print('ALIVE')")
    client, created = client_for(nb, course["cwd"], timeout=3)
    started = time.monotonic()
    try:
        client.execute()
    except CellTimeoutError:
        # ipykernel 7.4 (this course's) sends no execute_reply after an interrupt, sandboxed
        # or not; nbclient then gives up on the cell after a second timeout.
        pass
    else:
        assert "KeyboardInterrupt" in text(nb.cells[0]) and "ALIVE" in text(nb.cells[1])
    assert time.monotonic() - started < 30
    assert leftovers(created[0].provisioner) == []


@needs_bwrap
def test_cpu_limit_stops_a_loop_that_ignores_interrupts(course):
    nb = notebook("while True:\n    try:\n        while True:\n            pass\n    except KeyboardInterrupt:\n        pass")
    started = time.monotonic()
    box = run(nb, course["cwd"], timeout=30, cpu_seconds=3, dies=True)
    assert time.monotonic() - started < 30
    assert "CPU-time limit (3 s)" in box.exit_reason(), box.returncode
    assert leftovers(box) == []


@needs_bwrap
def test_wall_clock_limit_per_notebook(course):
    started = time.monotonic()
    box = run(notebook("import time\ntime.sleep(120)"), course["cwd"], timeout=60, wall_seconds=3, dies=True)
    assert time.monotonic() - started < 20
    assert "wall-clock limit (3 s per notebook)" in box.exit_reason()
    assert leftovers(box) == []


@needs_bwrap
def test_os_exit_kills_only_its_own_kernel(course, tmp_path):
    other_cwd = tmp_path / "other"
    other_cwd.mkdir()
    other = notebook("import time\ntime.sleep(6)\nprint('SURVIVED')")
    errors = []

    def neighbour():
        try:
            run(other, other_cwd)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=neighbour)
    thread.start()
    time.sleep(2)
    box = run(notebook("import os\nos._exit(1)", "print('never')"), course["cwd"], dies=True)
    assert box.returncode == 1 and box.exit_reason() is None
    thread.join(60)
    assert not errors and "SURVIVED" in text(other.cells[0])
    assert leftovers(box) == []


def _execute_classes():
    from nbgrader.preprocessors import Execute

    class TrackedExecute(Execute):  # named like the grading command's preprocessor
        pass

    return Execute, TrackedExecute


def test_only_the_grading_preprocessor_reads_the_switch():
    execute, tracked = _execute_classes()
    config = Config()
    config.TrackedExecute.kernel_manager_class = "no_such_module.NoSuchManager"
    # nbgrader's own Execute (a student's Validate) neither uses nor imports it.
    plain = execute(config=config)
    assert sandbox.configured_kernel_manager(plain) is None
    assert plain.kernel_manager_class.__name__ == "AsyncKernelManager"
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    assert sandbox.configured_kernel_manager(tracked(config=config)) is SandboxedKernelManager


@needs_bwrap
def test_nbgrader_execute_uses_the_configured_sandbox(course):
    _, tracked = _execute_classes()
    config = Config()
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    config.SandboxProvisioner.memory_mb = 2000
    execute = tracked(config=config)
    execute.kernel_manager_class = sandbox.configured_kernel_manager(execute)
    nb = notebook("import os, resource\n"
                  "print(os.getuid(), resource.getrlimit(resource.RLIMIT_AS)[0] >> 20)")
    nb, _ = execute.preprocess(nb, {"metadata": {"path": str(course["cwd"])}})
    uid, mb = text(nb.cells[0]).split()
    assert int(uid) >= sandbox.UID_BASE and mb == "2000"
    assert "sandbox: on" in sandbox.preflight(config)


# --------------------------------------------------------------------------- without bwrap

def test_missing_bwrap_says_how_to_install_it(course):
    config = Config()
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    config.SandboxProvisioner.bwrap = "/nonexistent/bwrap"
    with pytest.raises(SandboxUnavailable, match=r"apt-get install bubblewrap"):
        sandbox.preflight(config)
    km = SandboxedKernelManager(config=Config({"SandboxProvisioner": {"bwrap": "/nonexistent/bwrap"}}))
    client = NotebookClient(notebook("print(1)"), km=km, resources={"metadata": {"path": str(course["cwd"])}})
    with pytest.raises(SandboxUnavailable, match=r"apt-get install bubblewrap"):
        client.execute()
    assert not km.has_kernel and not os.path.exists(km.provisioner.sandbox_path)


def test_explicit_opt_out_runs_unsandboxed_and_warns(course, caplog, capfd):
    limits = {"bwrap": "/nonexistent/bwrap", "allow_unsandboxed": True}
    caplog.set_level(logging.WARNING)
    nb = notebook("import os\nprint(os.getuid())")
    box = run(nb, course["cwd"], **limits)
    assert text(nb.cells[0]).strip() == str(os.getuid())
    assert not box.sandboxed
    assert "SANDBOX OFF" in capfd.readouterr().err
    config = Config()
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    for key, value in limits.items():
        setattr(config.SandboxProvisioner, key, value)
    assert "SANDBOX OFF" in sandbox.preflight(config)
    assert "SANDBOX OFF" in caplog.text


@pytest.mark.parametrize("allowed", [False, True])
def test_the_old_opt_out_variable_is_refused_with_the_setting_to_use(course, allowed, monkeypatch):
    """One switch, the trait: the environment variable that once opted out stops the run and names
    it, rather than being obeyed beside it or ignored."""
    monkeypatch.setenv(OPT_OUT_ENV, "1")
    config = Config()
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    config.SandboxProvisioner.bwrap = "/nonexistent/bwrap"
    config.SandboxProvisioner.allow_unsandboxed = allowed
    with pytest.raises(SandboxUnavailable, match=rf"{OPT_OUT_ENV} is not read.*UNSANDBOXED=1.*allow_unsandboxed"):
        sandbox.preflight(config)
    client, created = client_for(notebook("print(1)"), course["cwd"], bwrap="/nonexistent/bwrap",
                                 allow_unsandboxed=allowed)
    with pytest.raises(SandboxUnavailable, match=rf"{OPT_OUT_ENV} is not read"):
        client.execute()
    assert not created[0].has_kernel


# --------------------------------------------------------------------------- a real notebook

def _filled_release(assignment: str) -> tuple[nbformat.NotebookNode, Path]:
    """The student version with every graded cell as in the instructor's source (solutions, hidden tests)."""
    release_path = next((COURSE_ROOT / "notebooks" / assignment).glob("*.ipynb"))
    source = nbformat.read(COURSE_ROOT / "solutions" / assignment / release_path.name, 4)
    release = nbformat.read(release_path, 4)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}
    for cell in release.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in by_id:
            cell.source = by_id[gid].source
    return release, release_path.parent


@needs_bwrap
def test_course_notebook_scores_the_same_sandboxed(tmp_path, names_file):
    from jupyter_client import AsyncKernelManager
    from nbgrader import utils

    scorer = CellScorer(load_config(COURSE_ROOT))
    outcomes, seconds = {}, {}
    for label, manager in (("plain", AsyncKernelManager), ("sandboxed", SandboxedKernelManager)):
        nb, folder = _filled_release("01_probability")
        cwd = tmp_path / label / "01_probability"
        shutil.copytree(folder, cwd)
        started = time.perf_counter()
        NotebookClient(nb, kernel_manager_class=manager, timeout=60, allow_errors=True,
                       resources={"metadata": {"path": str(cwd)}}).execute()
        seconds[label] = time.perf_counter() - started
        outcomes[label] = {c.metadata.nbgrader["grade_id"]: scorer.passed(c)
                           for c in nb.cells if c.cell_type == "code" and utils.is_grade(c)}
    assert outcomes["sandboxed"] == outcomes["plain"]
    assert all(outcomes["plain"].values()), outcomes["plain"]
    print(f"01_probability: {seconds['plain']:.1f} s plain, {seconds['sandboxed']:.1f} s sandboxed")


def test_not_root_is_refused_with_a_reason(monkeypatch):
    if sandbox.find_bwrap() is None:
        pytest.skip("bwrap is not installed")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SandboxUnavailable, match="as root"):
        check_bwrap()


@needs_bwrap
def test_nothing_survives_the_grader_being_killed(course, tmp_path):
    script = tmp_path / "grader.py"
    script.write_text(f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from pathlib import Path
from test_sandbox import client_for, notebook
nb = notebook("import os, subprocess\\n"
              "subprocess.Popen(['sleep', '300'], start_new_session=True)\\n"
              "print(os.getuid(), flush=True)\\n"
              "import time\\ntime.sleep(300)")
client, created = client_for(nb, Path({str(course["cwd"])!r}), timeout=300)
import threading
def report():
    import time
    while not created or not created[0].provisioner or not created[0].provisioner.sandbox_uid:
        time.sleep(0.1)
    box = created[0].provisioner
    print("UID", box.sandbox_uid, box.sandbox_path, flush=True)
threading.Thread(target=report, daemon=True).start()
client.execute()
""")
    grader = psutil.Popen([sys.executable, str(script)], stdout=-1, text=True)
    sleeping = []
    try:
        line = grader.stdout.readline().split()
        assert line and line[0] == "UID", line
        uid, box = int(line[1]), line[2]
        deadline = time.monotonic() + 30
        while not sleeping and time.monotonic() < deadline:  # the kernel's child has started
            sleeping = [p for p in psutil.process_iter(["uids", "name"])
                        if p.info["uids"] and p.info["uids"].real == uid and p.info["name"] == "sleep"]
            time.sleep(0.2)
    finally:
        grader.kill()  # as grade.py's time limit or an instructor's kill -9 would
        grader.wait()
    assert sleeping

    class Gone:
        sandbox_uid, sandbox_path = uid, box

    assert leftovers(Gone()) == []
    shutil.rmtree(box, ignore_errors=True)  # the killed grader could not remove it


@needs_bwrap
def test_writable_places_are_bounded_and_the_host_gets_nothing(course, tmp_path):
    """The kernel may fill its scratch folder, /tmp and /dev/shm only up to their size limits
    (tmpfs that vanish with the sandbox); the host's connection folder is root's again before
    the first cell, so nothing the notebook writes reaches the host's disk."""
    # short, as the grading command's own runtime folder is: a socket path has at most 107 bytes,
    # and pytest's tmp_path under xdist leaves too few of them for the kernel's sockets
    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir=sandbox.short_temp_dir()))
    nb = notebook(
        """import os, errno
def fill(folder, limit_mb=2048):
    written = 0
    try:
        with open(os.path.join(folder, "filler.bin"), "wb") as f:
            while written < limit_mb * 2**20:
                f.write(b"x" * 2**20)
                written += 2**20
                f.flush()
    except OSError as exc:
        return written >> 20, errno.errorcode.get(exc.errno)
    return written >> 20, None
for folder in (".", "/tmp", "/dev/shm"):
    print("FILL", folder, *fill(folder))""",
        """import os
import sys
box = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
attempts = []
for name in ("kernel.json", "new.bin"):
    try:
        with open(os.path.join(box, name), "ab") as f:
            f.write(b"x" * 2**20)
        attempts.append("WROTE " + name)
    except OSError:
        attempts.append("REFUSED " + name)
print(*attempts)""",
    )
    box = run(nb, course["cwd"], scratch_mb=64, file_mb=4096, runtime_dir=str(runtime))
    fills = text(nb.cells[0])
    for folder, limit in ((".", 64), ("/tmp", 64), ("/dev/shm", 64)):
        line = next(x for x in fills.splitlines() if x.startswith(f"FILL {folder} "))
        mb, err = int(line.split()[2]), line.split()[3]
        assert mb <= limit and err in ("ENOSPC", "EFBIG"), fills
    attempts = text(nb.cells[1])
    assert "WROTE" not in attempts and attempts.count("REFUSED") == 2, attempts
    assert box.sandbox_path.startswith(f"{runtime}/nbsandbox-{os.getpid()}-")
    assert leftovers(box) == []
    assert list(runtime.iterdir()) == []
    runtime.rmdir()



@needs_bwrap
def test_a_grading_worker_gives_its_kernels_the_runs_connection_folder_by_config(tmp_path):
    """The grading command removes what a killed worker's kernels leave in its run's folder; the
    folder reaches the provisioner as c.SandboxProvisioner.runtime_dir in the config nbgrader's
    Execute hands the kernel manager, with no environment variable for other code to inherit."""
    import logging as logging_

    from course_utils.grading.autograde import Grader
    from course_utils.grading.course import Task
    from course_utils.grading.execute import TrackedExecute
    from course_utils.grading.settings import Grading

    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir=sandbox.short_temp_dir()))
    grader = Grader(settings=Grading.load(COURSE_ROOT), releases={"01_probability": {}}, stage=tmp_path / "stage",
                    runtime_dir=str(runtime))
    app = grader._autograde(Task("ada", "01_probability", str(tmp_path)), logging_.getLogger("test"))
    nb = notebook("import sys\nprint(sys.argv[sys.argv.index('-f') + 1])")
    executor = TrackedExecute(config=app.config, kernel_manager_class=SandboxedKernelManager,
                              judge=False, check_integrity=False, startup_timeout=60)
    try:
        executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
        assert text(nb.cells[0]).strip().startswith(f"{runtime}/nbsandbox-{os.getpid()}-")
        assert all(not name.startswith("COURSE_SANDBOX") for name in os.environ)
    finally:
        shutil.rmtree(runtime, ignore_errors=True)

def test_the_manager_names_the_provisioner_and_preflight_names_the_fix(monkeypatch):
    from jupyter_client.provisioning import KernelProvisionerFactory

    spec = SandboxedKernelManager().kernel_spec
    assert spec.metadata["kernel_provisioner"]["provisioner_name"] == sandbox.PROVISIONER_NAME
    assert spec.interrupt_mode == "message"  # a signal to the process group would end the sandbox
    assert KernelProvisionerFactory.instance().is_provisioner_available(spec)
    monkeypatch.setattr(KernelProvisionerFactory, "is_provisioner_available", lambda self, spec: False)
    config = Config()
    config.TrackedExecute.kernel_manager_class = "course_utils.grading.sandbox.SandboxedKernelManager"
    with pytest.raises(SandboxUnavailable, match=r"install the course package again"):
        sandbox.preflight(config)


def test_sealing_never_locks_the_kernel_out_of_its_connection_file(tmp_path, monkeypatch):
    """The kernel stats and reads its connection file right after binding, while the folder is
    being sealed: after every step of the seal the kernel's user must still reach the file
    (the order chown-then-chmod left a moment when it could not, and the kernel died)."""
    import asyncio
    import stat
    from types import SimpleNamespace

    from course_utils.grading.sandbox import provisioner

    uid = 61234
    box = tmp_path / "box"
    box.mkdir(mode=0o700)
    connection_file = box / "kernel.json"
    connection_file.write_text("{}")
    connection_file.chmod(0o600)
    for path in (box, connection_file):
        os.chown(path, uid, uid)

    def reachable() -> bool:
        folder, file = box.stat(), connection_file.stat()
        can_cross = folder.st_uid == uid and folder.st_mode & stat.S_IXUSR or folder.st_mode & stat.S_IXOTH
        can_read = file.st_uid == uid and file.st_mode & stat.S_IRUSR or file.st_mode & stat.S_IROTH
        return bool(can_cross and can_read)

    states = []
    for name in ("chown", "chmod"):
        real = getattr(os, name)

        def step(*args, _real=real, **kwargs):
            _real(*args, **kwargs)
            states.append(reachable())
        monkeypatch.setattr(provisioner.os, name, step)

    fake = SimpleNamespace(sandbox_path=str(box), connection_info={"transport": "tcp"}, seal_seconds=1,
                           process=None, parent=SimpleNamespace(connection_file=str(connection_file)))
    asyncio.run(SandboxProvisioner._seal(fake))
    assert len(states) == 4 and all(states), states
    assert box.stat().st_uid == 0 and connection_file.stat().st_uid == 0  # sealed in the end
    assert stat.S_IMODE(box.stat().st_mode) == 0o711




@needs_bwrap
def test_leftover_processes_are_looked_for_after_code_cells_only(tmp_path, monkeypatch):
    """A markdown cell runs nothing and has no outputs: when a busy machine was still ending the
    last code cell's strays, the grader looked again after the markdown cell and failed the whole
    notebook ("AttributeError: outputs")."""
    from course_utils.grading.execute import TrackedExecute

    monkeypatch.setattr(SandboxProvisioner, "stop_strays", lambda self: 2)  # strays slow to end, each time
    nb = notebook("print('one')", "print('two')")
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("Some prose."))
    executor = TrackedExecute(kernel_manager_class=SandboxedKernelManager, judge=False, check_integrity=False,
                              startup_timeout=60)
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert "the grader stopped 2 processes" in text(nb.cells[2]), text(nb.cells[2])
    assert "outputs" not in nb.cells[1]


@needs_bwrap
@pytest.mark.parametrize("bomb", ["FORK_BOMB", "OWN_GROUP_BOMB"])
def test_the_strays_of_a_cell_are_all_stopped_even_by_a_slow_grader(course, monkeypatch, bomb):
    """``stop_strays`` after a code cell: a fork bomb's processes, each forking again whenever a slot
    is free, must all be gone when it returns, even when the grader is slow (a busy machine; here
    each kill waits 20 ms). Before, strays refilled the slots the killer freed, outlived the call
    and took the CPU and the process limit from the next test cell, whose kernel could not answer."""
    from . import sandboxed

    bomb = getattr(sandboxed, bomb)
    kill = psutil.Process.kill

    def slow_kill(self):
        time.sleep(0.02)
        return kill(self)

    monkeypatch.setattr(psutil.Process, "kill", slow_kill)
    client, created = client_for(notebook(bomb, "print('ALIVE')"), course["cwd"], timeout=30, max_processes=48)
    with client.setup_kernel():
        box = created[0].provisioner
        (kernel,) = psutil.Process(box.process.pid).children()[0].children()  # before any stray
        client.execute_cell(client.nb.cells[0], 0)
        assert "FORK STOPPED" in text(client.nb.cells[0])
        assert box.stop_strays() > 0
        (init,) = psutil.Process(box.process.pid).children()
        left = [p for p in init.children(recursive=True) if p.pid != kernel.pid]
        deadline = time.monotonic() + 5  # the killed may still be on their way out
        while (alive := [p for p in left if sandbox.provisioner._running(p)]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive == [], f"{len(alive)} strays left running"
        client.execute_cell(client.nb.cells[1], 1)
        assert "ALIVE" in text(client.nb.cells[1])
    assert leftovers(box) == []
