"""What the benchmarks share: where the benchmark databases live, and one command measured from
outside (wall time and peak memory)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

BENCH_DIR = Path("bench-data")


def run_measured(args: list[str], stdout: int | None = subprocess.DEVNULL) -> tuple[float, float]:
    """(seconds, peak resident MB) of one command, measured from outside."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(
            f"{' '.join(args[:3])}... failed: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss / 1024
