"""The store's errors, and what SQLite or the OS says turned into one line a user can read."""

from __future__ import annotations

import errno
import os
import sqlite3


class StoreError(Exception):
    """A database that cannot be used. The message is one line, fit to show a user."""


class StoreBusy(StoreError):
    """Another program holds the file's write lock (longer than the wait allowed)."""


class StoreDamaged(StoreError):
    """The file is damaged, or not a database."""


class StoreReadOnly(StoreError):
    """The file, its folder or its drive cannot be written."""


class StoreFull(StoreError):
    """The disk (or the file's size limit) is full."""


class RecordError(ValueError):
    """A write the protocol does not allow (a rating of 11, a trial already stopped...)."""


def describe_os_error(e: OSError, doing: str) -> StoreError:
    """An OSError as one line, typed by its cause."""
    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return StoreFull(f"{doing}: the disk is full")
    if e.errno == errno.EROFS:
        return StoreReadOnly(f"{doing}: the drive is read-only")
    if e.errno in (errno.EACCES, errno.EPERM):
        return StoreReadOnly(f"{doing}: permission denied")
    return StoreError(f"{doing}: {reason}")


_FILE_PROBLEMS = frozenset({3, 5, 6, 8, 10, 11, 13, 14, 26})
"""SQLITE_PERM, BUSY, LOCKED, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, NOTADB: the file or
the disk, not the data, is the problem."""


def is_file_problem(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    return code in _FILE_PROBLEMS or "database is locked" in str(e)


def is_busy(e: sqlite3.Error) -> bool:
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    return code in (5, 6) or "database is locked" in str(e)


def describe(e: sqlite3.Error, where: str) -> StoreError:
    """An SQLite error on `where` as one line, typed by its cause."""
    name = getattr(e, "sqlite_errorname", "") or ""
    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
    text = str(e)
    if is_busy(e):
        if import_in_progress(where):
            return StoreBusy(
                f"an import into {where} is in progress; try again when it has finished"
            )
        return StoreBusy(
            f"another program is writing to {where} and has held it for a long time; "
            "try again when it has finished"
        )
    if code == 13:  # SQLITE_FULL
        return StoreFull(f"cannot write to {where}: the disk is full; nothing more was written")
    if code == 8:  # SQLITE_READONLY and its extended codes
        if name == "SQLITE_READONLY_DIRECTORY":
            return StoreReadOnly(
                f"cannot write to {where}: its folder is read-only (or not yours); "
                "posturetest keeps two small files beside the database while it runs"
            )
        return StoreReadOnly(f"cannot write to {where}: the file or its drive is read-only")
    if code in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        return StoreDamaged(f"{where} is damaged ({text}); refused, left untouched")
    if code == 14:  # SQLITE_CANTOPEN
        return StoreError(f"cannot open {where}: permission denied or not reachable")
    if code == 10:  # SQLITE_IOERR
        if _disk_full(where):
            return StoreFull(f"cannot write to {where}: the disk is full; nothing was written")
        return StoreError(f"cannot read or write {where}: input/output error ({name or text})")
    return StoreError(f"cannot use {where}: {text}")


def _disk_full(where: str) -> bool:
    """No room left on the drive holding `where` (an I/O error is often just that)."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(where)))
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 64 * 1024


def import_in_progress(where: str) -> bool:
    """A rollback journal beside the file: posturetest uses one only while importing into a new
    file (elsewhere the database keeps a write-ahead log)."""
    try:
        return os.path.getsize(where + "-journal") > 0
    except OSError:
        return False
