"""Benchmark of `posturetest stats` against its targets, for `make bench` (tests/bench/run.py).

    python -m tests.bench.results [DATABASE]

Run as a user runs it: a fresh interpreter, so the time includes importing numpy and scipy.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.bench.common import run_measured

STATS_TARGET_S = 3.0
STATS_TARGET_MB = 300


def bench_stats(db: Path) -> None:
    """Time `posturetest stats --format json` on `db` and print one line against the targets.

    Opens the database only through the command, which reads it and writes nothing.
    """
    seconds, peak = run_measured(
        [sys.executable, "-m", "posturetest", "--db", str(db), "stats", "--format", "json"]
    )
    verdict = "ok" if seconds <= STATS_TARGET_S and peak <= STATS_TARGET_MB else "OVER TARGET"
    print(
        f"stats --format json on {db.name}: {seconds:.2f} s (target <= {STATS_TARGET_S:g} s), "
        f"peak memory {peak:.0f} MB (target <= {STATS_TARGET_MB} MB) {verdict}"
    )


if __name__ == "__main__":
    bench_stats(Path(sys.argv[1] if len(sys.argv) > 1 else "bench-data/bench-100000.db"))
