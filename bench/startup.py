#!/usr/bin/env python3
"""Start-up to first answer: ``paysandbox serve --port 0`` on a fresh SQLite file (and again
on the now-current file), timed from spawning the process to the first 200 answer of
``GET /_sandbox/clock``. The port is read from the ready line on stdout, so the clock stops at
the first real answer, not at a guess. Also reports the process's CPU time (user + sys, from
``getrusage`` of the reaped child), which does not depend on how loaded the machine is.

    .venv/bin/python bench/startup.py [runs]
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

EXE = [sys.executable, "-m", "paysandbox"]


def once(db: str) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*EXE, "serve", "--port", "0", "--db", db, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = ""
    for line in proc.stdout:
        if line.startswith("paysandbox ready "):
            url = line.split("url=", 1)[1].split()[0]
            break
    assert url, "no ready line"
    r = httpx.get(f"{url}/_sandbox/clock")
    elapsed = time.perf_counter() - started
    assert r.status_code == 200
    proc.terminate()
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    fresh, current = [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            db = f"sqlite:///{Path(d) / 'fresh.db'}"
            fresh.append(once(db))
            current.append(once(db))
    print(f"load average {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores), {runs} runs each")
    print("| database file | wall s (median) | wall s (min–max) | CPU s (median) |")
    print("|---|---:|---:|---:|")
    for name, got in (("fresh (migrated on start)", fresh), ("current", current)):
        walls, cpus = [w for w, _ in got], [c for _, c in got]
        print(
            f"| {name} | {statistics.median(walls):.2f} | {min(walls):.2f}–{max(walls):.2f} "
            f"| {statistics.median(cpus):.2f} |"
        )


if __name__ == "__main__":
    main()
