"""Grading a class as an array of jobs: Slurm job arrays and Kubernetes Indexed Jobs.

``--shard auto`` takes the shard from the engine running the job (:func:`shard_from_engine`).
Each sharded run records how it went in ``autograded/.shards/<i>of<n>.json`` in the shared
course folder (:class:`ShardState`); after the array, ``course-cluster finish`` (``make
finish-shards``) says which shards have not finished or failed and, once all have, writes the class's
grades.csv, feedback and LMS export from the shared gradebook.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from .course import AUTOGRADED, COURSE_ROOT, scripts_on_path, write_atomically

STATE_DIR = ".shards"
SLURM_HINT = "submit the grading as a job array (sbatch --array=1-N cluster/slurm/grade-array.sbatch)"
K8S_HINT = ("run it as an Indexed Job (completionMode: Indexed) and set the JOB_COMPLETIONS environment "
            "variable to the job's completions (cluster/kubernetes/grade-job.yaml does both)")


def shard_from_engine(env: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """``(i, n)`` of the array task this process runs as, from Slurm's or Kubernetes' variables."""
    slurm, k8s = "SLURM_ARRAY_TASK_ID" in env, "JOB_COMPLETION_INDEX" in env
    if slurm and k8s:
        raise ValueError("--shard auto: both Slurm's SLURM_ARRAY_TASK_ID and Kubernetes' JOB_COMPLETION_INDEX "
                         "are set; give the shard explicitly (--shard i/n)")
    if slurm:
        return _slurm_shard(env)
    if k8s:
        return _k8s_shard(env)
    raise ValueError("--shard auto needs a job array: no SLURM_ARRAY_TASK_ID (Slurm) or JOB_COMPLETION_INDEX "
                     f"(Kubernetes) in the environment. With Slurm, {SLURM_HINT}; with Kubernetes, {K8S_HINT}; "
                     "on machines you start yourself, give --shard i/n")


def _integer(env: Mapping[str, str], name: str, hint: str) -> int:
    try:
        return int(env[name])
    except KeyError:
        raise ValueError(f"--shard auto: {name} is not set: {hint}") from None
    except ValueError:
        raise ValueError(f"--shard auto: {name}={env[name]!r} is not a whole number") from None


def _slurm_shard(env: Mapping[str, str]) -> tuple[int, int]:
    task = _integer(env, "SLURM_ARRAY_TASK_ID", SLURM_HINT)
    low = _integer(env, "SLURM_ARRAY_TASK_MIN", SLURM_HINT)
    high = _integer(env, "SLURM_ARRAY_TASK_MAX", SLURM_HINT)
    count = _integer(env, "SLURM_ARRAY_TASK_COUNT", SLURM_HINT)
    step = _integer(env, "SLURM_ARRAY_TASK_STEP", SLURM_HINT) if "SLURM_ARRAY_TASK_STEP" in env else 1
    # Shards must cover the class: a list such as --array=1,3 or a throttled range of which
    # only some tasks exist would leave students ungraded without a word.
    if step < 1 or (high - low) % step or (high - low) // step + 1 != count or (task - low) % step:
        raise ValueError(f"--shard auto: the Slurm array (tasks {low}-{high} step {step}, {count} tasks) is not "
                         "an evenly stepped range; submit it as --array=1-N (a '%' limit is fine)")
    return (task - low) // step + 1, count


def _k8s_shard(env: Mapping[str, str]) -> tuple[int, int]:
    index = _integer(env, "JOB_COMPLETION_INDEX", K8S_HINT)
    completions = _integer(env, "JOB_COMPLETIONS", K8S_HINT)
    if not 0 <= index < completions:
        raise ValueError(f"--shard auto: JOB_COMPLETION_INDEX={index} is outside the job's "
                         f"{completions} completions (JOB_COMPLETIONS must equal spec.completions)")
    return index + 1, completions


@dataclass
class ShardState:
    """How one shard's run went, as the run itself recorded it."""

    shard: int
    of: int
    status: str
    """``running``, ``finished`` or ``failed``."""
    host: str
    started: float
    ended: float | None = None
    error: str = ""
    submissions: int = 0
    job: str = ""
    """The engine's name for the task (Slurm's job and task id, the pod's name)."""

    @staticmethod
    def path(root: Path, shard: tuple[int, int]) -> Path:
        return Path(root) / AUTOGRADED / STATE_DIR / f"{shard[0]}of{shard[1]}.json"

    def save(self, root: Path) -> None:
        path = self.path(root, (self.shard, self.of))
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(asdict(self), indent=1))


def started(root: Path, shard: tuple[int, int]) -> ShardState:
    """Record that this process has begun grading ``shard`` (called once its lock is held)."""
    job = os.environ.get("SLURM_JOB_ID") or os.environ.get("HOSTNAME", "")
    if "SLURM_ARRAY_JOB_ID" in os.environ:
        job = f"slurm {os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"
    state = ShardState(shard[0], shard[1], "running", socket.gethostname(), time.time(), job=job)
    state.save(root)
    return state


def ended(root: Path, state: ShardState, *, submissions: int = 0, error: str = "") -> None:
    state.status, state.ended, state.error, state.submissions = (
        "failed" if error else "finished", time.time(), error[:2000], submissions)
    state.save(root)


def states(root: Path, count: int | None = None) -> tuple[int | None, dict[int, ShardState]]:
    """The shard count of the newest array (or ``count``) and its shards' recorded states."""
    folder = Path(root) / AUTOGRADED / STATE_DIR
    found: list[ShardState] = []
    for path in sorted(folder.glob("*of*.json")) if folder.is_dir() else []:
        try:
            found.append(ShardState(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a file being replaced, or not ours: the shard counts as not recorded
    if count is None and found:
        count = max(found, key=lambda s: s.started).of
    return count, {s.shard: s for s in found if s.of == count}


def problems(count: int | None, recorded: dict[int, ShardState]) -> list[str]:
    """One line per shard that has not finished (never started, still running, failed)."""
    if count is None:
        return ["no shard has recorded a run in autograded/.shards/ (was the array started with SHARD=auto "
                "or --shard i/n on this course folder?)"]
    lines = []
    for i in range(1, count + 1):
        state = recorded.get(i)
        if state is None:
            lines.append(f"shard {i}/{count}: no record (not started yet, or its job never ran)")
        elif state.status == "running":
            lines.append(f"shard {i}/{count}: still running on {state.host} ({state.job or 'no job id'}), "
                         f"started {time.strftime('%Y-%m-%d %H:%M', time.localtime(state.started))}")
        elif state.status == "failed":
            lines.append(f"shard {i}/{count}: failed on {state.host}: {state.error}")
    return lines


def finish(root: Path = COURSE_ROOT, *, count: int | None = None, db_url: str | None = None,
           lms_format: str | None = None, roster: Path | None = None, partial: bool = False) -> int:
    """After the array: report the shards, then write grades.csv, feedback and the LMS export."""
    from . import feedback, grade
    from .lms import export

    count, recorded = states(root, count)
    missing = problems(count, recorded)
    for line in missing:
        print(line, file=sys.stderr)
    if missing and not partial:
        print("Nothing written: run this again once every shard has finished (resubmit the failed tasks: "
              "graded submissions are skipped), or add --partial to write what the gradebook holds now.",
              file=sys.stderr)
        return 1
    if count is not None:
        done = sum(s.submissions for s in recorded.values() if s.status == "finished")
        print(f"{sum(s.status == 'finished' for s in recorded.values())} of {count} shards finished "
              f"({done} submissions)")
    db = ["--db-url", db_url] if db_url else []
    steps = [grade.main(["--root", str(root), "--export-only", "--no-progress", *db]),
             feedback.main(["--root", str(root), "--no-progress", *db])]
    if lms_format:
        steps.append(export.main(["--format", lms_format, *db,
                                  *(["--roster", str(roster)] if roster else [])]))
    return max(steps) if not missing else 1


def main(argv: list[str] | None = None) -> int:
    scripts_on_path()  # nbgrader runs alembic from PATH to create a gradebook
    parser = argparse.ArgumentParser(description="After a job array: check its shards, then write "
                                     "grades.csv, feedback and the LMS export from the shared gradebook.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("finish", help="check the shards, then write grades.csv, feedback, LMS export")
    run.add_argument("--root", type=Path, default=COURSE_ROOT)
    run.add_argument("--shards", type=int, default=None, help="the array's size (default: the newest array's)")
    run.add_argument("--db-url", default=None)
    run.add_argument("--format", default=None, help="also write grades-<format>.csv (canvas, moodle)")
    run.add_argument("--roster", type=Path, default=None)
    run.add_argument("--partial", action="store_true", help="write what there is even if shards are missing")
    sub.add_parser("shard", help="print the shard this job array task grades (i/n), or why it cannot tell")
    args = parser.parse_args(argv)
    if args.command == "shard":
        try:
            i, n = shard_from_engine()
            print(f"{i}/{n}")
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    return finish(args.root, count=args.shards, db_url=args.db_url, lms_format=args.format,
                  roster=args.roster, partial=args.partial)


if __name__ == "__main__":
    raise SystemExit(main())
