"""The store under unlucky circumstances: a full file, another writer, ctrl+c, read-only and
damaged files, and the one rule behind them all: this process never closes a descriptor of
its own on a database file it has a connection to."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from posturetest.domain import SessionSetup
from posturetest.importing import UnusableFile, import_file, parallel
from posturetest.store import (
    Store,
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreReadOnly,
    opening,
)
from posturetest.store.files import holds_connection, read_header

POSTURETEST = Path(sys.executable).parent / "posturetest"


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)) as conn:
        return conn.execute(sql).fetchall()


def test_every_connection_is_counted_until_it_is_closed(tmp_path: Path) -> None:
    db = tmp_path / "counted.db"
    link = tmp_path / "link.db"
    first = Store(db)
    link.symlink_to(db)
    assert holds_connection(db) and holds_connection(link)
    second = Store(link)  # a second name for the same file: no header read of its own
    first.close()
    assert holds_connection(db)
    with pytest.raises(RuntimeError, match="open as a database"):
        read_header(db)
    second.close()
    assert not holds_connection(db)
    assert read_header(db).startswith(b"SQLite format 3")


def test_a_full_file_is_one_line_and_the_store_goes_on(tmp_path: Path) -> None:
    db = tmp_path / "full.db"
    store = Store(db)
    pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
    store.conn.execute(f"PRAGMA max_page_count = {pages}")
    setup = SessionSetup(subject="S-FULL", repetitions=3)
    with pytest.raises(StoreFull, match="the disk is full"):
        for _ in range(50):  # each session adds rows until a new page is needed
            store.create_session(setup)
    assert not store.conn.in_transaction
    store.conn.execute("PRAGMA max_page_count = 1073741823")
    store.create_session(setup)  # the same store goes on once there is room
    store.close()
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


def test_another_writer_makes_a_write_busy_or_wait(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    store = Store(db)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    with store.busy_timeout(50), pytest.raises(StoreBusy, match="another program is writing"):
        store.ensure_subject("S-BUSY")
    assert not store.conn.in_transaction

    said: list[str] = []
    store.wait_for_writer = lambda: said.append("waiting")
    threading.Timer(1.5, lambda: other.execute("ROLLBACK")).start()
    started = time.monotonic()
    store.ensure_subject("S-WAIT")
    assert time.monotonic() - started >= 1.4
    assert said == ["waiting"]
    store.close()
    other.close()
    assert rows(db, "SELECT code FROM subjects") == [("S-WAIT",)]


def test_an_interrupted_write_is_rolled_back_whole(tmp_path: Path) -> None:
    db = tmp_path / "interrupted.db"
    store = Store(db)
    with pytest.raises(KeyboardInterrupt), store.write():
        store.ensure_subject("S-HALF")
        raise KeyboardInterrupt
    store.close()
    assert rows(db, "SELECT count(*) FROM subjects") == [(0,)]


def test_a_store_opened_to_read_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "read.db"
    Store(db).close()
    before = db.read_bytes()
    reader = Store(db, readonly=True)
    with pytest.raises(StoreReadOnly, match="opened only to read"):
        reader.ensure_subject("S-NO")
    reader.close()
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["read.db"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: None, "does not exist"),
        (lambda p: p.write_bytes(b""), "is an empty file"),
        (lambda p: os.mkfifo(p), "is a named pipe"),
        (lambda p: p.mkdir(), "is a folder"),
    ],
    ids=["missing", "empty", "fifo", "folder"],
)
def test_reading_refuses_what_is_not_a_database_and_creates_nothing(
    tmp_path: Path, make: object, message: str
) -> None:
    path = tmp_path / "odd.db"
    make(path)  # type: ignore[operator]
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(StoreError, match=message):
        Store(path, readonly=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    if path.is_file():
        assert path.stat().st_size == 0


def damaged_copy(tmp_path: Path) -> Path:
    db = tmp_path / "damaged.db"
    with Store(db) as store:
        for i in range(30):
            store.create_session(SessionSetup(subject=f"S-{i:03d}", repetitions=3))
    with closing(sqlite3.connect(db)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 8
    with db.open("r+b") as f:  # a page in the middle: the header and schema still read
        f.seek(4096 * (pages // 2))
        f.write(b"\x5a" * 4096)
    return db


def test_a_damaged_file_is_refused_before_any_write(tmp_path: Path) -> None:
    db = damaged_copy(tmp_path)
    before = db.read_bytes()
    with pytest.raises(StoreDamaged, match="damaged") as refused:
        Store(db, check=True)
    assert "\n" not in str(refused.value)
    background = Store(db, check_in_background=True)
    assert background.wait_checked(30) and background.damaged
    with pytest.raises(StoreDamaged):
        background.ensure_subject("S-NEW")
    background.close()
    assert db.read_bytes() == before


def test_a_read_only_drive_is_read_as_it_stands(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a read-only drive needs root")
    drive = tmp_path / "drive"
    drive.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(drive)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        db = drive / "station.db"
        with Store(db) as store:
            store.create_session(SessionSetup(subject="S-RO"))
        subprocess.run(["mount", "-o", "remount,ro", str(drive)], check=True)
        with Store(db, readonly=True) as reader:
            assert [r.subject for r in reader.recent_sessions()] == ["S-RO"]
        with pytest.raises(StoreReadOnly, match="read-only"):
            Store(db)
        assert sorted(p.name for p in drive.iterdir()) == ["station.db"]
    finally:
        subprocess.run(["umount", "-l", str(drive)], check=False)


def test_an_import_in_progress_is_named_as_such(tmp_path: Path) -> None:
    """While an import into a new file runs, the file has a rollback journal and the importer
    holds it; another command says so instead of "database is locked"."""
    db = tmp_path / "importing.db"
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "c.execute('PRAGMA journal_mode = DELETE')\n"
            "c.execute('BEGIN EXCLUSIVE')\n"
            "c.execute(\"INSERT INTO meta VALUES ('x', 'y')\")\n"
            "print('holding', flush=True)\n"
            "time.sleep(60)\n",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        done = subprocess.run(
            [str(POSTURETEST), "--db", str(db), "stats"], capture_output=True, text=True
        )
        assert time.monotonic() - started < 8
        assert done.returncode == 2
        assert done.stderr.strip().splitlines() == [
            f"posturetest: an import into {db} is in progress; try again when it has finished"
        ]
    finally:
        holder.kill()
        holder.wait()


def test_ctrl_c_while_import_waits_rolls_back_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "target.db"
    sample = tmp_path / "sample"
    subprocess.run(
        [str(POSTURETEST), "sample", "--out", str(sample), "--subjects", "3"],
        check=True,
        capture_output=True,
    )
    Store(db).close()
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    importing = subprocess.Popen(
        [str(POSTURETEST), "--db", str(db), "import", str(sample / "datapackage.json")],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert importing.stderr is not None
    line = importing.stderr.readline()
    assert "waiting for it to finish (ctrl+c to stop" in line
    importing.send_signal(signal.SIGINT)
    rest = importing.stderr.read()
    assert importing.wait(timeout=10) == 130
    assert rest.strip().splitlines() == [
        "posturetest: stopped (ctrl+c); what was under way was rolled back"
    ]
    other.execute("ROLLBACK")
    other.close()
    assert rows(db, "SELECT count(*) FROM sessions") == [(0,)]


def test_a_garbled_frame_from_the_checking_process_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A length of 2**62 once led to a MemoryError: lengths are bounded now."""
    frames: parallel.queue.Queue[bytes | None] = parallel.queue.Queue()
    parallel._receive(io.BytesIO((2**62).to_bytes(8, "little") + b"x" * 10), frames)
    assert frames.get() == parallel.GARBLED and frames.get() is None

    source = tmp_path / "trials.csv"
    subprocess.run(
        [str(POSTURETEST), "sample", "--out", str(tmp_path / "s"), "--subjects", "2"],
        check=True,
        capture_output=True,
    )
    source.write_bytes((tmp_path / "s" / "trials.csv").read_bytes())
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    monkeypatch.setattr(
        parallel,
        "_WORKER_CODE",
        "import sys; sys.stdout.buffer.write((2**62).to_bytes(8, 'little')); sys.stdout.flush()",
    )
    db = tmp_path / "target.db"
    with Store(db) as store:
        with pytest.raises(UnusableFile) as refused:
            import_file(store, source)
        assert refused.value.problems == [
            f"{source}: the process checking this file sent garbled data"
        ]
        assert store.count("trials") == 0


def test_opening_a_held_file_never_reads_it_through_a_descriptor_of_its_own(tmp_path: Path) -> None:
    """Opening a file this process holds never reads it through a descriptor of its own."""
    db = tmp_path / "watched.db"
    held = Store(db)
    opened: list[str] = []
    real_open = os.open

    def watching(path: object, *args: object, **kwargs: object) -> int:
        opened.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    try:
        opening.os.open = watching  # type: ignore[assignment]
        Store(db).close()
        Store(db, readonly=True).close()
    finally:
        opening.os.open = real_open  # type: ignore[assignment]
        held.close()
    assert str(db) not in opened
