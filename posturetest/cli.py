"""The command line: parse, call one function, print. Heavy imports stay inside commands."""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from posturetest import __version__
from posturetest.config import DB_ENV

if TYPE_CHECKING:
    from posturetest.store import Store
    from posturetest.store.exchange import ImportReport, Selection

EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
"""ctrl+c, as shells report it (128 + SIGINT)."""
PROGRESS_THRESHOLD = 50_000
"""Rows below which work is quick enough to show nothing extra."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One clear line on stderr and a non-zero exit: never a traceback."""
    click.echo(f"posturetest: {message}", err=True)
    sys.exit(code)


def db_option(f: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--db",
        "db_path",
        type=click.Path(path_type=Path),
        help=f"Database file (default: ${DB_ENV}, else posturetest.db in your user data folder).",
    )(f)


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


def describe_failure(e: Exception) -> str:
    """An exception that reached the top as one line; an unexpected one goes to a private log."""
    import sqlite3

    from posturetest.outputs import OutputRefused
    from posturetest.store.opening import StoreError, describe, describe_os_error

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
        from posturetest.store.exchange import Selection

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
    from posturetest.importer import ImportRefused, UnusableFile, import_file, locate

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
    from posturetest.store.exchange import ImportConflict, merge_databases
    from posturetest.store.opening import holds_connection

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
    from posturetest.store.exchange import Selection

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
