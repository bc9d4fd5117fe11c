"""Where output files may go: never over a database.

An export, a chart or a report written over the database the command has open (or any SQLite
file) would destroy it; each is refused before anything is written.
"""

from __future__ import annotations

import io
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

from posturetest.store.opening import COMPANIONS, holds_connection, is_sqlite_file


class OutputRefused(ValueError):
    """An output path that must not be written. The message is one line."""


def _is_companion_of_open_database(path: Path) -> bool:
    """`study.db-wal` and the like, beside a database this process has open."""
    for suffix in COMPANIONS:
        if path.name.endswith(suffix):
            base = path.with_name(path.name[: -len(suffix)])
            if holds_connection(base):
                return True
    return False


def check_file(path: Path) -> None:
    """Refuse an output file that is a database (or a log or link of one)."""
    if holds_connection(path):
        raise OutputRefused(f"{path} is the database this command reads; refused to overwrite it")
    if _is_companion_of_open_database(path):
        raise OutputRefused(f"{path} belongs to the open database; refused to overwrite it")
    if is_sqlite_file(path):
        raise OutputRefused(
            f"{path} is an SQLite database; refused to overwrite it (choose another name)"
        )
    if path.is_dir():
        raise OutputRefused(f"{path} is a folder; give a file name")


def check_folder(folder: Path, members: Iterable[str]) -> None:
    """Refuse an output folder that is a file, or whose member files would replace a database."""
    if holds_connection(folder) or is_sqlite_file(folder):
        raise OutputRefused(f"{folder} is an SQLite database, not a folder; refused")
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputRefused(f"{folder} exists and is not a folder")
    for name in members:
        check_file(folder / name)


def _special(path: Path) -> bool:
    """Something other than a regular file or a folder (a device, a pipe, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """A text file (UTF-8) that appears whole or not at all: see `atomic_binary`."""
    with atomic_binary(path) as raw:
        out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        yield out
        out.flush()
        out.detach()  # the binary file is closed (and moved into place) by atomic_binary


@contextmanager
def atomic_binary(path: Path) -> Iterator[BinaryIO]:
    """A file that appears whole or not at all, readable by its owner only.

    It is written beside its place under a temporary name, flushed to disk, then moved into
    place; if anything fails on the way, the temporary file is removed and the place keeps
    what it had. A device or a pipe (/dev/stdout, /dev/null) is written to, never replaced; a
    symbolic link at the path is replaced by the file, and what it pointed to is never written.
    """
    check_file(path)
    if _special(path):
        with open(path, "wb") as out:
            yield out
        return
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
