"""The command line: parse, call one function, print. Heavy imports stay inside commands."""

from __future__ import annotations

import dataclasses
import functools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from posturetest import __version__
from posturetest.config import DB_ENV

if TYPE_CHECKING:
    from posturetest.store import Store
    from posturetest.store.exchange import ImportReport, Selection

EXIT_REFUSED = 1
EXIT_USAGE = 2
PROGRESS_THRESHOLD = 50_000
"""Rows below which work is quick enough to show nothing extra."""


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


def open_store_or_fail(db_path: Path | None, *, must_exist: bool = False) -> Store:
    """The database named by --db / POSTURETEST_DB / the default, or one line and exit 2.

    Commands that only read (export, datasette-metadata) refuse a path with no database
    instead of creating an empty one.
    """
    from posturetest.config import default_db_path
    from posturetest.store import StoreError, open_store

    path = Path(db_path or default_db_path())
    if must_exist and not path.exists():
        fail(f"{path} does not exist (no database there)")
    try:
        return open_store(path)
    except StoreError as e:
        fail(str(e))
        raise  # unreachable: fail() exits


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
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    help="File (csv, json, codebook) or folder (datapackage); default: standard output.",
)
@click.option(
    "--deidentify",
    is_flag=True,
    help="Replace subject codes by study ids; drop tester, station, notes and names.",
)
@click.pass_context
def export(
    ctx: click.Context,
    db_path: Path | None,
    selection: Selection,
    fmt: str,
    out_path: Path | None,
    deidentify: bool,
) -> None:
    """Write the trials (and for a data package, rankings and sessions) for other tools.

    CSV is tidy long format: one row per trial with the interchange columns, ISO 8601 UTC
    times, empty for missing. A data package adds table schemas that `frictionless validate`
    checks. The codebook describes every column.
    """
    from posturetest import export as exporting

    if fmt == "codebook":
        text = exporting.codebook_markdown()
        if out_path is None:
            click.echo(text, nl=False)
        else:
            write_text_or_fail(out_path, text)
        return
    if fmt == "datapackage" and out_path is None:
        fail("--format datapackage needs --out FOLDER")
    store = open_store_or_fail(db_path or ctx.obj, must_exist=True)
    selection = dataclasses.replace(selection, deidentify=deidentify)
    with store, progress_bar(lambda: exporting.count(store, selection), "Exporting") as progress:
        if fmt == "datapackage":
            assert out_path is not None
            if out_path.exists() and not out_path.is_dir():
                fail(f"{out_path} exists and is not a folder")
            try:
                written = exporting.write_datapackage(store, selection, out_path, progress)
            except OSError as e:
                fail(f"cannot write {out_path}: {e.strerror or e}")
            click.echo(f"Wrote {written:,} trials to {out_path}/ (datapackage.json)", err=True)
            return
        writer = exporting.write_csv if fmt == "csv" else exporting.write_json
        if out_path is None:
            writer(store, selection, sys.stdout, progress)
            return
        try:
            with out_path.open("w", encoding="utf-8", newline="") as out:
                written = writer(store, selection, out, progress)
        except OSError as e:
            fail(f"cannot write {out_path}: {e.strerror or e}")
        click.echo(f"Wrote {written:,} trials to {out_path}", err=True)


def write_text_or_fail(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
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

    from posturetest.config import default_db_path
    from posturetest.datasette import metadata

    path = db_path or ctx.obj or default_db_path()
    open_store_or_fail(path, must_exist=True).close()
    click.echo(json.dumps(metadata(Path(path)), indent=2))


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
        return
    click.echo(
        f"{what}: added {report.sessions_added:,} sessions, {report.trials_added:,} trials, "
        f"{report.rankings_added:,} rankings ({report.subjects_added:,} new subjects); "
        f"already present: {report.sessions_present:,} sessions, {report.trials_present:,} "
        f"trials, {report.rankings_present:,} rankings."
    )


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
    from posturetest.importer import ImportRefused, UnusableFile, import_file

    if not path.exists():
        fail(f"{path} does not exist")
    store = open_store_or_fail(db_path or ctx.obj)

    def rows_in_file() -> int:
        trials = path.parent / "trials.csv" if path.suffix.lower() == ".json" else path
        try:
            with trials.open("rb") as f:
                lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
            return max(0, lines - 1)  # the header
        except OSError:
            return 0

    with store, progress_bar(rows_in_file, "Importing") as progress:
        try:
            report = import_file(store, path, progress)
        except UnusableFile as e:
            fail(f"{e.problems[0]} (nothing was imported)")
        except ImportRefused as e:
            refuse(e.problems, "nothing was imported")
    _print_report(report, f"Imported {path}")


@main.command()
@db_option
@click.argument("others", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.pass_context
def merge(ctx: click.Context, db_path: Path | None, others: tuple[Path, ...]) -> None:
    """Merge other stations' databases into --db, by id, in one transaction.

    Merging again changes nothing. Subjects with the same code become one subject. Rows
    stored with the same id but other values are conflicts: reported, nothing merged (exit 1).
    """
    from posturetest.config import default_db_path
    from posturetest.store import StoreError
    from posturetest.store.exchange import ImportConflict, merge_databases

    target = Path(db_path or ctx.obj or default_db_path())
    for other in others:
        if other.exists() and target.exists() and other.resolve() == target.resolve():
            fail(f"{other} is the database being merged into")
    store = open_store_or_fail(target)
    with store:
        try:
            report = merge_databases(store, list(others))
        except StoreError as e:
            fail(str(e))
        except ImportConflict as e:
            refuse(e.problems, "nothing was merged")
    _print_report(report, f"Merged {len(others)} database(s)")


@main.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder to write the data package into (created if missing).",
)
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
    from posturetest.sample import write_sample

    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir} exists and is not a folder")
    try:
        write_sample(out_dir, subjects, seed)
    except OSError as e:
        fail(f"cannot write {out_dir}: {e.strerror or e}")
    click.echo(f"Wrote a synthetic study of {subjects} subjects to {out_dir}/", err=True)


@main.command()
@db_option
@selection_options
@click.argument("kind", type=click.Choice(["compare", "agreement", "history", "order"]))
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="The chart file: .png, .svg or .pdf.",
)
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
    store = open_store_or_fail(db_path or ctx.obj, must_exist=True)
    with store:
        if kind == "history":
            figure = plots.history(store, selection.subjects[0])
        else:
            draw = {"compare": plots.compare, "agreement": plots.agreement, "order": plots.order}
            figure = draw[kind](store, selection)
    try:
        plots.save(figure, out_path)
    except OSError as e:
        fail(f"cannot write {out_path}: {e.strerror or e}")
    click.echo(f"Wrote {out_path}", err=True)


@main.command()
@db_option
@click.argument("session_id", metavar="SESSION_ID")
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    metavar="FILE.pdf",
    help="The report file (PDF).",
)
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
    store = open_store_or_fail(db_path or ctx.obj, must_exist=True)
    with store:
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

    store = open_store_or_fail(db_path or ctx.obj, must_exist=True)
    with store:
        result = statistics.compute(store, selection)
    if fmt == "json":
        click.echo(json.dumps(result, indent=2, allow_nan=False))
    else:
        click.echo(statistics.format_text(result), nl=False)
