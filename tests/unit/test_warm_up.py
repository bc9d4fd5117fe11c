"""The app's start-up thread (it imports sqlite-utils early) runs no SQL on the app's own
connection: building sqlite-utils' wrapper there committed, half-way, a write that the UI had
just begun (a session typed fast enough to start within the first second)."""

from __future__ import annotations

import threading
from pathlib import Path

from posturetest.store import Store
from posturetest.tui.app import PostureTestApp


async def test_the_warm_up_thread_runs_no_sql_on_the_apps_connection(tmp_path: Path) -> None:
    store = Store(tmp_path / "study.db")
    threads: set[str] = set()
    store.conn.set_trace_callback(lambda _sql: threads.add(threading.current_thread().name))
    app = PostureTestApp(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(1.3)  # the warm-up starts one second after the first paint
        await app.workers.wait_for_complete()
    store.conn.set_trace_callback(None)
    assert threads <= {threading.main_thread().name}, threads


def test_a_write_begun_while_another_thread_first_builds_the_wrapper_stays_whole(
    tmp_path: Path,
) -> None:
    """Many rounds of a thread touching `Store.db` for the first time while the main thread
    writes: every write commits whole."""
    for n in range(20):
        store = Store(tmp_path / f"race-{n}.db")
        toucher = threading.Thread(target=lambda s=store: s.db)
        toucher.start()
        with store.write() as db:
            db.execute("CREATE TABLE IF NOT EXISTS scratch_race (x)")
            db.execute("INSERT INTO scratch_race VALUES (1)")
        toucher.join()
        assert store.conn.execute("SELECT count(*) FROM scratch_race").fetchone() == (1,)
        store.close()
