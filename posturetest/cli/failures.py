"""How a command ends when something goes wrong: one line on stderr, a non-zero exit, and
for an unexpected error a private crash log instead of a traceback."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

if TYPE_CHECKING:
    pass


EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""ctrl+c, as shells report it (128 + SIGINT)."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One clear line on stderr and a non-zero exit: never a traceback."""
    click.echo(f"posturetest: {message}", err=True)
    sys.exit(code)


def describe_failure(e: Exception) -> str:
    """An exception that reached the top as one line; an unexpected one goes to a private log."""
    import sqlite3

    from posturetest.outputs import OutputRefused
    from posturetest.store.errors import StoreError, describe, describe_os_error

    if isinstance(e, StoreError | OutputRefused):
        return str(e)
    if type(e).__name__ == "KeysFileError":  # posturetest.tui.keys (not imported for commands)
        return str(e)
    if isinstance(e, sqlite3.Error):
        return str(describe(e, "the database"))
    if isinstance(e, OSError):
        where = e.filename or "a file"
        return str(describe_os_error(e, f"cannot use {where}"))
    if isinstance(e, MemoryError):
        return "ran out of memory; nothing more was written"
    return crash_report(e)


def crash_report(e: BaseException) -> str:
    """Write the traceback to a private file (0600, there only once whole) and return the line
    that points to it."""
    import traceback

    from posturetest.outputs import write_crash_log

    try:
        log_path = write_crash_log("".join(traceback.format_exception(e)))
    except OSError:
        return f"unexpected error ({type(e).__name__}: {e})"
    return f"unexpected error ({type(e).__name__}); details in {log_path}"
