"""Grading as a job array: --shard auto, the shards' records, the Slurm script and the Kubernetes Job.

The Slurm test starts a real single-node cluster from Debian's ``slurm-wlm`` and ``munge``
(skipped, saying so, where they are not installed; .ci/run installs them), submits the
course's batch script as a 2-task array against one PostgreSQL gradebook, and checks that
the class's grades are those a single-machine run gives.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from course_utils.grading import cluster, grade
from course_utils.grading import gradebook as gbk
from course_utils.grading.authoring import synthetic as syn
from course_utils.grading.course import COURSE_ROOT

from .test_grading_postgres import postgres_url  # noqa: F401  (the shared gradebook's server)

SLURM_SCRIPT = COURSE_ROOT / "cluster" / "slurm" / "grade-array.sbatch"
K8S_JOB = COURSE_ROOT / "cluster" / "kubernetes" / "grade-job.yaml"
A = "01_probability"


def _slurm(task: int, low: int, high: int, step: int = 1) -> dict[str, str]:
    return {"SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_MIN": str(low),
            "SLURM_ARRAY_TASK_MAX": str(high), "SLURM_ARRAY_TASK_STEP": str(step),
            "SLURM_ARRAY_TASK_COUNT": str((high - low) // step + 1)}


@pytest.mark.parametrize(("env", "shard"), [
    (_slurm(1, 1, 4), (1, 4)), (_slurm(4, 1, 4), (4, 4)), (_slurm(0, 0, 2), (1, 3)),
    (_slurm(6, 0, 6, step=2), (4, 4)),
    ({"JOB_COMPLETION_INDEX": "0", "JOB_COMPLETIONS": "3"}, (1, 3)),
    ({"JOB_COMPLETION_INDEX": "2", "JOB_COMPLETIONS": "3"}, (3, 3)),
])
def test_shard_auto_reads_the_array_task_from_the_engine(env, shard):
    assert cluster.shard_from_engine(env) == shard


@pytest.mark.parametrize(("env", "says"), [
    ({}, "needs a job array"),
    ({**_slurm(1, 1, 2), "JOB_COMPLETION_INDEX": "0"}, "both"),
    ({**_slurm(3, 1, 3), "SLURM_ARRAY_TASK_COUNT": "2"}, "not an evenly stepped range"),  # --array=1,3
    ({"SLURM_ARRAY_TASK_ID": "1"}, "SLURM_ARRAY_TASK_MIN is not set"),
    ({"JOB_COMPLETION_INDEX": "0"}, "JOB_COMPLETIONS is not set"),
    ({"JOB_COMPLETION_INDEX": "3", "JOB_COMPLETIONS": "3"}, "outside the job's 3 completions"),
    ({"JOB_COMPLETION_INDEX": "x", "JOB_COMPLETIONS": "3"}, "not a whole number"),
])
def test_a_wrong_or_missing_array_setting_is_a_clear_error(env, says):
    with pytest.raises(ValueError, match=says):
        cluster.shard_from_engine(env)


def test_grade_with_shard_auto_outside_an_array_stops_before_grading(tmp_path, monkeypatch, capsys):
    course = syn.make_course(tmp_path / "course", [A])
    release, _, name = syn.versions(course, A)
    syn.submit(course, "s1", A, release, f"{name}.ipynb")
    for var in [v for v in os.environ if v.startswith("SLURM_") or v.startswith("JOB_COMPLETION")]:
        monkeypatch.delenv(var)
    assert grade.main(["--root", str(course), "--shard", "auto", "--no-progress", "--skip-canary"]) == 2
    assert "--shard auto needs a job array" in capsys.readouterr().err
    assert not (course / "autograded").exists()


def _record(course: Path, i: int, n: int, status: str, **kw) -> None:
    cluster.ShardState(i, n, status, "node", time.time(), **kw).save(course)


def test_finish_names_the_shards_that_have_not_finished_and_writes_nothing(tmp_path, capsys):
    course = syn.make_course(tmp_path / "course", [A])
    _record(course, 1, 3, "finished", submissions=4)
    _record(course, 2, 3, "failed", error="ValueError: canary: ...")
    assert cluster.finish(course) == 1
    err = capsys.readouterr().err
    assert "shard 2/3: failed on node: ValueError: canary" in err
    assert "shard 3/3: no record" in err
    assert "Nothing written" in err and not (course / "grades.csv").exists()
    _record(course, 3, 3, "running")
    cluster.finish(course)
    assert "shard 3/3: still running on node" in capsys.readouterr().err


def test_finish_writes_the_class_grades_once_every_shard_has(tmp_path, capsys):
    course = syn.make_course(tmp_path / "course", [A])
    for i in (1, 2):
        _record(course, i, 2, "finished", submissions=0)
    cluster.ShardState(1, 5, "failed", "node", started=0.0, error="an older array").save(course)
    assert cluster.finish(course) == 0
    assert "2 of 2 shards finished" in capsys.readouterr().out
    assert (course / "grades.csv").exists()


def test_the_kubernetes_job_is_valid_and_shards_as_many_as_it_completes():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    job = yaml.safe_load(K8S_JOB.read_text())
    kubernetes_validate.validate(job, kubernetes_validate.latest_version(), strict=True)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["backoffLimitPerIndex"] >= 0
    (container,) = spec["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert int(env["JOB_COMPLETIONS"]["value"]) == spec["completions"]
    assert "secretKeyRef" in env["DB_URL"]["valueFrom"]
    assert "SHARD=auto" in container["command"]
    security = container["securityContext"]
    assert security["privileged"] is False and security["capabilities"]["add"] == ["SYS_ADMIN"]
    shards = {cluster.shard_from_engine({"JOB_COMPLETION_INDEX": str(i), "JOB_COMPLETIONS":
                                         env["JOB_COMPLETIONS"]["value"]}) for i in range(spec["completions"])}
    assert shards == {(i, spec["completions"]) for i in range(1, spec["completions"] + 1)}
    volume = spec["template"]["spec"]["volumes"][0]
    assert volume["name"] == container["volumeMounts"][0]["name"] and "persistentVolumeClaim" in volume


# --------------------------------------------------------------------------- a real Slurm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mb() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20 - 512


@pytest.fixture(scope="module")
def slurm():
    """A single-node Slurm cluster (slurmctld, slurmd, munged) in a scratch folder; yields sbatch's env."""
    daemons = {name: shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
               for name in ("slurmctld", "slurmd", "munged", "sbatch")}
    if not all(daemons.values()) or os.geteuid() != 0:
        pytest.skip("a real Slurm needs Debian's slurm-wlm and munge, run as root "
                    "(apt-get install slurm-wlm munge); .ci/run installs them")
    base = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    for sub in ("state", "spool", "log", "munge"):
        (base / sub).mkdir()
    key = base / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = base / "munge" / "munge.socket"
    host = socket.gethostname().split(".")[0]
    conf = base / "slurm.conf"
    conf.write_text(f"""ClusterName=coursetest
SlurmctldHost={host}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={sock}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={base}/state
SlurmdSpoolDir={base}/spool
SlurmctldPidFile={base}/slurmctld.pid
SlurmdPidFile={base}/slurmd.pid
SlurmctldLogFile={base}/log/slurmctld.log
SlurmdLogFile={base}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
NodeName={host} CPUs={os.cpu_count()} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=course Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    started = []
    try:
        subprocess.run([daemons["munged"], "--force", f"--socket={sock}", f"--key-file={key}",
                        f"--pid-file={base}/munge/munged.pid", f"--log-file={base}/munge/munged.log",
                        f"--seed-file={base}/munge/seed"], check=True, capture_output=True)
        started.append(base / "munge" / "munged.pid")
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemons[daemon], "-f", str(conf)], env=env, check=True, capture_output=True)
            started.append(base / f"{daemon}.pid")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
            if state.stdout.strip() == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "\n".join((base / "log" / f).read_text()[-2000:] for f in ("slurmctld.log", "slurmd.log")
                             if (base / "log" / f).exists())
            pytest.fail(f"the test's Slurm node did not come up idle:\n{logs}")
        yield env
    finally:
        for pid_file in reversed(started):
            try:
                os.kill(int(pid_file.read_text().split()[0]), 15)
            except (OSError, ValueError):
                pass
        time.sleep(1)
        shutil.rmtree(base, ignore_errors=True)


def _rows(path: Path) -> dict[str, tuple[str, str]]:
    return {r["student_id"]: (r["status"], r["score"]) for r in gbk.read_csv(path)}


@pytest.mark.notebook
@pytest.mark.xdist_group("grading")
def test_a_slurm_array_grades_the_class_as_one_machine_does(slurm, postgres_url, names_file, tmp_path,  # noqa: F811
                                                            record_property):
    def class_folder(name: str) -> Path:
        course = syn.make_course(tmp_path / name, [A])
        release, source, nb = syn.versions(course, A)
        syn.submit(course, "honest", A, syn.solved(release, source), f"{nb}.ipynb")
        syn.submit(course, "blank", A, release, f"{nb}.ipynb")
        syn.submit(course, "broken", A, b'{"cells": [', f"{nb}.ipynb")
        return course

    alone = class_folder("alone")
    started = time.monotonic()
    single = grade.grade(alone, [A], jobs=1, progress=False, skip_canary=True)
    single_seconds = time.monotonic() - started
    assert single.counts()

    course = class_folder("array")
    env = {**slurm, "DB_URL": postgres_url, "COURSE_PYTHON": sys.executable, "SKIP_CANARY": "1"}
    started = time.monotonic()
    done = subprocess.run(["sbatch", "--wait", "--array=1-2", "--cpus-per-task=1", "--mem=2G",
                           str(SLURM_SCRIPT), A],
                          cwd=course, env=env, capture_output=True, text=True, timeout=900)
    array_seconds = time.monotonic() - started
    logs = "\n".join(p.read_text()[-3000:] for p in sorted(course.glob("slurm-grade-*.out")))
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{logs}"
    states = [json.loads(p.read_text()) for p in sorted((course / "autograded" / ".shards").glob("*.json"))]
    assert [(s["shard"], s["of"], s["status"]) for s in states] == [(1, 2, "finished"), (2, 2, "finished")], logs
    assert sum(s["submissions"] for s in states) == 3
    assert all(s["job"].startswith("slurm ") for s in states)

    assert cluster.finish(course, db_url=postgres_url) == 0
    assert _rows(course / "grades.csv") == _rows(alone / "grades.csv"), logs
    record_property("slurm", f"2 tasks, {[s['submissions'] for s in states]} submissions each, "
                             f"{array_seconds:.0f} s (one machine: {single_seconds:.0f} s)")


def test_a_shard_refuses_a_node_where_bubblewrap_cannot_build_the_sandbox(tmp_path, monkeypatch, capsys):
    if os.geteuid() != 0:
        pytest.skip("the sandbox runs bubblewrap as root; this test runs the grading command as it would")
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: Creating new namespace failed: Operation not permitted' >&2\nexit 1\n")
    fake.chmod(0o755)
    course = syn.make_course(tmp_path / "course", [A], config_lines=f"c.SandboxProvisioner.bwrap = {str(fake)!r}")
    release, _, name = syn.versions(course, A)
    syn.submit(course, "s1", A, release, f"{name}.ipynb")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")  # as in a pod
    monkeypatch.delenv("COURSE_GRADING_UNSANDBOXED", raising=False)
    assert grade.main(["--root", str(course), "--shard", "1/1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Creating new namespace failed" in err and "CAP_SYS_ADMIN" in err and "grade-job.yaml" in err
    assert not (course / "autograded").exists()
