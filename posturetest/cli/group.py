"""The command group: the bare command opens the app; a subcommand sits beside it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from posturetest import __version__

if TYPE_CHECKING:
    pass

from posturetest.cli.failures import EXIT_INTERRUPTED, describe_failure, fail
from posturetest.cli.options import database_path, db_option


class Posturetest(click.Group):
    """The command group: whatever goes wrong reaches the user as one line, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            fail("stopped (ctrl+c); what was under way was rolled back", EXIT_INTERRUPTED)
        except Exception as e:  # noqa: BLE001 - the last line of defence
            fail(describe_failure(e))


@click.group(
    cls=Posturetest,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
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
    from posturetest.tui.run import run_app  # deferred: Textual costs ~0.2 s to import

    sys.exit(run_app(database_path(ctx, db_path, write=True)))
