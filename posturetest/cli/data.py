"""The commands that move data: export, import, merge, sample, datasette-metadata."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from posturetest.store import Store
    from posturetest.store.import_report import ImportReport
    from posturetest.store.selection import Selection

from posturetest.cli.failures import EXIT_REFUSED, fail
from posturetest.cli.group import main
from posturetest.cli.options import (
    database_path,
    db_option,
    open_store_or_fail,
    out_option,
    progress_bar,
    selection_options,
    write_text_or_fail,
)


@main.command()
@db_option
@selection_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "datapackage", "codebook"]),
    default="csv",
    show_default=True,
    help="What to write.",
)
@out_option(
    "File (csv, json, codebook) or folder (datapackage); default: standard output.",
    required=False,
)
@click.option(
    "--deidentify",
    is_flag=True,
    help=(
        "New ids for subjects, sessions, trials and corrections; times cut to the day; no "
        "tester, station, note, clearance name or correction text. Small groups can still be "
        "recognised: see the codebook."
    ),
)
@click.option(
    "--spreadsheet",
    is_flag=True,
    help=(
        "CSV to open in Excel or LibreOffice: UTF-8 with a byte order mark, and a cell that "
        "starts with = + - @, a tab or a carriage return gets a leading ' so it is never run "
        "as a formula. Only with --format csv; not for import."
    ),
)
@click.pass_context
def export(
    ctx: click.Context,
    db_path: Path | None,
    selection: Selection,
    fmt: str,
    out_path: Path | None,
    deidentify: bool,
    spreadsheet: bool,
) -> None:
    """Write the trials (a data package: the whole study) for other tools.

    CSV is tidy long format: one row per trial with the interchange columns, ISO 8601 UTC
    times, empty for missing; exact, for R and pandas, unless --spreadsheet. A data package
    adds sessions, rankings, safety answers and corrections, with table schemas that
    `frictionless validate` checks. The codebook describes every column.
    """
    from typing import TextIO

    from posturetest import export as exporting
    from posturetest.outputs import atomic_text, check_folder

    if spreadsheet and fmt != "csv":
        fail(f"--spreadsheet is only for --format csv, not {fmt}")
    if fmt == "codebook":
        text = exporting.codebook_markdown()
        if out_path is None:
            click.echo(text, nl=False)
        else:
            write_text_or_fail(out_path, text)  # which refuses a database as its path
        return
    if fmt == "datapackage" and out_path is None:
        fail("--format datapackage needs --out FOLDER")
    store = open_store_or_fail(ctx, db_path)
    selection = dataclasses.replace(selection, deidentify=deidentify)
    with store:
        if out_path is not None and fmt == "datapackage":  # atomic_text checks a file's path
            check_folder(out_path, exporting.DATAPACKAGE_MEMBERS)
        with progress_bar(lambda: exporting.count(store, selection), "Exporting") as progress:
            if fmt == "datapackage":
                assert out_path is not None
                try:
                    store.require_sound()
                    written = exporting.write_datapackage(store, selection, out_path, progress)
                except OSError as e:
                    fail(f"cannot write {out_path}: {e.strerror or e}")
                click.echo(f"Wrote {written:,} trials to {out_path}/ (datapackage.json)", err=True)
                return

            def writer(out: TextIO) -> int:
                if fmt == "json":
                    return exporting.write_json(store, selection, out, progress)
                return exporting.write_csv(store, selection, out, progress, spreadsheet=spreadsheet)

            if out_path is None:
                writer(sys.stdout)
                store.require_sound()
                return
            try:
                with atomic_text(out_path) as out:
                    written = writer(out)
                    store.require_sound()  # a damaged file leaves no export behind
            except OSError as e:
                fail(f"cannot write {out_path}: {e.strerror or e}")
    click.echo(f"Wrote {written:,} trials to {out_path}", err=True)


@main.command("datasette-metadata")
@db_option
@click.pass_context
def datasette_metadata(ctx: click.Context, db_path: Path | None) -> None:
    """Print Datasette metadata (titles, column descriptions, units) for the database.

    Use it as: posturetest datasette-metadata > meta.json; datasette DB --metadata meta.json
    """
    import json

    from posturetest.datasette import metadata

    path = database_path(ctx, db_path)
    with open_store_or_fail(ctx, db_path) as store:
        store.require_sound()
    click.echo(json.dumps(metadata(path), indent=2))


def refuse(problems: list[str], outcome: str) -> None:
    """Rows refused: one line per problem, then what happened, exit 1."""
    for problem in problems:
        click.echo(problem, err=True)
    fail(outcome, EXIT_REFUSED)


def _print_report(report: ImportReport, what: str) -> None:
    if not report.changed:
        click.echo(
            f"Nothing new: {report.sessions_present:,} sessions, {report.trials_present:,} "
            f"trials and {report.rankings_present:,} rankings were already present ({what})."
        )
        if report.audit:
            click.echo(report.audit)
        return
    click.echo(
        f"{what}: added {report.sessions_added:,} sessions, {report.trials_added:,} trials, "
        f"{report.rankings_added:,} rankings ({report.subjects_added:,} new subjects); "
        f"already present: {report.sessions_present:,} sessions, {report.trials_present:,} "
        f"trials, {report.rankings_present:,} rankings."
    )
    if report.audit:
        click.echo(report.audit)


@main.command("import")
@db_option
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
def import_command(ctx: click.Context, db_path: Path | None, path: Path) -> None:
    """Import a CSV in the interchange format, or a datapackage.json from `export`.

    Every row is checked first; any problem is listed as file:line: column: problem and
    nothing is written (exit 1). Importing the same file twice changes nothing. A row whose
    id is already stored with other values is a conflict: reported, nothing written.
    """
    from posturetest.importing import ImportRefused, UnusableFile, import_file, locate

    if not path.exists():
        fail(f"{path} does not exist")
    try:
        source = locate(path)  # before the database is opened: a refused file creates nothing
    except UnusableFile as e:
        fail(f"{e.problems[0]} (nothing was imported)")
    target = database_path(ctx, db_path, write=True)
    new_file = not os.path.lexists(target)
    store = open_store_or_fail(ctx, db_path, write=True)
    store.wait_for_writer = lambda: waiting_for_writer(store)

    def rows_in_file() -> int:
        try:
            with source.trials.open("rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            return max(0, lines - 1)  # the header
        except OSError:
            return 0

    with removed_unless_filled(store, new_file):
        try:
            with progress_bar(rows_in_file, "Importing") as progress:
                report = import_file(store, path, progress)
        except UnusableFile as e:
            fail(f"{e.problems[0]} (nothing was imported)")
        except ImportRefused as e:
            refuse(e.problems, "nothing was imported")
    _print_report(report, f"Imported {path}")


@contextmanager
def removed_unless_filled(store: Store, new_file: bool) -> Iterator[None]:
    """Close the store at the end; a database file this import created is removed again when
    nothing went into it (a refused import leaves no empty database behind)."""
    try:
        with store:
            yield
    finally:
        if new_file:
            from posturetest.store.opening import remove_if_empty

            remove_if_empty(Path(store.path))


def waiting_for_writer(store: Store) -> None:
    click.echo(
        f"posturetest: another program is writing to {store.path}; waiting for it to finish "
        "(ctrl+c to stop, nothing is changed)...",
        err=True,
    )


@main.command()
@db_option
@click.argument("others", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def merge(ctx: click.Context, db_path: Path | None, others: tuple[Path, ...]) -> None:
    """Merge other stations' databases into --db, by id, in one transaction.

    Merging again changes nothing. Subjects with the same code become one subject. Rows
    stored with the same id but other values are conflicts: reported, nothing merged (exit 1).
    A station's database may be on a read-only drive.
    """
    from posturetest.store.files import holds_connection
    from posturetest.store.import_report import ImportConflict
    from posturetest.store.merge import merge_databases

    target = database_path(ctx, db_path, write=True)
    for other in others:
        if not other.exists():
            fail(f"{other} does not exist")
        if target.exists() and os.path.samefile(other, target):
            fail(f"{other} is the database being merged into")
    store = open_store_or_fail(ctx, db_path, write=True)
    store.wait_for_writer = lambda: waiting_for_writer(store)
    with store:
        for other in others:
            if holds_connection(other):
                fail(f"{other} is the database being merged into")
        try:
            report = merge_databases(store, list(others))
        except ImportConflict as e:
            refuse(e.problems, "nothing was merged")
    _print_report(report, f"Merged {len(others)} database(s)")


@main.command()
@out_option("Folder to write the data package into (created if missing).", dest="out_dir")
@click.option(
    "--subjects",
    type=click.IntRange(1, 10_000),
    default=40,
    show_default=True,
    help="How many synthetic subjects.",
)
@click.option(
    "--seed",
    type=int,
    default=2026,
    show_default=True,
    help="Seed of the generator: the same seed and subjects give byte-identical files.",
)
def sample(out_dir: Path, subjects: int, seed: int) -> None:
    """Write a synthetic study (not real data) as an export data package.

    Made-up subjects (SYN-001, ...) take both tests in balanced posture orders, with realistic
    noise, tester bias, rater disagreement and a few stopped trials. The package is labelled
    SYNTHETIC and imports like any export: try the commands, the notebook and the charts on it.
    """
    from posturetest.export import DATAPACKAGE_MEMBERS
    from posturetest.outputs import check_folder
    from posturetest.sample import write_sample

    check_folder(out_dir, DATAPACKAGE_MEMBERS)
    try:
        write_sample(out_dir, subjects, seed)
    except OSError as e:
        fail(f"cannot write {out_dir}: {e.strerror or e}")
    click.echo(f"Wrote a synthetic study of {subjects} subjects to {out_dir}/", err=True)
