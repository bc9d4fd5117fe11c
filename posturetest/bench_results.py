"""Benchmark of `posturetest stats` against its targets, for `make bench` (posturetest.bench).

    python -m posturetest.bench_results [DATABASE]

Run as a user runs it: a fresh interpreter, so the time includes importing numpy and scipy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

STATS_TARGET_S = 3.0
STATS_TARGET_MB = 300


def _measure(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak resident MB) of one command, measured from outside (os.wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        error = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(args[2:])} failed: {error.strip()}")
    return elapsed, usage.ru_maxrss / 1024


def bench_stats(db: Path) -> None:
    """Time `posturetest stats --format json` on `db` and print one line against the targets.

    Opens the database only through the command, which reads it and writes nothing.
    """
    seconds, peak = _measure(
        [sys.executable, "-m", "posturetest", "--db", str(db), "stats", "--format", "json"]
    )
    verdict = "ok" if seconds <= STATS_TARGET_S and peak <= STATS_TARGET_MB else "OVER TARGET"
    print(
        f"stats --format json on {db.name}: {seconds:.2f} s (target <= {STATS_TARGET_S:g} s), "
        f"peak memory {peak:.0f} MB (target <= {STATS_TARGET_MB} MB) {verdict}"
    )


if __name__ == "__main__":
    bench_stats(Path(sys.argv[1] if len(sys.argv) > 1 else "bench-data/bench-100000.db"))
