"""What the torture test needs besides the driver: outside readers, and the check of a log.

The readers run as their own processes, the way the rest of the world touches a database file:

    python tests/e2e/torture_lib.py py-reader DB SEED    # sqlite3.connect, one SELECT, close; again
    python tests/e2e/torture_lib.py cli-reader DB SEED   # `sqlite3 DB 'select ...'`; again

Each opening and closing is an ordinary connection: if it believes it is the file's last user,
SQLite checkpoints the write-ahead log and deletes it as it closes. They loop until killed.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

RATING_COLUMNS = ("tester_stability", "subject_ease", "discomfort", "tester_effort")
READER_SQL = "SELECT count(*), max(rated_at) FROM trials"


@dataclass(frozen=True)
class Rating:
    """One line of a driver's log: a rating the screen showed as saved."""

    trial_id: str
    scale: str
    value: int
    cycle: int
    seed: int


@dataclass(frozen=True)
class Lost:
    rating: Rating
    found: str
    """What the file holds instead: 'no such trial', 'NULL', or another value."""

    def __str__(self) -> str:
        r = self.rating
        return (
            f"cycle {r.cycle} (seed {r.seed}): trial {r.trial_id} {r.scale} = {r.value} "
            f"was shown saved; the file has {self.found}"
        )


def read_log(path: Path, cycle: int, seed: int) -> list[Rating]:
    """Every complete line (a line cut short by the kill was never fully written: skipped)."""
    if not path.exists():
        return []
    ratings = []
    for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.endswith("\n"):
            continue
        trial_id, scale, value = line.split()
        if scale not in RATING_COLUMNS:
            raise ValueError(f"{path}: unknown scale in {line!r}")
        ratings.append(Rating(trial_id, scale, int(value), cycle, seed))
    return ratings


def integrity(db: Path) -> str:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(r[0]) for r in rows)


def check_ratings(db: Path, ratings: Iterable[Rating]) -> list[Lost]:
    """The ratings the file does not hold with the value the screen showed."""
    wanted = list(ratings)
    if not wanted:
        return []
    columns = ", ".join(RATING_COLUMNS)
    stored: dict[str, tuple[int | None, ...]] = {}
    ids = sorted({r.trial_id for r in wanted})
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            for trial_id, *values in conn.execute(
                f"SELECT trial_id, {columns} FROM trials WHERE trial_id IN ({marks})", chunk
            ):
                stored[trial_id] = tuple(values)
    lost = []
    for r in wanted:
        row = stored.get(r.trial_id)
        if row is None:
            lost.append(Lost(r, "no such trial"))
            continue
        value = row[RATING_COLUMNS.index(r.scale)]
        if value != r.value:
            lost.append(Lost(r, "NULL" if value is None else str(value)))
    return lost


# -- outside readers (subprocesses) -------------------------------------------------------------


def py_reader(db: str, seed: int) -> None:
    rng = random.Random(seed)
    while True:
        try:
            conn = sqlite3.connect(db, timeout=10)
            try:
                conn.execute(READER_SQL).fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # a table not made yet, a busy moment: the next round tries again
        time.sleep(rng.uniform(0.005, 0.04))


def cli_reader(db: str, seed: int) -> None:
    rng = random.Random(seed)
    while True:
        subprocess.run(
            ["sqlite3", db, READER_SQL],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        time.sleep(rng.uniform(0.01, 0.06))


if __name__ == "__main__":
    kind, db_arg, seed_arg = sys.argv[1:4]
    {"py-reader": py_reader, "cli-reader": cli_reader}[kind](db_arg, int(seed_arg))
