"""Time `posturetest plot compare` against its targets. Not a test; prints, never fails.

    python -m tests.bench.plots [--sessions 100000]

Uses the database `make bench` builds in bench-data/ and only reads it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.bench.common import BENCH_DIR, run_measured

PLOT_TARGET_S = 3.0
PLOT_TARGET_MB = 300


def bench_plot(db: Path) -> None:
    """One run of `plot compare` to a PNG, measured from outside: wall time and peak memory."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "compare.png"
        seconds, peak = run_measured(
            [
                sys.executable,
                "-m",
                "posturetest",
                "--db",
                str(db),
                "plot",
                "compare",
                "--out",
                str(out),
            ]
        )
    verdict = "ok" if seconds <= PLOT_TARGET_S and peak <= PLOT_TARGET_MB else "OVER TARGET"
    print(
        f"plot compare to PNG: {seconds:.2f} s (target <= {PLOT_TARGET_S:.0f} s), peak memory "
        f"{peak:.0f} MB (target <= {PLOT_TARGET_MB} MB) {verdict}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args(argv)
    db = BENCH_DIR / f"bench-{args.sessions}.db"
    if not db.exists():
        print(f"{db} does not exist: run `make bench` first to build it")
        return
    bench_plot(db)


if __name__ == "__main__":
    main()
