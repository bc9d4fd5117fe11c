"""One open database: its connection, the background check of the file, and transactions.

`Store` builds on this; every read and write of a session goes through `_rows` and `write()`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from posturetest.store.errors import (
    RecordError,
    StoreDamaged,
    StoreReadOnly,
    describe,
    is_busy,
    is_file_problem,
)
from posturetest.store.files import BUSY_TIMEOUT_MS
from posturetest.store.opening import connect, damage

if TYPE_CHECKING:
    import sqlite_utils

BATCH = 5000
"""Rows fetched at a time when a query's rows are streamed (`batches`)."""


def utc_now() -> str:
    """ISO 8601 UTC to the second, as in every export: 2026-11-24T09:15:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


class Transactions:
    """The connection, the background check of its file, and transactions: what `Store` is
    built on. Safe to share between the UI thread and worker threads."""

    NOTICE_AFTER_MS = 1000
    """With `wait_for_writer`: how long another writer may hold the file before it is said."""
    WAIT_STEP_MS = 250
    """While waiting for another writer, how often to look again (and to see ctrl+c)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        readonly: bool = False,
        check: bool = False,
        check_in_background: bool = False,
    ) -> None:
        """`readonly`: a command that only reads (nothing is created, migrated or written).
        `check`: refuse a damaged file now. `check_in_background`: check it in a thread of its
        own, beside the work; writes wait for the answer, and a damaged file takes none."""
        self.path = str(path)
        self.readonly = readonly
        self.conn = connect(path, readonly=readonly, check=check)
        self._lock = threading.RLock()
        self._db: sqlite_utils.Database | None = None
        self.wait_for_writer: Callable[[], None] | None = None
        """When set, a write that finds the file held by another writer waits for it (calling
        this once, to say so) instead of failing; ctrl+c stops the wait."""
        self.damaged: str | None = None
        """What the background check found wrong with the file, if anything."""
        self._checked = threading.Event()
        self._checking: sqlite3.Connection | None = None
        self._checker: threading.Thread | None = None
        if check_in_background and self.path != ":memory:":
            self._checking = connect(self.path, readonly=True)
            self._checker = threading.Thread(
                target=self._check, args=(self._checking,), name="posturetest-check", daemon=True
            )
            self._checker.start()
        else:
            self._checked.set()

    def _check(self, conn: sqlite3.Connection) -> None:
        try:
            self.damaged = damage(conn)
        except sqlite3.Error as e:
            if isinstance(describe(e, self.path), StoreDamaged):
                self.damaged = str(e)  # else (interrupted by close) it is no verdict
        finally:
            self._checked.set()

    def wait_checked(self, timeout: float | None = None) -> bool:
        """Wait for the background check; True once it has answered."""
        return self._checked.wait(timeout)

    def require_sound(self) -> None:
        """Wait for the background check and refuse (StoreDamaged) a damaged file: a command
        that only reads asks before it hands over what it read."""
        self._checked.wait()
        if self.damaged:
            raise StoreDamaged(f"{self.path} is damaged ({self.damaged}); refused")

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils on our connection, imported on first use: the import costs ~80 ms, and
        the home screen only reads (the app imports it in a thread once the first screen is
        painted). It is built under the connection's lock: building it runs a PRAGMA and then
        commits any transaction that opened meanwhile, which would end another thread's write
        half-way."""
        db = self._db
        if db is None:
            import sqlite_utils

            with self._lock:
                if self._db is None:
                    self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
                db = self._db
        return db

    def close(self) -> None:
        """Close the connection, and the background check's (interrupted if still running, so
        a command that stops early leaves no -wal or -shm behind)."""
        if self._checking is not None:
            self._checking.interrupt()
            if self._checker is not None:
                self._checker.join()
            self._checking.close()
            self._checking = None
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def busy_timeout(self, milliseconds: int) -> Iterator[None]:
        """Wait at most this long for another writer (the UI's first try at a save)."""
        with self._lock:
            self.conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: the write lock up front, so a second station waits (busy timeout)
        instead of failing half-way through; with `wait_for_writer`, as long as it takes."""
        if self.readonly:
            raise StoreReadOnly(f"{self.path} was opened only to read; nothing is written to it")
        self._checked.wait()
        if self.damaged:
            raise StoreDamaged(
                f"{self.path} is damaged ({self.damaged}); nothing more is written into it"
            )
        if self.wait_for_writer is None:
            self._try_begin(waiting=False)
            return
        with self.busy_timeout(self.NOTICE_AFTER_MS):
            if self._try_begin(waiting=True):
                return
        self.wait_for_writer()
        with self.busy_timeout(self.WAIT_STEP_MS):
            while not self._try_begin(waiting=True):
                pass

    def _try_begin(self, *, waiting: bool) -> bool:
        """BEGIN IMMEDIATE once; False if another writer held the file past the busy timeout
        and `waiting`, else any failure as a StoreError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            if waiting and is_busy(e):
                return False
            raise describe(e, self.path) from None
        return True

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Writes to this connection's temp tables only, committed at the end: no lock on the
        file is taken, so it works on a store opened read-only."""
        with self._lock:
            try:
                yield
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it does after a full disk)."""
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One committed transaction; nested calls join the outer one.

        A problem of the file or the disk (busy, full, read-only, damaged) leaves as a
        StoreError with one line to show, after the transaction was rolled back.
        """
        with self._lock:
            if self.conn.in_transaction:
                yield self.db
                return
            self._begin()
            try:
                yield self.db
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                if is_file_problem(e):
                    raise describe(e, self.path) from None
                raise
            except BaseException:
                self._rollback()
                raise

    _PRIMARY_KEYS = {"trials": "trial_id", "sessions": "session_id"}

    def _update(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        """UPDATE one row by primary key (sqlite-utils' Table.update introspects the table on
        every call, which tripled the cost of saving a rating)."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        cursor = self.db.execute(
            f"UPDATE {table} SET {assignments} WHERE {self._PRIMARY_KEYS[table]} = ?",
            [*values.values(), key],
        )
        if cursor.rowcount != 1:
            raise RecordError(f"no {table[:-1]} {key}")

    @contextmanager
    def large_cache(self, mebibytes: int = 256) -> Iterator[None]:
        """A bigger page cache for bulk writes (random UUID keys touch pages all over)."""
        with self._lock:
            before = self.conn.execute("PRAGMA cache_size").fetchone()[0]
            self.conn.execute(f"PRAGMA cache_size = {-mebibytes * 1024}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA cache_size = {int(before)}")

    @contextmanager
    def rollback_journal(self) -> Iterator[bool]:
        """For one large write into a file no other connection has open: a rollback journal
        instead of the write-ahead log while it lasts, so each page is written once, into the
        file, instead of into the log and again when the log is copied back. The transaction
        stays all or nothing and its commit as durable. Yields whether it switched: with any
        other connection on the file, nothing changes (it does not wait for one to close)."""
        switched = False
        with self._lock:
            if self.path != ":memory:" and not self.conn.in_transaction:
                self.conn.execute("PRAGMA busy_timeout = 0")
                try:
                    mode = self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
                    switched = str(mode).lower() == "delete"
                except sqlite3.OperationalError:
                    switched = False  # another connection holds the file
                finally:
                    self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                yield switched
            finally:
                if switched:  # back to the log; if that fails, the next opening sets it
                    with suppress(sqlite3.OperationalError):
                        self.conn.execute("PRAGMA journal_mode = WAL")

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                if is_file_problem(e):
                    raise describe(e, self.path) from None
                raise

    def batches(self, sql: str, params: Sequence[Any] = ()) -> Iterator[list[Any]]:
        """The query's rows, `BATCH` at a time, so a large result never sits in memory whole."""
        with self._lock:
            cursor = self.conn.execute(sql, params)
            while batch := cursor.fetchmany(BATCH):
                yield batch
