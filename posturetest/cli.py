"""The command line: parse, call one function, print. Heavy imports stay inside commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from posturetest import __version__
from posturetest.config import DB_ENV

EXIT_REFUSED = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """One clear line on stderr and a non-zero exit: never a traceback."""
    click.echo(f"posturetest: {message}", err=True)
    sys.exit(code)


def db_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(path_type=Path),
        envvar=DB_ENV,
        help=f"Database file (default: ${DB_ENV}, else posturetest.db in your user data folder).",
    )(f)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@db_option
@click.version_option(__version__, prog_name="posturetest")
@click.pass_context
def main(ctx: click.Context, db_path: Path | None) -> None:
    """Run and record posture stress tests.

    Without a command, opens the terminal app: a subject and a tester take the ligament,
    muscle and skeleton postures in turn, the tester applies the vertical and anterior
    stress tests, and both rate every trial. Every confirmed rating is saved at once.
    """
    if ctx.invoked_subcommand is not None:
        ctx.obj = db_path
        return
    from posturetest.store import StoreError
    from posturetest.tui.run import run_app  # deferred: Textual costs ~0.2 s to import

    try:
        code = run_app(db_path)
    except StoreError as e:
        fail(str(e))
    sys.exit(code)
