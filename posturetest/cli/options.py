"""What the commands share: --db and where it points, --out, the selection filters, and
writing a text file or showing progress."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from posturetest.config import DB_ENV

if TYPE_CHECKING:
    from posturetest.store import Store

from posturetest.cli.failures import fail

PROGRESS_THRESHOLD = 50_000
"""Rows below which work is quick enough to show nothing extra."""


def db_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(path_type=Path),
        help=f"Database file (default: ${DB_ENV}, else posturetest.db in your user data folder).",
    )(f)


def out_option(
    help_text: str, *, dest: str = "out_path", required: bool = True, metavar: str | None = None
) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """The `--out` option of the commands that write a file or a folder."""
    return click.option(
        "--out",
        dest,
        required=required,
        type=click.Path(path_type=Path),
        metavar=metavar,
        help=help_text,
    )


def database_path(ctx: click.Context, db_path: Path | None, *, write: bool = False) -> Path:
    """The nearest explicit choice: the command's --db, the group's --db, $POSTURETEST_DB, the
    default (a ~ in any of them stands for the home folder)."""
    from posturetest.config import default_db_path

    chosen = db_path if db_path is not None else ctx.obj
    if chosen is not None:
        if not str(chosen).strip():
            fail("--db needs a file name")
        return Path(chosen).expanduser()
    return default_db_path(create_folder=write)


def open_store_or_fail(ctx: click.Context, db_path: Path | None, *, write: bool = False) -> Store:
    """The database chosen (see `database_path`), or one line and exit 2.

    A command that writes checks the file first and refuses a damaged one. A command that only
    reads opens it read-only (nothing is created, migrated or written, and a copy on a
    read-only folder or drive can be read); the file is checked beside the work, and the
    command calls `store.require_sound()` before it hands over what it read.
    """
    from posturetest.store import Store

    path = database_path(ctx, db_path, write=write)
    if write:
        return Store(path, check=True)
    return Store(path, readonly=True, check_in_background=True)


def check_output(path: Path) -> None:
    from posturetest.outputs import check_file

    check_file(path)


def selection_options(f: Callable[..., None]) -> Callable[..., None]:
    """The filters shared by export, stats and plot, handed to the command as one `selection`."""
    options = [
        click.option(
            "--subject",
            "subjects",
            multiple=True,
            metavar="CODE",
            help="Only this subject (repeat for several).",
        ),
        click.option(
            "--session",
            "session_ids",
            multiple=True,
            metavar="ID",
            help="Only this session (repeat for several).",
        ),
        click.option(
            "--since",
            type=click.DateTime(["%Y-%m-%d"]),
            metavar="YYYY-MM-DD",
            help="Only sessions started on or after this day (UTC).",
        ),
        click.option(
            "--until",
            type=click.DateTime(["%Y-%m-%d"]),
            metavar="YYYY-MM-DD",
            help="Only sessions started on or before this day (UTC).",
        ),
        click.option("--complete-only", is_flag=True, help="Only complete sessions."),
    ]

    @functools.wraps(f)
    def with_selection(
        *args: object,
        subjects: tuple[str, ...],
        session_ids: tuple[str, ...],
        since: datetime | None,
        until: datetime | None,
        complete_only: bool,
        **kwargs: object,
    ) -> None:
        from posturetest.store.selection import Selection

        kwargs["selection"] = Selection(
            subjects=subjects,
            session_ids=session_ids,
            since=since.date() if since else None,
            until=until.date() if until else None,
            complete_only=complete_only,
        )
        f(*args, **kwargs)

    decorated: Callable[..., None] = with_selection
    for option in reversed(options):
        decorated = option(decorated)
    return decorated


def write_text_or_fail(path: Path, text: str) -> None:
    from posturetest.outputs import atomic_text

    try:
        with atomic_text(path) as out:
            out.write(text)
    except OSError as e:
        fail(f"cannot write {path}: {e.strerror or e}")


@contextmanager
def progress_bar(total: Callable[[], int], label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr for long work on a terminal; nothing at all when piped."""
    if not sys.stderr.isatty():
        yield None
        return
    rows = total()
    if rows < PROGRESS_THRESHOLD:
        yield None
        return
    with click.progressbar(length=rows, label=label, file=sys.stderr) as bar:
        yield bar.update
