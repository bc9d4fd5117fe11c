"""Where output files may go, never over a database, and how they are written.

An export, a chart or a report written over the database the command has open (or any SQLite
file) would destroy it; each is refused before anything is written. Every file written is
readable by its owner only (0600) and every folder made 0700, whatever the umask, and each
appears only once it is whole: a failure, a full disk or ctrl+c leaves no file and no temporary
file behind, and what was at the path before stays as it was.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import BinaryIO, TextIO

from posturetest.store.files import (
    COMPANIONS,
    holds_connection,
    is_special_file,
    is_sqlite_file,
)


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


@contextmanager
def _as_text(raw: BinaryIO) -> Iterator[TextIO]:
    """A binary file as UTF-8 text, lines ended as written; the binary file stays open for
    whoever opened it to finish (flush, move into place, close)."""
    out = io.TextIOWrapper(raw, encoding="utf-8", newline="")
    yield out
    out.flush()
    out.detach()


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """A text file (UTF-8) that appears whole or not at all: see `atomic_binary`."""
    with atomic_binary(path) as raw, _as_text(raw) as out:
        yield out


@contextmanager
def atomic_binary(path: Path) -> Iterator[BinaryIO]:
    """A file that appears whole or not at all, readable by its owner only.

    It is written beside its place under a temporary name, flushed to disk, then moved into
    place; if anything fails on the way, the temporary file is removed and the place keeps
    what it had. A device or a pipe (/dev/stdout, /dev/null) is written to, never replaced; a
    symbolic link at the path is replaced by the file, and what it pointed to is never written.
    """
    check_file(path)
    if is_special_file(path):
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
        _sync_folder(folder)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


def _sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (where a folder can be opened at all)."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def make_folders(folder: Path) -> list[Path]:
    """Create `folder` and any missing parents, each readable by its owner only (0700, whatever
    the umask); folders that exist are left as they are. Returns the ones created, outermost
    first."""
    missing: list[Path] = []
    here = folder
    while not os.path.lexists(here) and here != here.parent:
        missing.append(here)
        here = here.parent
    created: list[Path] = []
    try:
        for each in reversed(missing):
            os.mkdir(each, 0o700)  # the umask can only take bits away from 0700
            created.append(each)
    except BaseException:
        remove_folders(created)
        raise
    return created


def remove_folders(created: list[Path]) -> None:
    """Remove folders `make_folders` created, innermost first, as long as they are empty."""
    for each in reversed(created):
        with suppress(OSError):
            os.rmdir(each)


@contextmanager
def private_file(path: Path) -> Iterator[BinaryIO]:
    """A new file (it must not exist), readable by its owner only, flushed to disk on close."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(path, flags, 0o600), "wb") as out:
        yield out
        out.flush()
        os.fsync(out.fileno())


@contextmanager
def private_text(path: Path) -> Iterator[TextIO]:
    """`private_file` as UTF-8 text, lines ended as written."""
    with private_file(path) as raw, _as_text(raw) as out:
        yield out


@contextmanager
def atomic_folder(folder: Path, members: Iterable[str]) -> Iterator[Path]:
    """A folder of files (`members`) that appear together or not at all.

    Yields an empty private folder (0700) to write every member into (see `private_text`).
    When the block ends without error: a folder that did not exist is that temporary folder,
    renamed into place (missing parents are created 0700); in a folder that exists, each member
    replaces its namesake (a symbolic link there is replaced, never written through), and if
    one cannot be moved, those already moved are put back as they were. If anything fails on
    the way, the temporary folder and the parents created for it are removed, and the folder
    keeps what it had. Other files in an existing folder are left alone.

    The temporary folder is made beside a new folder, but inside an existing one, so that a
    member never has to move from one file system to another (a folder can be a mount point).
    """
    names = list(members)
    existed = os.path.isdir(folder)
    created = [] if existed else make_folders(folder.parent)
    where = folder if existed else folder.parent
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".part", dir=where))
    except BaseException:
        remove_folders(created)
        raise
    try:
        yield tmp
        _sync_folder(tmp)
        if existed:
            _replace_members(tmp, folder, names)
        else:
            os.rename(tmp, folder)
        _sync_folder(where)
    except BaseException:
        with suppress(OSError):
            shutil.rmtree(tmp)
        remove_folders(created)
        raise
    if existed:
        with suppress(OSError):
            shutil.rmtree(tmp)  # what is left: the old members' extra names


def _replace_members(tmp: Path, folder: Path, names: list[str]) -> None:
    """Move each member from `tmp` over its namesake in `folder`; all of them, or none.

    Before a member is replaced, a second name for the old one is kept in `tmp` (a hard link,
    of the symbolic link itself where it is one), so a failure part way can put it back.
    """
    kept = tmp / ".old"
    os.mkdir(kept, 0o700)
    moved: list[str] = []
    try:
        for name in names:
            target = folder / name
            if os.path.lexists(target):
                with suppress(OSError):  # no hard links on this file system: no way back
                    os.link(target, kept / name, follow_symlinks=False)
            os.replace(tmp / name, target)
            moved.append(name)
    except BaseException:
        for name in reversed(moved):
            with suppress(OSError):
                if os.path.lexists(kept / name):
                    os.replace(kept / name, folder / name)
                else:
                    os.unlink(folder / name)
        raise


def write_crash_log(text: str) -> Path:
    """A new file in the temporary folder holding `text` (a traceback): readable by its owner
    only, and there only once it is whole (written as `....log.part`, then renamed)."""
    fd, part = tempfile.mkstemp(prefix="posturetest-crash-", suffix=".log.part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as log:
            log.write(text)
            log.flush()
            os.fsync(log.fileno())
        path = Path(part.removesuffix(".part"))
        os.replace(part, path)  # a name no other file has: mkstemp chose it at random
    except BaseException:
        with suppress(OSError):
            os.unlink(part)
        raise
    return path


# -- CSV for spreadsheets ----------------------------------------------------------------------

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a cell may start with that a spreadsheet could take for a formula (OWASP's list)."""
SPREADSHEET_BOM = "\ufeff"
"""Tells Excel the CSV is UTF-8 (else it guesses the system's code page)."""

_QUOTED_STARTS = tuple('"' + c for c in FORMULA_STARTS)
_FORMULA_AFTER_COMMA = re.compile(r',"?[=+\-@\t\r]')


def spreadsheet_line(line: str) -> str:
    """One line of the export's CSV (no line end) with an apostrophe put before every cell that
    would start a formula, which spreadsheets then show as text; nothing else changes.

    A cell starts the line or follows a comma, maybe after its opening quote. Such a comma
    separates two cells exactly when an even number of quotes comes before it: a quoted cell
    holds its two quotes and its doubled ones (`""`), and a comma never falls inside a doubled
    one. The apostrophe needs no quoting (a neutralised carriage return was quoted already).
    """
    first = 0 if line.startswith(FORMULA_STARTS) else 1 if line.startswith(_QUOTED_STARTS) else -1
    if first < 0 and _FORMULA_AFTER_COMMA.search(line) is None:
        return line  # almost every line: one search, no list
    cuts = [] if first < 0 else [first]
    for match in _FORMULA_AFTER_COMMA.finditer(line):
        if line.count('"', 0, match.start()) % 2 == 0:
            cuts.append(match.end() - 1)
    if not cuts:
        return line
    pieces = [line[: cuts[0]]]
    for cut, end in zip(cuts, [*cuts[1:], len(line)], strict=True):
        pieces.append("'")
        pieces.append(line[cut:end])
    return "".join(pieces)
