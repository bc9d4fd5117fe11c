"""The commands that analyse: plot, report, stats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from posturetest.store.selection import Selection

from posturetest.cli.failures import fail
from posturetest.cli.group import main
from posturetest.cli.options import (
    check_output,
    db_option,
    open_store_or_fail,
    out_option,
    selection_options,
)


@main.command()
@db_option
@selection_options
@click.argument("kind", type=click.Choice(["compare", "agreement", "history", "order"]))
@out_option("The chart file: .png, .svg or .pdf.", metavar="FILE")
@click.pass_context
def plot(
    ctx: click.Context,
    db_path: Path | None,
    selection: Selection,
    kind: str,
    out_path: Path,
) -> None:
    """Draw a chart of the ratings as PNG, SVG or PDF.

    \b
    compare    per test, both ratings by posture: every subject, the spread,
               and the mean with its 95% confidence interval
    agreement  subject ease against tester stability, per test and posture
    history    one subject's sessions over time (needs --subject CODE)
    order      mean rating by the trial's position within its test

    Only rated trials count. Each posture has the same colour in every chart.
    """
    from posturetest import plots  # matplotlib itself loads only when a chart is drawn
    from posturetest.store.selection import Selection

    try:
        plots.chart_format(out_path)
    except ValueError as e:
        fail(str(e))
    if kind == "history":
        if len(selection.subjects) != 1:
            fail("plot history needs one --subject CODE")
        if selection != Selection(subjects=selection.subjects):
            fail("plot history takes only --subject: it shows every session of that subject")
    store = open_store_or_fail(ctx, db_path)
    with store:
        check_output(out_path)
        if kind == "history":
            figure = plots.history(store, selection.subjects[0])
        else:
            draw = {"compare": plots.compare, "agreement": plots.agreement, "order": plots.order}
            figure = draw[kind](store, selection)
        store.require_sound()
        try:
            plots.save(figure, out_path)
        except OSError as e:
            fail(f"cannot write {out_path}: {e.strerror or e}")
    click.echo(f"Wrote {out_path}", err=True)


@main.command()
@db_option
@click.argument("session_id", metavar="SESSION_ID")
@out_option("The report file (PDF).", metavar="FILE.pdf")
@click.pass_context
def report(ctx: click.Context, db_path: Path | None, session_id: str, out_path: Path) -> None:
    """Write a one-page PDF report of one session, to hand to the subject.

    Who, when and in which position; the ratings by test and posture with a chart; both
    rankings; which posture held best, in plain words; and a note that this is not a diagnosis.
    """
    from posturetest.report import write_report
    from posturetest.store import RecordError

    if out_path.suffix.lower() != ".pdf":
        fail(f"{out_path.name}: the report is written as a .pdf file")
    store = open_store_or_fail(ctx, db_path)
    with store:
        check_output(out_path)
        store.require_sound()
        try:
            store.session(session_id)
        except RecordError:
            fail(f"no session {session_id} in {store.path}")
        try:
            write_report(store, session_id, out_path)
        except OSError as e:
            fail(f"cannot write {out_path}: {e.strerror or e}")
    click.echo(f"Wrote {out_path}", err=True)


@main.command("stats")
@db_option
@selection_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A readable table with one sentence per comparison, or JSON for scripts.",
)
@click.pass_context
def stats_command(
    ctx: click.Context,
    db_path: Path | None,
    selection: Selection,
    fmt: str,
) -> None:
    """Compare the postures per test and rating, and how subject and tester agree.

    One value per subject and posture (the mean of their rated trials); subjects missing a
    posture are left out and counted. Per posture n, median, mean and 95% CI; the Friedman
    test with Kendall's W; pairwise Wilcoxon signed-rank tests with Holm correction; the
    Spearman agreement of subject ease and tester stability; ratings by position.
    """
    import json

    from posturetest import stats as statistics

    store = open_store_or_fail(ctx, db_path)
    with store:
        result = statistics.compute(store, selection)
        store.require_sound()
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        click.echo(statistics.format_text(result), nl=False)
