"""Opening a database: refuse what is not ours or is damaged, migrate forward, set it up.

Every refusal happens before anything is written, so a refused file is left exactly as it was.
The checks of the path and its header, and the count of connections they rely on, are in
`posturetest.store.files`.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from posturetest.store.errors import (
    StoreDamaged,
    StoreError,
    StoreReadOnly,
    describe,
    import_in_progress,
)
from posturetest.store.files import (
    BUSY_TIMEOUT_MS,
    COMPANIONS,
    REGISTRY_LOCK,
    check_header,
    check_regular,
    create_owner_only,
    file_key,
    file_uri,
    holds_connection,
    is_held,
    newer,
    no_unsaved_log,
    owner_only,
    stat_path,
    tracked_connect,
    writable_folder,
)
from posturetest.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION


def _inspect(conn: sqlite3.Connection, where: str) -> int:
    """The file's schema version, after checking it is ours (or empty) and readable."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if app_id != APPLICATION_ID and (tables or version or app_id):
        raise StoreError(
            f"{where} is a SQLite database but not a posturetest one; refused, left untouched"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(newer(where, version))
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
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def damage(conn: sqlite3.Connection) -> str | None:
    """What `PRAGMA quick_check` finds wrong (the first problem), or None for a sound file."""
    row = conn.execute("PRAGMA quick_check(1)").fetchone()
    if row is None or row[0] == "ok":
        return None
    lines = [line for line in str(row[0]).splitlines() if not line.startswith("***")]
    return " ".join(" ".join(lines).split()) or "it failed its check"


def check_sound(conn: sqlite3.Connection, where: str) -> None:
    """Refuse a damaged file before anything is written into it."""
    try:
        problem = damage(conn)
    except sqlite3.DatabaseError as e:
        raise describe(e, where) from None
    if problem is not None:
        raise StoreDamaged(f"{where} is damaged ({problem}); refused, left untouched")


def connect(
    path: str | os.PathLike[str], *, readonly: bool = False, check: bool = False
) -> sqlite3.Connection:
    """A ready connection: checked, migrated, WAL, foreign keys on, durable commits.

    `readonly`: for commands that only read. The file must already be a posturetest database;
    nothing is created, migrated or written (an older schema is read as it is), and a copy on
    a read-only folder or drive can be read. `check`: run `PRAGMA quick_check` first and refuse
    a damaged file (commands that write into the file ask for it).
    """
    if str(path) == ":memory:":
        conn = tracked_connect(":memory:", None)
        try:
            migrate(conn, _inspect(conn, ":memory:"))
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn
    p = Path(path)
    where = str(p)
    with REGISTRY_LOCK:
        st = stat_path(p)
        if st is None:
            if readonly:
                raise StoreError(f"{where} does not exist (no database there)")
            writable_folder(p)
            create_owner_only(p)
            st = stat_path(p)
            assert st is not None
        else:
            check_regular(p, st)
            if st.st_size == 0 and readonly:
                raise StoreError(f"{where} is an empty file, not a posturetest database")
            if not is_held(file_key(st)):
                check_header(p)
        writable = os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK)
        if not readonly and not writable:
            if not os.access(p, os.W_OK):
                raise StoreReadOnly(
                    f"cannot write to {where}: the file or its drive is read-only; "
                    "reading commands (stats, export, plot, report) still work on it"
                )
            writable_folder(p)
        try:
            if writable:
                conn = tracked_connect(file_uri(p, mode="rw"), file_key(st))
            else:
                conn = tracked_connect(file_uri(p, mode="ro"), file_key(st))
                try:
                    conn.execute("PRAGMA schema_version").fetchone()
                except sqlite3.OperationalError as e:
                    if getattr(e, "sqlite_errorname", "") not in (
                        "SQLITE_READONLY_DIRECTORY",
                        "SQLITE_CANTOPEN",
                    ):
                        raise
                    conn.close()
                    no_unsaved_log(p)
                    # Nobody can write where no -wal or -journal can be created: reading the
                    # file as it stands is safe.
                    conn = tracked_connect(file_uri(p, mode="ro", immutable="1"), file_key(st))
        except sqlite3.Error as e:
            raise describe(e, where) from None
    try:
        if import_in_progress(where):  # say so soon, rather than after the whole busy timeout
            conn.execute("PRAGMA busy_timeout = 500")
        version = _inspect(conn, where)
        if readonly and version == 0:
            raise StoreError(f"{where} is an empty database, not a posturetest one")
        if check:
            check_sound(conn, where)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            if st.st_size == 0:
                owner_only(p)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot use {where}: it refused write-ahead logging ({mode})")
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn, version)  # with foreign keys off, as SQLite's table rebuilds need
            conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as e:
        conn.close()
        raise describe(e, where) from None
    except BaseException:
        conn.close()
        raise
    return conn


def open_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Another station's database, read-only: ours, undamaged, and not of a newer schema.

    An older one is read as it is, so a station that has not updated posturetest yet can be
    merged: since version 1 no schema changed a column a merge reads (2 added a secret for
    de-identified exports, 3 made the checks cheaper, 4 the note rule's triggers; 5 added the
    sessions' end_reason, which a file without it has none of: see `schema.end_reason_sql`).
    """
    where = str(path)
    conn = connect(path, readonly=True, check=True)
    try:
        conn.execute("SELECT count(*) FROM trials").fetchone()
    except sqlite3.Error as e:
        conn.close()
        raise StoreDamaged(f"{where} is damaged ({e}); refused, left untouched") from None
    return conn


def remove_if_empty(path: Path) -> None:
    """Remove a database file that holds no session, with its companions, when no connection
    of this process is open on it and no other process is using it (it takes the exclusive
    lock to make sure)."""
    if holds_connection(path):
        return
    try:
        conn = sqlite3.connect(file_uri(path, mode="rw"), uri=True, timeout=0)
    except sqlite3.Error:
        return
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        conn.execute("BEGIN EXCLUSIVE")
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        if "sessions" in names and conn.execute("SELECT 1 FROM sessions LIMIT 1").fetchone():
            return
        for suffix in ("", *COMPANIONS):
            with contextlib.suppress(OSError):
                os.unlink(str(path) + suffix)
    except sqlite3.Error:
        return
    finally:
        conn.close()
