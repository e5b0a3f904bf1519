"""Benchmark: tests run while a CPU hog keeps every core busy several times over.

    .venv/bin/python bench/load.py [--hog-per-core 4] [--no-hog] -- PYTEST-ARGS...
    .venv/bin/python bench/load.py -- -p no:xdist tests/test_grading.py tests/test_load.py -q

Starts ``--hog-per-core`` x (number of cores) busy-loop processes at the grader's own priority
(what a shared server or ``make grade JOBS=`` far above the cores does to the grading), runs
pytest with the given arguments, stops the hog (also when pytest fails or is interrupted), and
prints the figures: pytest's exit status and wall time, the load average before and after, and
the CPU seconds the hog took (how busy the machine was kept). Grades must not depend on the
load: the grading tests pass with the hog as without it. Not part of ``make test``; nothing here
is timed against a limit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HOG_CODE = (
    "import ctypes, os, signal\n"
    "ctypes.CDLL('libc.so.6').prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: dies with its starter\n"
    "if os.getppid() == 1:\n"
    "    raise SystemExit\n"
    "while True:\n"
    "    pass\n"
)


@contextlib.contextmanager
def cpu_hog(per_core: int = 4) -> Iterator[list[subprocess.Popen]]:
    """``per_core`` busy-loop processes per core while the block runs; each is stopped (by its own
    pid) when the block ends, however it ends, and dies with this process if that is killed."""
    hogs: list[subprocess.Popen] = []
    try:
        for _ in range(per_core * (os.cpu_count() or 1)):
            hogs.append(subprocess.Popen([sys.executable, "-S", "-c", HOG_CODE],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        yield hogs
    finally:
        for hog in hogs:
            with contextlib.suppress(OSError):
                hog.kill()
        for hog in hogs:
            hog.wait()


def hog_cpu_seconds(hogs: list[subprocess.Popen]) -> float:
    """CPU seconds the (still running) hog processes have used."""
    total = 0.0
    for hog in hogs:
        try:
            fields = Path(f"/proc/{hog.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hog-per-core", type=int, default=4, help="busy processes per core (default 4)")
    parser.add_argument("--no-hog", action="store_true", help="run the same selection without the hog")
    parser.add_argument("pytest_args", nargs="*", help="pytest's arguments (after --)")
    args = parser.parse_args(argv)
    command = [sys.executable, "-m", "pytest", *args.pytest_args]
    load_before = os.getloadavg()
    started = time.monotonic()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    hog_seconds = 0.0
    per_core = 0 if args.no_hog else args.hog_per_core
    with cpu_hog(per_core) as hogs:
        try:
            code = subprocess.call(command, cwd=ROOT)
        except KeyboardInterrupt:
            code = 130
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # before the hog is reaped
        hog_seconds = hog_cpu_seconds(hogs)
        load_during = os.getloadavg()
    seconds = time.monotonic() - started
    tests_cpu = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    cores = os.cpu_count() or 1
    print(f"\n--- bench/load.py: {' '.join(command[3:]) or '(whole suite)'}")
    print(f"hog:              {len(hogs)} busy processes ({per_core} per core, {cores} cores)")
    print(f"pytest exit:      {code}")
    print(f"wall time:        {seconds:.0f} s")
    print(f"hog CPU:          {hog_seconds:.0f} s ({hog_seconds / max(seconds, 1e-9) / cores:.0%} of the machine)")
    print(f"pytest CPU:       {tests_cpu:.0f} s (its own process, waited-for children)")
    print(f"load average:     {load_before[0]:.1f} before, {load_during[0]:.1f} at the end "
          f"(1-minute; {cores} cores)")
    return code


if __name__ == "__main__":
    sys.exit(main())
