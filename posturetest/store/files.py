"""A database file before and around its connections: what the path holds, its header, its
creation owner-only, and the count of this process's connections to it.

One rule above all (SQLite's "How To Corrupt An SQLite Database File", section 2.2): closing any
file descriptor on a database file drops every POSIX lock this process holds on it, and the next
process to open and close the file then believes it is the last user, checkpoints and deletes
the write-ahead log under our feet. So this process reads a file's header with a descriptor of
its own only while it has no connection to that file; every connection is counted in
`_open_files` from the moment it is made (`tracked_connect`) until it is closed.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from posturetest.store.errors import (
    StoreDamaged,
    StoreError,
    StoreReadOnly,
    describe_os_error,
)
from posturetest.store.schema import APPLICATION_ID, SCHEMA_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
"""The first four bytes of an SQLite write-ahead log."""
COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database while it is in use."""
BUSY_TIMEOUT_MS = 10_000
"""Two stations sharing a file wait for each other this long instead of failing as locked."""


# -- the connections this process holds --------------------------------------------------------

FileKey = tuple[int, int]
REGISTRY_LOCK = threading.RLock()
"""Held while a path is looked at and connected to, so no connection appears in between."""
_open_files: Counter[FileKey] = Counter()


def file_key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)


def is_held(key: FileKey) -> bool:
    """Whether this process has a connection to the file (ask under `REGISTRY_LOCK`)."""
    return key in _open_files


class TrackedConnection(sqlite3.Connection):
    """A connection that is counted in `_open_files` until it is closed."""

    file_key: FileKey | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            with REGISTRY_LOCK:
                if self.file_key is not None:
                    _open_files[self.file_key] -= 1
                    if _open_files[self.file_key] <= 0:
                        del _open_files[self.file_key]
                    self.file_key = None


def tracked_connect(uri: str, key: FileKey | None) -> TrackedConnection:
    """A connection to `uri`, counted against the file `key` (None: an in-memory database)."""
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
        factory=TrackedConnection,
    )
    assert isinstance(conn, TrackedConnection)
    if key is not None:
        conn.file_key = key
        _open_files[key] += 1
    return conn


def file_uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.absolute()))}?{query}"


def holds_connection(path: str | os.PathLike[str]) -> bool:
    """Whether this process has a connection to the file at `path` (any name or link to it)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    with REGISTRY_LOCK:
        return file_key(st) in _open_files


# -- looking at a path before any connection ---------------------------------------------------


def stat_path(path: Path) -> os.stat_result | None:
    """The file's facts, following links; None if nothing is there."""
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise StoreError(f"cannot use {path}: a part of the path is a file, not a folder") from None
    except PermissionError:
        raise StoreError(
            f"cannot reach {path}: permission denied (a folder on the way is not open to you)"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot reach {path}: {e.strerror or e}") from None


def check_regular(path: Path, st: os.stat_result) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path} is a folder, not a database file")
    if not stat.S_ISREG(st.st_mode):
        kind = (
            "a named pipe"
            if stat.S_ISFIFO(st.st_mode)
            else "a device"
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)
            else "a socket"
            if stat.S_ISSOCK(st.st_mode)
            else "not a regular file"
        )
        raise StoreError(f"{path} is {kind}, not a database file; refused")


def is_special_file(path: str | os.PathLike[str]) -> bool:
    """Something is at `path` that is neither a regular file nor a folder: a named pipe (reading
    it would wait forever), a device, a socket."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def read_header(path: Path, size: int = 100) -> bytes:
    """The first bytes of a regular file that this process holds no connection to."""
    if holds_connection(path):  # a caller's mistake: closing the descriptor would drop locks
        raise RuntimeError(f"{path} is open as a database in this process")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        return os.read(fd, size)
    finally:
        os.close(fd)


def is_sqlite_file(path: Path) -> bool:
    """A regular file holding an SQLite database or write-ahead log (or one we have open)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(st.st_mode):
        return False
    with REGISTRY_LOCK:
        if file_key(st) in _open_files:
            return True
        try:
            head = read_header(path, 16)
        except OSError:
            return False
    return head.startswith(SQLITE_HEADER) or head[:4] in WAL_MAGIC


def check_header(path: Path) -> None:
    """Refuse from the file's first page alone: opening a write-ahead-log database, even
    read-only, would create its -wal and -shm files beside it."""
    try:
        header = read_header(path)
    except PermissionError:
        raise StoreError(f"cannot read {path}: permission denied") from None
    except OSError as e:
        raise StoreError(f"cannot read {path}: {e.strerror or e}") from None
    if header and not header.startswith(SQLITE_HEADER):
        raise StoreDamaged(f"{path} is not a SQLite database (refused, left untouched)")
    if len(header) == 100:
        version = int.from_bytes(header[60:64], "big")
        app_id = int.from_bytes(header[68:72], "big")
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(
                f"{path} is a SQLite database but not a posturetest one; refused, left untouched"
            )
        if app_id == APPLICATION_ID and version > SCHEMA_VERSION:
            raise StoreError(newer(str(path), version))
    elif header:
        raise StoreDamaged(f"{path} is damaged: shorter than an SQLite header; refused")


def newer(where: str, version: int) -> str:
    """The refusal of a file written by a newer posturetest."""
    return (
        f"{where} was written by a newer posturetest (schema {version}; this version reads "
        f"up to {SCHEMA_VERSION}); refused, left untouched. Upgrade posturetest to open it."
    )


def writable_folder(path: Path) -> None:
    folder = path.parent
    st = stat_path(folder)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"cannot create {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreReadOnly(
            f"cannot write in {folder}: the folder is read-only (or not yours); "
            "posturetest keeps two small files beside the database while it runs"
        )


def create_owner_only(path: Path) -> None:
    """Health data: a new database is readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as e:
        raise describe_os_error(e, f"cannot create {path}") from None
    os.close(fd)


def owner_only(path: Path) -> None:
    """An empty file we are about to fill with a database: owner-only, like one we create."""
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change; the data goes in all the same


def no_unsaved_log(path: Path) -> None:
    """Refuse a file whose log holds changes, in a folder where SQLite could not replay them."""
    for suffix in ("-wal", "-journal"):
        try:
            size = os.path.getsize(str(path) + suffix)
        except OSError:
            continue
        if size > 0:
            raise StoreReadOnly(
                f"{path} was not closed cleanly ({path.name}{suffix} holds changes) and its "
                "folder is read-only; copy both files to a writable folder and open the copy"
            )
