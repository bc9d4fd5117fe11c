"""`make bench`: figures against the targets the issues name. Not a test; prints, never fails.

    python -m tests.bench.run [--sessions 100000] [--runs 10]

The database of synthetic sessions is built once with the store's own code and kept in
bench-data/ (delete it to rebuild).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Position,
    SessionSetup,
    SessionStatus,
)
from posturetest.store import Store
from tests.bench.common import BENCH_DIR, run_measured
from tests.bench.plots import bench_plot
from tests.bench.results import bench_stats

SUBJECTS_PER_SESSION = 4
"""Each synthetic subject comes back for this many sessions."""

START_TARGET_RATIO = 1.5
CONFIRM_TARGET_MS = 5.0
EXPORT_TARGET_RATIO = 2.0
EXPORT_TARGET_MB = 100
IMPORT_RUNS = 3
IMPORT_TARGET_ROWS_PER_S = 50_000


def build_database(path: Path, sessions: int) -> None:
    """Complete sessions, every trial rated, written through the store's own methods."""
    rng = random.Random(2026)
    path.parent.mkdir(parents=True, exist_ok=True)
    store = Store(path)
    existing = store.count("sessions")
    if existing >= sessions:
        store.close()
        return
    print(f"building {sessions:,} sessions in {path} (once; later runs reuse it)...", flush=True)
    started = time.perf_counter()
    batch = 1000
    base = time.mktime((2024, 1, 1, 0, 0, 0, 0, 0, 0))
    for first in range(existing, sessions, batch):
        with store.write():
            for i in range(first, min(first + batch, sessions)):
                when = time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + i * 600 + rng.randrange(600))
                )
                session = store.create_session(
                    SessionSetup(
                        subject=f"B-{i // SUBJECTS_PER_SESSION:06d}",
                        position=rng.choice(list(Position)),
                        scheme=OrderScheme.BALANCED,
                    ),
                    station="bench",
                    started_at=when,
                )
                store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
                for trial in store.trials(session.session_id):
                    for scale in session.scales:
                        store.record_rating(trial.trial_id, scale.name, rng.randint(0, 10))
                store.end_session(session.session_id, SessionStatus.COMPLETE)
        done = min(first + batch, sessions)
        if done % 10_000 == 0 or done == sessions:
            rate = (done - existing) / (time.perf_counter() - started)
            print(f"  {done:,} sessions ({rate:,.0f}/s)", flush=True)
    store.close()


_PROBE = """
import sys, time
from textual.app import App
real_run = App.run

def run_until_painted(self, *args, **kwargs):
    async def exit_when_ready(pilot):
        await pilot.pause()
        pilot.app.exit()
    kwargs["auto_pilot"] = exit_when_ready
    return real_run(self, *args, **kwargs)

App.run = run_until_painted
if sys.argv[1] == "bare":
    from textual.widgets import Label

    class Bare(App):
        def compose(self):
            yield Label("posturetest")

    Bare().run()
else:
    from posturetest.cli import main
    sys.argv = ["posturetest", "--db", sys.argv[2]]
    main()
"""


def _time_start(kind: str, db: Path) -> float:
    """Seconds from process start to exit right after the first screen was painted, on a pty."""
    import pty

    leader, follower = pty.openpty()
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", _PROBE, kind, str(db)],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "36"},
        )
        os.close(follower)
        follower = -1
        while proc.poll() is None:
            try:
                os.read(leader, 65536)  # keep the pty drained so the app never blocks writing
            except OSError:
                break
        proc.wait()
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} start probe exited {proc.returncode}")
        return elapsed
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)


def bench_start(db: Path, runs: int) -> tuple[float, float]:
    _time_start("bare", db)  # warm the file cache for both
    _time_start("posturetest", db)
    bare, ours = [], []
    for _ in range(runs):
        bare.append(_time_start("bare", db))
        ours.append(_time_start("posturetest", db))
    return statistics.median(bare), statistics.median(ours)


def _new_confirm_session(store: Store) -> str:
    session = store.create_session(SessionSetup(subject="BENCH-CONFIRM"), station="bench")
    store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
    return session.session_id


def bench_confirm(db: Path, ratings: int) -> tuple[float, float]:
    """Median and 95th percentile ms of record_rating (each its own durable commit).

    record_rating is all the work Enter does before the screen says "saved".
    """
    timings: list[float] = []
    rng = random.Random(1)
    with Store(db) as store:
        session_id = _new_confirm_session(store)
        scales = store.session(session_id).scales
        while len(timings) < ratings:
            pending = [t for t in store.trials(session_id) if t.outcome is Outcome.PENDING]
            if not pending:
                store.end_session(session_id, SessionStatus.COMPLETE)
                session_id = _new_confirm_session(store)
                continue
            for scale in scales:
                t0 = time.perf_counter()
                store.record_rating(pending[0].trial_id, scale.name, rng.randint(0, 10))
                timings.append((time.perf_counter() - t0) * 1000)
        store.end_session(session_id, SessionStatus.STOPPED)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95)]


def bench_export_import(db: Path, runs: int) -> None:
    posturetest = [sys.executable, "-m", "posturetest", "--db", str(db)]
    shell = shutil.which("sqlite3")
    if shell is None:
        print("export: the sqlite3 shell is not installed, no reference to compare with (skipped)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "trials.csv"
        ours, theirs, peaks = [], [], []
        for _ in range(runs):
            seconds, _peak = run_measured(
                [shell, "-csv", "-header", str(db), "select * from trial_results"]
            )
            theirs.append(seconds)
            seconds, peak = run_measured(
                [*posturetest, "export", "--format", "csv", "--out", str(out)]
            )
            ours.append(seconds)
            peaks.append(peak)
        ratio = statistics.median(ours) / statistics.median(theirs)
        rows = sum(1 for _ in out.open()) - 1
        verdict = (
            "ok"
            if ratio <= EXPORT_TARGET_RATIO and max(peaks) <= EXPORT_TARGET_MB
            else ("OVER TARGET")
        )
        print(
            f"export --format csv of {rows:,} trials: {statistics.median(ours):.2f} s vs sqlite3 "
            f"shell {statistics.median(theirs):.2f} s -> {ratio:.2f}x (target <= "
            f"{EXPORT_TARGET_RATIO}x); peak memory {max(peaks):.0f} MB (target <= "
            f"{EXPORT_TARGET_MB} MB) {verdict}"
        )
        times, peaks = [], []
        for run in range(IMPORT_RUNS):
            target = Path(tmp) / f"imported-{run}.db"
            seconds, peak = run_measured(
                [sys.executable, "-m", "posturetest", "--db", str(target), "import", str(out)]
            )
            times.append(seconds)
            peaks.append(peak)
            target.unlink()
        rate = rows / statistics.median(times)
        verdict = "ok" if rate >= IMPORT_TARGET_ROWS_PER_S else "UNDER TARGET"
        print(
            f"import of that export into an empty database: median {statistics.median(times):.2f} s"
            f" of {IMPORT_RUNS} (all: {', '.join(f'{t:.2f}' for t in times)}), {rate:,.0f} rows/s "
            f"(target >= {IMPORT_TARGET_ROWS_PER_S:,}/s), peak memory {max(peaks):.0f} MB {verdict}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=10, help="start-up runs of each app")
    parser.add_argument("--ratings", type=int, default=300, help="ratings timed for latency")
    args = parser.parse_args(argv)

    db = BENCH_DIR / f"bench-{args.sessions}.db"
    build_database(db, args.sessions)
    with Store(db) as store:
        sessions, trials = store.count("sessions"), store.count("trials")
    size_mb = db.stat().st_size / 1e6
    print(f"\ndatabase: {db} ({sessions:,} sessions, {trials:,} trials, {size_mb:,.0f} MB)")

    bare, ours = bench_start(db, args.runs)
    ratio = ours / bare
    verdict = "ok" if ratio <= START_TARGET_RATIO else "OVER TARGET"
    print(
        f"cold start to first painted home screen: posturetest {ours:.3f} s, bare Textual app "
        f"{bare:.3f} s -> {ratio:.2f}x (target <= {START_TARGET_RATIO}x) {verdict}"
    )

    bench_export_import(db, max(1, args.runs // 3))

    bench_stats(db)
    bench_plot(db)

    median, p95 = bench_confirm(db, args.ratings)
    verdict = "ok" if median <= CONFIRM_TARGET_MS else "OVER TARGET"
    print(
        f"confirm-to-committed latency of one rating: median {median:.2f} ms, p95 {p95:.2f} ms "
        f"(target median <= {CONFIRM_TARGET_MS} ms) {verdict}"
    )


if __name__ == "__main__":
    main()
