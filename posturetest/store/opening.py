"""Opening a database file: refuse what is not ours, create new files owner-only, migrate forward.

Every refusal happens before anything is written, so a refused file is left exactly as it was.

One rule above all (SQLite's "How To Corrupt An SQLite Database File", section 2.2): closing any
file descriptor on a database file drops every POSIX lock this process holds on it, and the next
process to open and close the file then believes it is the last user, checkpoints and deletes
the write-ahead log under our feet. So this process reads a file's header with a descriptor of
its own only while it has no connection to that file; every connection is counted in
`_open_files` from the moment it is made until it is closed.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from posturetest.store.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

SQLITE_HEADER = b"SQLite format 3\x00"
WAL_MAGIC = (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83")
"""The first four bytes of an SQLite write-ahead log."""
BUSY_TIMEOUT_MS = 10_000
"""Two stations sharing a file wait for each other this long instead of failing as locked."""
COMPANIONS = ("-wal", "-shm", "-journal")
"""The files SQLite keeps beside a database while it is in use."""


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


# -- the connections this process holds --------------------------------------------------------

FileKey = tuple[int, int]
_registry_lock = threading.RLock()
_open_files: Counter[FileKey] = Counter()


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino)


class TrackedConnection(sqlite3.Connection):
    """A connection that is counted in `_open_files` until it is closed."""

    file_key: FileKey | None = None

    def close(self) -> None:
        try:
            super().close()
        finally:
            with _registry_lock:
                if self.file_key is not None:
                    _open_files[self.file_key] -= 1
                    if _open_files[self.file_key] <= 0:
                        del _open_files[self.file_key]
                    self.file_key = None


def holds_connection(path: str | os.PathLike[str]) -> bool:
    """Whether this process has a connection to the file at `path` (any name or link to it)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return False
    with _registry_lock:
        return _key(st) in _open_files


# -- looking at a path before any connection ---------------------------------------------------


def _stat(path: Path) -> os.stat_result | None:
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


def _check_regular(path: Path, st: os.stat_result) -> None:
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
    with _registry_lock:
        if _key(st) in _open_files:
            return True
        try:
            head = read_header(path, 16)
        except OSError:
            return False
    return head.startswith(SQLITE_HEADER) or head[:4] in WAL_MAGIC


def _check_header(path: Path) -> None:
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
            raise StoreError(_newer(str(path), version))
    elif header:
        raise StoreDamaged(f"{path} is damaged: shorter than an SQLite header; refused")


def _newer(where: str, version: int) -> str:
    return (
        f"{where} was written by a newer posturetest (schema {version}; this version reads "
        f"up to {SCHEMA_VERSION}); refused, left untouched. Upgrade posturetest to open it."
    )


def _writable_folder(path: Path) -> None:
    folder = path.parent
    st = _stat(folder)
    if st is None or not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"cannot create {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreReadOnly(
            f"cannot write in {folder}: the folder is read-only (or not yours); "
            "posturetest keeps two small files beside the database while it runs"
        )


def _create_owner_only(path: Path) -> None:
    """Health data: a new database is readable and writable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as e:
        raise describe_os_error(e, f"cannot create {path}") from None
    os.close(fd)


def describe_os_error(e: OSError, doing: str) -> StoreError:
    """An OSError as one line, typed by its cause."""
    import errno

    reason = e.strerror or str(e)
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return StoreFull(f"{doing}: the disk is full")
    if e.errno == errno.EROFS:
        return StoreReadOnly(f"{doing}: the drive is read-only")
    if e.errno in (errno.EACCES, errno.EPERM):
        return StoreReadOnly(f"{doing}: permission denied")
    return StoreError(f"{doing}: {reason}")


# -- what SQLite says, in a user's words -------------------------------------------------------

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
        if _import_in_progress(where):
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


def _import_in_progress(where: str) -> bool:
    """A rollback journal beside the file: posturetest uses one only while importing into a new
    file (elsewhere the database keeps a write-ahead log)."""
    try:
        return os.path.getsize(where + "-journal") > 0
    except OSError:
        return False


# -- opening -----------------------------------------------------------------------------------


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


def _uri(path: Path, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"file:{quote(str(path.absolute()))}?{query}"


def _connect(uri: str, key: FileKey | None) -> TrackedConnection:
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
        conn = _connect(":memory:", None)
        try:
            migrate(conn, _inspect(conn, ":memory:"))
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn
    p = Path(path)
    where = str(p)
    with _registry_lock:
        st = _stat(p)
        if st is None:
            if readonly:
                raise StoreError(f"{where} does not exist (no database there)")
            _writable_folder(p)
            _create_owner_only(p)
            st = _stat(p)
            assert st is not None
        else:
            _check_regular(p, st)
            if st.st_size == 0 and readonly:
                raise StoreError(f"{where} is an empty file, not a posturetest database")
            if _key(st) not in _open_files:
                _check_header(p)
        writable = os.access(p, os.W_OK) and os.access(p.parent, os.W_OK | os.X_OK)
        if not readonly and not writable:
            if not os.access(p, os.W_OK):
                raise StoreReadOnly(
                    f"cannot write to {where}: the file or its drive is read-only; "
                    "reading commands (stats, export, plot, report) still work on it"
                )
            _writable_folder(p)
        try:
            if writable:
                conn = _connect(_uri(p, mode="rw"), _key(st))
            else:
                conn = _connect(_uri(p, mode="ro"), _key(st))
                try:
                    conn.execute("PRAGMA schema_version").fetchone()
                except sqlite3.OperationalError as e:
                    if getattr(e, "sqlite_errorname", "") not in (
                        "SQLITE_READONLY_DIRECTORY",
                        "SQLITE_CANTOPEN",
                    ):
                        raise
                    conn.close()
                    _no_unsaved_log(p)
                    # Nobody can write where no -wal or -journal can be created: reading the
                    # file as it stands is safe.
                    conn = _connect(_uri(p, mode="ro", immutable="1"), _key(st))
        except sqlite3.Error as e:
            raise describe(e, where) from None
    try:
        if _import_in_progress(where):  # say so soon, rather than after the whole busy timeout
            conn.execute("PRAGMA busy_timeout = 500")
        version = _inspect(conn, where)
        if readonly and version == 0:
            raise StoreError(f"{where} is an empty database, not a posturetest one")
        if check:
            check_sound(conn, where)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            if st.st_size == 0:
                _owner_only(p)
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


def _owner_only(path: Path) -> None:
    """An empty file we are about to fill with a database: owner-only, like one we create."""
    try:
        os.chmod(path, 0o600)
    except OSError:
        pass  # not ours to change; the data goes in all the same


def _no_unsaved_log(path: Path) -> None:
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
        conn = sqlite3.connect(_uri(path, mode="rw"), uri=True, timeout=0)
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
