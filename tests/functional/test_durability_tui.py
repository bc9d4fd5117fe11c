"""The trial screen when the file cannot take a rating at once: another program holds it, the
disk is full, the file is damaged. The value stays on screen, the screen says it is not saved,
and "✓ saved" appears only once it is committed."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot

from posturetest.store import Store
from posturetest.store.files import BUSY_TIMEOUT_MS
from posturetest.tui.app import PostureTestApp
from posturetest.tui.widgets.rating import RatingScale
from tests.disks import fill_disk, small_disk
from tests.factories import started_session
from tests.functional.pilot import SIZE, notices, screen_text, session_pilot

POSTURETEST = Path(sys.executable).parent / "posturetest"
HOLD_SECONDS = BUSY_TIMEOUT_MS / 1000 + 1.5
"""Longer than the busy timeout: the case that used to close the app and lose the rating."""

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("ROLLBACK")
"""


@contextmanager
def writer_holding(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """Another process that takes the file's write lock and keeps it for `seconds`."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def stored(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def first_ratings(db: Path) -> tuple[object, ...]:
    return stored(db, "SELECT tester_stability, subject_ease FROM trials WHERE seq = 1")[0]


async def wait_until(pilot: Pilot[int], done: Callable[[], bool], timeout: float) -> None:
    """Let the app run (in short pauses) until `done` holds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s; the screen:\n{screen_text(pilot.app)}")
        await pilot.pause(0.1)


def scale(app: PostureTestApp, name: str) -> RatingScale:
    return app.screen.query_one(f"#rate-{name}", RatingScale)


async def test_a_rating_waits_out_a_writer_holding_the_file_and_so_do_import_and_merge(
    store: Store, db_file: Path, tmp_path: Path
) -> None:
    session_id = started_session(store)
    sample = tmp_path / "sample"
    subprocess.run(
        [str(POSTURETEST), "sample", "--out", str(sample), "--subjects", "2"],
        check=True,
        capture_output=True,
    )
    station = tmp_path / "station.db"
    subprocess.run(
        [str(POSTURETEST), "--db", str(station), "import", str(sample / "datapackage.json")],
        check=True,
        capture_output=True,
    )
    async with session_pilot(store, session_id) as (app, pilot):
        with writer_holding(db_file, HOLD_SECONDS) as holder:
            started = time.monotonic()
            importing = subprocess.Popen(
                [str(POSTURETEST), "--db", str(db_file), "import", str(sample / "trials.csv")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            merging = subprocess.Popen(
                [str(POSTURETEST), "merge", "--db", str(db_file), str(station)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            await pilot.press("7", "enter")
            stability = scale(app, "tester_stability")
            assert "waiting for the file: not saved yet" in screen_text(app)
            assert "✓ saved" not in screen_text(app)
            assert "Another program is writing to the database" in screen_text(app)
            assert first_ratings(db_file) == (None, None)
            # Keys typed while it waits change nothing, and nothing is lost.
            await pilot.press("3", "enter")
            assert stability.value == 7
            await pilot.pause(2.0)  # well past the first tries: still waiting, nothing written
            assert stability.waiting and first_ratings(db_file) == (None, None)
            await wait_until(pilot, lambda: holder.poll() is not None, HOLD_SECONDS + 5)
            assert time.monotonic() - started > BUSY_TIMEOUT_MS / 1000
        await wait_until(pilot, lambda: stability.saved, 30)
        assert "✓ saved" in screen_text(app)
        assert "not saved" not in screen_text(app)
        assert first_ratings(db_file) == (7, None)
        # The next scale takes keys again.
        await pilot.press("4", "enter")
        await wait_until(pilot, lambda: scale(app, "subject_ease").saved, 5)
        assert first_ratings(db_file) == (7, 4)
    for command, process in (("import", importing), ("merge", merging)):
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (command, err)
        assert err.count("waiting for it to finish") == 1, (command, err)
        assert "Traceback" not in err
    assert stored(db_file, "SELECT count(DISTINCT session_id) FROM trials")[0][0] == 3
    assert stored(db_file, "PRAGMA integrity_check") == [("ok",)]


async def test_leaving_or_quitting_while_a_rating_waits_asks_twice(
    store: Store, db_file: Path
) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        with writer_holding(db_file, 60):
            await pilot.press("6", "enter")
            assert "waiting for the file" in screen_text(app)
            await pilot.press("escape")
            assert scale(app, "tester_stability").waiting  # still on the trial
            await pilot.pause()
            assert any("Press Esc again" in n for n in notices(app)), notices(app)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert app.is_running
            assert any("Press ctrl+q again" in n for n in notices(app)), notices(app)
            await pilot.press("ctrl+q")
            await pilot.pause()
            assert not app.is_running
    assert first_ratings(db_file) == (None, None)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    with small_disk(tmp_path / "disk") as folder:
        yield folder


async def test_a_full_disk_keeps_the_value_and_enter_tries_again(disk: Path) -> None:
    db = disk / "full.db"
    store = Store(db)
    try:
        session_id = started_session(store)
        async with session_pilot(store, session_id) as (app, pilot):
            filler = fill_disk(disk)
            stability = scale(app, "tester_stability")
            for value in ("8", "9", "2"):  # the log may still hold a page or two
                await pilot.press(value, "enter")
                await pilot.pause()
                if not stability.saved:
                    break
                await pilot.press("escape")
                app.show_next_step(session_id)
                await pilot.pause()
                stability = scale(app, "tester_stability")
            text = screen_text(app)
            assert "✗ not saved" in text and "disk is full" in text, text
            assert not stability.saved and stability.value == int(value)
            assert app.is_running
            trial_id = app.screen.trial.trial_id  # type: ignore[attr-defined]
            # Room again (a file was deleted): Enter saves the value that was kept.
            filler.unlink()
            await pilot.press("enter")
            await pilot.pause()
            assert stability.saved
            assert "not saved" not in screen_text(app)
        row = stored(db, f"SELECT tester_stability FROM trials WHERE trial_id = '{trial_id}'")
        assert row == [(int(value),)]
        assert stored(db, "PRAGMA integrity_check") == [("ok",)]
    finally:
        store.close()


def damage_page(db: Path, table: str) -> None:
    """Overwrite the first page of `table` (found through dbstat) with garbage."""
    with closing(sqlite3.connect(db)) as conn:
        page = conn.execute("SELECT min(pageno) FROM dbstat WHERE name = ?", (table,)).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with db.open("r+b") as f:
        f.seek((page - 1) * size)
        f.write(b"\xa5" * size)


async def test_a_damaged_file_is_said_and_takes_no_rating(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    with Store(db) as setup:
        session_id = started_session(setup)
    damage_page(db, "corrections_by_trial")  # a page the home screen never reads
    before = db.read_bytes()
    store = Store(db, check_in_background=True)
    try:
        app = PostureTestApp(store)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: "This database is damaged" in screen_text(app), 10)
            assert "nothing more is recorded" in screen_text(app)
            await pilot.press("escape")  # the notice stays
            assert "This database is damaged" in screen_text(app)
            app.pop_screen()  # even past it, no rating goes in
            app.show_next_step(session_id)
            await pilot.pause()
            await pilot.press("5", "enter")
            await pilot.pause()
            assert "✓ saved" not in screen_text(app)
            assert "damaged" in screen_text(app)
    finally:
        store.close()
    assert db.read_bytes() == before
    assert not Path(f"{db}-wal").exists() or Path(f"{db}-wal").stat().st_size == 0


@pytest.mark.skipif(shutil.which("sqlite3") is None, reason="needs the sqlite3 command")
def test_a_second_in_app_connection_keeps_the_locks_that_protect_the_log(tmp_path: Path) -> None:
    """The bug behind the issue, at its smallest: a second connection of the app's own (the
    results screen), then another program reading the file; a rating committed after that
    must survive kill -9."""
    db = tmp_path / "locks.db"
    script = f"""
import os, signal, subprocess
from posturetest.domain import SAFETY_KEYS, SessionSetup
from posturetest.store import Store
store = Store({str(db)!r})
session = store.create_session(SessionSetup(subject="S-1"))
store.record_safety(session.session_id, {{k: False for k in SAFETY_KEYS}})
trials = store.trials(session.session_id)
store.record_rating(trials[0].trial_id, "tester_stability", 5)
Store({str(db)!r}).close()
subprocess.run(["sqlite3", {str(db)!r}, "select count(*) from trials"], check=True,
               capture_output=True)
store.record_rating(trials[1].trial_id, "tester_stability", 7)
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    assert stored(db, "SELECT seq, tester_stability FROM trials WHERE seq <= 2 ORDER BY seq") == [
        (1, 5),
        (2, 7),
    ]
    assert stored(db, "PRAGMA integrity_check") == [("ok",)]
