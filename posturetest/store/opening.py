"""Opening a database file: refuse what is not ours, create new files owner-only, migrate forward.

Every refusal happens before anything is written, so a refused file is left exactly as it was.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from posturetest.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_MS = 10_000
"""Two stations sharing a file wait for each other this long instead of failing as locked."""


class StoreError(Exception):
    """A database that cannot be used. The message is one line, fit to show a user."""


def _describe(path: Path) -> str:
    return str(path)


def _check_file(path: Path) -> bool:
    """Refuse paths that cannot hold our database. True when the file must be created."""
    if path.is_dir():
        raise StoreError(f"{_describe(path)} is a folder, not a database file")
    if not path.exists():
        if not path.parent.is_dir():
            raise StoreError(
                f"cannot create {_describe(path)}: folder {path.parent} does not exist"
            )
        return True
    try:
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as e:
        raise StoreError(f"cannot read {_describe(path)}: {e.strerror or e}") from None
    if header and not header.startswith(SQLITE_HEADER):
        raise StoreError(f"{_describe(path)} is not a SQLite database (refused, left untouched)")
    if len(header) == 100:
        # Refuse from the file header alone where it can: opening a write-ahead-log database,
        # even read-only, would create its -wal and -shm files beside it.
        version = int.from_bytes(header[60:64], "big")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(
                f"{_describe(path)} is a SQLite database but not a posturetest one; refused, "
                "left untouched"
            )
        if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
            raise StoreError(_newer(_describe(path), version))
    return False


def _newer(where: str, version: int) -> str:
    return (
        f"{where} was written by a newer posturetest (schema {version}; this version reads "
        f"up to {SCHEMA_VERSION}); refused, left untouched. Upgrade posturetest to open it."
    )


def _create_owner_only(path: Path) -> None:
    """Health data: a new database is readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as e:
        raise StoreError(f"cannot create {_describe(path)}: {e.strerror or e}") from None
    os.close(fd)


def _inspect(conn: sqlite3.Connection, where: str) -> int:
    """The file's schema version, after checking it is ours (or empty) and readable."""
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.DatabaseError as e:
        raise StoreError(
            f"{where} is damaged or not a database ({e}); refused, left untouched"
        ) from None
    if app_id != APPLICATION_ID and (tables or version or app_id):
        raise StoreError(
            f"{where} is a SQLite database but not a posturetest one; refused, left untouched"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(_newer(where, version))
    return version


def migrate(conn: sqlite3.Connection, from_version: int) -> None:
    """Run every missing migration in one transaction: all of them or none."""
    if from_version >= SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for step in MIGRATIONS[from_version:]:
            step(conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A ready connection: checked, migrated, WAL, foreign keys on, durable commits."""
    memory = str(path) == ":memory:"
    p = Path(path)
    where = ":memory:" if memory else _describe(p)
    create = False if memory else _check_file(p)
    if create:
        _create_owner_only(p)
    try:
        conn = sqlite3.connect(
            ":memory:" if memory else p,
            timeout=BUSY_TIMEOUT_MS / 1000,
            check_same_thread=False,
        )
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {where}: {e}") from None
    try:
        version = _inspect(conn, where)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not memory:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot use {where}: it refused write-ahead logging ({mode})")
        conn.execute("PRAGMA synchronous = FULL")
        migrate(conn, version)  # with foreign keys off, as SQLite's table rebuilds need
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(f"cannot use {where}: {e}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Another station's database, read-only: ours, undamaged, and not of a newer schema.

    An older one is read as it is, so a station that has not updated posturetest yet can be
    merged: since version 1 no schema changed a column a merge reads (2 added a secret for
    de-identified exports, 3 made the checks cheaper).
    """
    p = Path(path)
    where = _describe(p)
    if not p.exists():
        raise StoreError(f"{where} does not exist")
    _check_file(p)
    try:
        conn = sqlite3.connect(
            f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except sqlite3.Error as e:
        raise StoreError(f"cannot open {where}: {e}") from None
    try:
        version = _inspect(conn, where)
        if version == 0:
            raise StoreError(f"{where} is an empty database, not a posturetest one")
        conn.execute("SELECT count(*) FROM trials").fetchone()
    except sqlite3.Error as e:
        conn.close()
        raise StoreError(f"{where} is damaged ({e}); refused, left untouched") from None
    except BaseException:
        conn.close()
        raise
    return conn
