"""`posturetest import`: round trips, idempotency, conflicts and every kind of bad input.

Every refusal is checked three ways: the exit code, the message a user reads, and a database
that is exactly as it was (row counts of every table plus a full SQL dump).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import tempfile
import traceback
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posturetest.cli import main
from posturetest.domain import (
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.interchange import RANKING_COLUMNS, SESSION_COLUMNS, TRIAL_COLUMNS
from posturetest.domain.protocol import NOTE_CONTROL_CODES
from posturetest.export import DATAPACKAGE_MEMBERS
from posturetest.store import Store
from tests.factories import (
    TRICKY_NOTE,
    TRICKY_TESTER,
    import_study,
    new_session,
    rate_trials,
)

Rows = list[dict[str, str]]
Fingerprint = tuple[dict[str, int], list[str]]

STUDY_SESSIONS = 5
STUDY_TRIALS = 33
STUDY_SUBJECTS = 4
STUDY_RANKINGS = 14


# -- helpers -------------------------------------------------------------------------------------


def run(*args: str) -> Result:
    """The command line in-process; a crash (a traceback for the user) fails the test."""
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        details = "".join(traceback.format_exception(*result.exc_info))
        raise AssertionError(f"posturetest {' '.join(args)} crashed:\n{details}")
    return result


def import_into(db: Path, path: Path) -> Result:
    return run("import", "--db", str(db), str(path))


def export_csv(db: Path, out: Path, *options: str) -> bytes:
    result = run("export", "--db", str(db), "--out", str(out), *options)
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def export_package(db: Path, folder: Path, *options: str) -> dict[str, bytes]:
    result = run(
        "export", "--db", str(db), "--format", "datapackage", "--out", str(folder), *options
    )
    assert result.exit_code == 0, result.output
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def fingerprint(db: Path) -> Fingerprint:
    """Row counts of every table and a full dump: equal before and after means nothing changed."""
    assert db.exists()
    conn = sqlite3.connect(db)
    try:
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")
        ]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
        return counts, list(conn.iterdump())
    finally:
        conn.close()


def read_rows(data: bytes) -> Rows:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def write_rows(
    path: Path,
    rows: Rows,
    columns: tuple[str, ...] = TRIAL_COLUMNS,
    *,
    delimiter: str = ",",
    newline: str = "\n",
    bom: bool = False,
) -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator=newline)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + buffer.getvalue().encode("utf-8"))
    return path


def line_of(path: Path, text: str) -> int:
    """The line (1-based, as an editor counts) where `text` first appears in the file."""
    content = path.read_text(encoding="utf-8")
    return content[: content.index(text)].count("\n") + 1


def refusal_lines(result: Result) -> list[str]:
    return result.stderr.splitlines()


# -- building studies through the store ----------------------------------------------------------


def build_other(db: Path) -> str:
    """A database with one session that is in no study export."""
    with Store(db) as store:
        session_id = new_session(store, "OTHER-9", started_at="2026-10-01T08:00:00Z", station="b")
        rate_trials(store, session_id, upto=4)
    return session_id


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each database built once per module; tests copy what they change."""
    folder = tmp_path_factory.mktemp("built")
    paths = {name: folder / f"{name}.db" for name in ("plain", "tricky", "other")}
    import_study(paths["plain"], tricky=False)
    import_study(paths["tricky"], tricky=True)
    build_other(paths["other"])
    paths["plain.csv"] = folder / "plain.csv"
    export_csv(paths["plain"], paths["plain.csv"])
    paths["tricky.csv"] = folder / "tricky.csv"
    export_csv(paths["tricky"], paths["tricky.csv"])
    return paths


def copy_db(built: dict[str, Path], name: str, to: Path) -> Path:
    shutil.copy(built[name], to)
    return to


@pytest.fixture
def target(built: dict[str, Path], tmp_path: Path) -> Path:
    """A database holding a session of its own, to import into."""
    return copy_db(built, "other", tmp_path / "target.db")


@pytest.fixture
def plain_rows(built: dict[str, Path]) -> Rows:
    return read_rows(built["plain.csv"].read_bytes())


def test_the_study_has_every_kind_of_trial(built: dict[str, Path]) -> None:
    """The round trips below only prove something if the study covers every outcome."""
    rows = read_rows(built["tricky.csv"].read_bytes())
    assert len(rows) == STUDY_TRIALS
    assert {r["outcome"] for r in rows} == {o.value for o in Outcome}
    assert {r["session_status"] for r in rows} == {s.value for s in SessionStatus}
    assert any(r["outcome"] == "pending" and r["tester_stability"] for r in rows)
    assert any(r["note"] == TRICKY_NOTE for r in rows)
    assert any(r["tester"] == TRICKY_TESTER for r in rows)


# -- round trips ---------------------------------------------------------------------------------


def test_csv_round_trip_is_byte_identical(built: dict[str, Path], tmp_path: Path) -> None:
    exported = built["tricky.csv"].read_bytes()
    db = tmp_path / "empty.db"
    result = import_into(db, built["tricky.csv"])
    assert result.exit_code == 0, result.output
    assert (
        f"added {STUDY_SESSIONS} sessions, {STUDY_TRIALS} trials, 0 rankings "
        f"({STUDY_SUBJECTS} new subjects)" in result.stdout
    )
    assert export_csv(db, tmp_path / "again.csv") == exported
    original_json = export_csv(built["tricky"], tmp_path / "a.json", "--format", "json")
    assert export_csv(db, tmp_path / "b.json", "--format", "json") == original_json


def test_datapackage_round_trip_is_byte_identical(built: dict[str, Path], tmp_path: Path) -> None:
    first = export_package(built["tricky"], tmp_path / "first")
    db = tmp_path / "empty.db"
    result = import_into(db, tmp_path / "first" / "datapackage.json")
    assert result.exit_code == 0, result.output
    assert f"{STUDY_RANKINGS} rankings" in result.stdout
    assert export_package(db, tmp_path / "second") == first
    assert set(first) == set(DATAPACKAGE_MEMBERS)


def test_datapackage_round_trip_keeps_rankings_and_session_facts(
    built: dict[str, Path], tmp_path: Path
) -> None:
    export_package(built["tricky"], tmp_path / "pkg")
    db = tmp_path / "empty.db"
    assert import_into(db, tmp_path / "pkg" / "datapackage.json").exit_code == 0
    with Store(built["tricky"]) as original, Store(db) as imported:
        ids = [r.session_id for r in original.recent_sessions(limit=100)]
        assert len(ids) == STUDY_SESSIONS
        ranked = 0
        for session_id in ids:
            assert imported.session(session_id) == original.session(session_id)
            assert imported.rankings(session_id) == original.rankings(session_id)
            assert imported.trials(session_id) == original.trials(session_id)
            ranked += len(original.rankings(session_id))
        assert ranked == 5  # 2 tests x 2 roles in session 1, one ranking in session 3
        assert imported.count("rankings") == STUDY_RANKINGS


@pytest.mark.parametrize("fmt", ["csv", "datapackage"])
def test_deidentified_export_round_trips(built: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    db = tmp_path / "empty.db"
    if fmt == "csv":
        deidentified = {
            "trials.csv": export_csv(built["tricky"], tmp_path / "d.csv", "--deidentify")
        }
        result = import_into(db, tmp_path / "d.csv")
        again = {"trials.csv": export_csv(db, tmp_path / "again.csv")}
    else:
        deidentified = export_package(built["tricky"], tmp_path / "d", "--deidentify")
        result = import_into(db, tmp_path / "d" / "datapackage.json")
        again = export_package(db, tmp_path / "again")
    assert result.exit_code == 0, result.output
    for name in ("trials.csv", "rankings.csv", "sessions.csv"):
        if name in deidentified:
            assert again[name] == deidentified[name], name
    text = b"".join(deidentified.values()).decode()
    for secret in ("S-001", "S-003", "O'Neil", "sharp pain", "desk, 1", "Dr. Who"):
        assert secret not in text


def test_import_reports_what_was_new_and_what_was_present(
    built: dict[str, Path], tmp_path: Path
) -> None:
    rows = read_rows(built["tricky.csv"].read_bytes())
    first_session = rows[0]["session_id"]
    part = write_rows(tmp_path / "part.csv", [r for r in rows if r["session_id"] == first_session])
    db = tmp_path / "db.db"
    result = import_into(db, part)
    assert result.exit_code == 0
    assert "added 1 sessions, 6 trials, 0 rankings (1 new subjects)" in result.stdout
    result = import_into(db, built["tricky.csv"])
    assert result.exit_code == 0
    assert result.stdout == (
        f"Imported {built['tricky.csv']}: added 4 sessions, 27 trials, 0 rankings "
        "(3 new subjects); already present: 1 sessions, 6 trials, 0 rankings.\n"
    )
    assert export_csv(db, tmp_path / "all.csv") == built["tricky.csv"].read_bytes()


# -- idempotency ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "datapackage"])
def test_importing_twice_changes_nothing(built: dict[str, Path], tmp_path: Path, fmt: str) -> None:
    if fmt == "csv":
        source = built["tricky.csv"]
        rankings = 0
    else:
        export_package(built["tricky"], tmp_path / "pkg")
        source = tmp_path / "pkg" / "datapackage.json"
        rankings = STUDY_RANKINGS
    db = tmp_path / "db.db"
    assert import_into(db, source).exit_code == 0
    before, before_bytes = fingerprint(db), db.read_bytes()
    result = import_into(db, source)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        f"Nothing new: {STUDY_SESSIONS} sessions, {STUDY_TRIALS} trials and {rankings} rankings "
        "were already present"
    )
    assert result.stderr == ""
    assert fingerprint(db) == before
    assert db.read_bytes() == before_bytes


def test_importing_an_export_into_its_own_database_changes_nothing(
    built: dict[str, Path], tmp_path: Path
) -> None:
    db = copy_db(built, "tricky", tmp_path / "own.db")
    export_package(db, tmp_path / "pkg")
    before = fingerprint(db)
    for source in (tmp_path / "pkg" / "datapackage.json", built["tricky.csv"]):
        result = import_into(db, source)
        assert result.exit_code == 0
        assert result.stdout.startswith("Nothing new:")
    assert fingerprint(db) == before


# -- files that cannot be used at all ------------------------------------------------------------


def _header_without(column: str) -> Callable[[bytes], bytes]:
    def build(export: bytes) -> bytes:
        rows = read_rows(export)
        columns = tuple(c for c in TRIAL_COLUMNS if c != column)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue().encode()

    return build


def _header_replaced(old: str, new: str) -> Callable[[bytes], bytes]:
    def build(export: bytes) -> bytes:
        header, rest = export.split(b"\n", 1)
        return header.replace(old.encode(), new.encode()) + b"\n" + rest

    return build


def _unterminated_quote(export: bytes) -> bytes:
    lines = export.split(b"\n")
    return b"\n".join([*lines[:3], lines[3] + b',"never closed'])


UNUSABLE = [
    ("empty", "trials.csv", lambda export: b"", "the file is empty"),
    ("whitespace", "trials.csv", lambda export: b"  \n\t\r\n \n", "the file is empty"),
    (
        "binary",
        "trials.csv",
        lambda export: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        "this is a binary file, not CSV text",
    ),
    (
        "sqlite_database",
        "trials.csv",
        lambda export: b"SQLite format 3\x00" + bytes(range(256)) * 4,
        "this is an SQLite database, not CSV or JSON; to bring in another station's "
        "database use `posturetest merge`",
    ),
    (
        "missing_column",
        "trials.csv",
        _header_without("note"),
        ":1: not the posturetest interchange format (missing columns: note)",
    ),
    (
        "unknown_column",
        "trials.csv",
        lambda export: export.replace(b"\n", b",extra\n", 1),
        ":1: not the posturetest interchange format (unknown columns: extra)",
    ),
    (
        "renamed_column",
        "trials.csv",
        _header_replaced("posture", "pose"),
        ":1: not the posturetest interchange format (missing columns: posture; "
        "unknown columns: pose)",
    ),
    (
        "column_twice",
        "trials.csv",
        lambda export: export.replace(b"\n", b",note\n", 1),
        "a column appears twice",
    ),
    (
        "not_csv_text",
        "trials.csv",
        lambda export: b"Dear colleague,\nplease find attached the results.\n",
        ":1: not the posturetest interchange format (missing columns: trial_id",
    ),
    ("malformed_csv", "trials.csv", _unterminated_quote, ":4: malformed CSV"),
    ("invalid_json", "datapackage.json", lambda export: b'{"resources": [', "not valid JSON"),
    (
        "json_not_ours",
        "datapackage.json",
        lambda export: json.dumps(
            {"name": "weather", "resources": [{"name": "data", "path": "data.csv"}]}
        ).encode(),
        "not a posturetest data package",
    ),
    (
        "json_export_not_a_package",
        "trials.json",
        lambda export: b'[\n{"trial_id": "x"}\n]\n',
        "not a posturetest data package",
    ),
    (
        "package_path_outside",
        "datapackage.json",
        lambda export: json.dumps(
            {"posturetest": {}, "resources": [{"name": "trials", "path": "../trials.csv"}]}
        ).encode(),
        "resource trials has an unusable path",
    ),
    (
        "package_without_its_csv",
        "datapackage.json",
        lambda export: json.dumps(
            {"posturetest": {}, "resources": [{"name": "trials", "path": "trials.csv"}]}
        ).encode(),
        "cannot read it",
    ),
]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [(c[1], c[2], c[3]) for c in UNUSABLE],
    ids=[c[0] for c in UNUSABLE],
)
def test_unusable_file_is_refused_with_one_line(
    built: dict[str, Path],
    target: Path,
    tmp_path: Path,
    name: str,
    content: Callable[[bytes], bytes],
    problem: str,
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / name
    path.write_bytes(content(built["plain.csv"].read_bytes()))
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = refusal_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"posturetest: {folder}/")
    assert problem in lines[0]
    assert lines[0].endswith("(nothing was imported)")
    assert fingerprint(target) == before


def test_latin1_file_is_refused_naming_the_byte(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    text = built["plain.csv"].read_text(encoding="utf-8")
    assert "ë" in text
    path = tmp_path / "latin1.csv"
    path.write_bytes(text.encode("latin-1"))
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 2
    assert result.stderr == (
        f"posturetest: {path}: not UTF-8 text (byte {text.index('ë')}); save it as 'CSV UTF-8' "
        "and try again (nothing was imported)\n"
    )
    assert fingerprint(target) == before


def test_missing_file_is_refused_and_no_database_is_created(tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    result = import_into(db, tmp_path / "nowhere.csv")
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {tmp_path / 'nowhere.csv'} does not exist\n"
    assert not db.exists()


def test_folder_is_refused(target: Path, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    before = fingerprint(target)
    result = import_into(target, folder)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"posturetest: {folder}: is a folder")
    assert result.stderr.count("\n") == 1
    assert fingerprint(target) == before


def test_file_with_only_a_byte_order_mark_is_empty(target: Path, tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbf")
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {path}: the file is empty (nothing was imported)\n"
    assert fingerprint(target) == before


def test_empty_spreadsheet_csv_is_empty(target: Path, tmp_path: Path) -> None:
    path = tmp_path / "sheet.csv"
    path.write_bytes(b"\xef\xbb\xbf\r\n")
    result = import_into(target, path)
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {path}: the file is empty (nothing was imported)\n"


# -- spreadsheets ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delimiter", "newline"),
    [(";", "\r\n"), (",", "\r\n"), (",", "\n")],
    ids=["bom-semicolon-crlf", "bom-comma-crlf", "bom-comma-lf"],
)
def test_spreadsheet_csv_with_bom_is_accepted(
    built: dict[str, Path], plain_rows: Rows, tmp_path: Path, delimiter: str, newline: str
) -> None:
    path = write_rows(
        tmp_path / "sheet.csv", plain_rows, delimiter=delimiter, newline=newline, bom=True
    )
    assert path.read_bytes().startswith(b"\xef\xbb\xbftrial_id" + delimiter.encode())
    db = tmp_path / "db.db"
    result = import_into(db, path)
    assert result.exit_code == 0, result.output
    assert f"{STUDY_TRIALS} trials" in result.stdout
    assert export_csv(db, tmp_path / "again.csv") == built["plain.csv"].read_bytes()


def test_semicolon_file_reports_lines_of_bad_rows(
    plain_rows: Rows, target: Path, tmp_path: Path
) -> None:
    plain_rows[4]["posture"] = "banana"
    path = write_rows(tmp_path / "sheet.csv", plain_rows, delimiter=";", newline="\r\n", bom=True)
    result = import_into(target, path)
    assert result.exit_code == 1
    assert refusal_lines(result)[0].startswith(f"{path}:6: posture: 'banana'")


# -- bad rows ------------------------------------------------------------------------------------

Edit = Callable[[Rows], tuple[int, str, str]]
"""Changes rows in place; returns (row index, column, what the message must say)."""


def _index(rows: Rows, **match: str) -> int:
    return next(i for i, r in enumerate(rows) if all(r[k] == v for k, v in match.items()))


def set_cell(column: str, value: str, message: str, **match: str) -> Edit:
    def edit(rows: Rows) -> tuple[int, str, str]:
        i = _index(rows, **match)
        rows[i][column] = value
        return i, column, message

    return edit


def _differs_in_session(column: str, value: str) -> Edit:
    def edit(rows: Rows) -> tuple[int, str, str]:
        session = rows[0]["session_id"]
        i = [k for k, r in enumerate(rows) if r["session_id"] == session][2]
        assert rows[i][column] != value
        rows[i][column] = value
        return i, column, "differs from line 2 of the same session"

    return edit


def _duplicated_trial_id(rows: Rows) -> tuple[int, str, str]:
    rows[5]["trial_id"] = rows[4]["trial_id"]
    return 5, "trial_id", "this trial appears twice in the file"


def _duplicated_row(rows: Rows) -> tuple[int, str, str]:
    rows.insert(8, dict(rows[7]))
    return 8, "trial_id", "this trial appears twice in the file"


def _duplicated_seq(rows: Rows) -> tuple[int, str, str]:
    rows[3]["seq"] = rows[2]["seq"]
    return 3, "seq", f"session {rows[2]['session_id']} has two trials at seq {rows[2]['seq']}"


ROW_ERRORS: list[tuple[str, Edit]] = [
    ("rating_11", set_cell("tester_stability", "11", "11 is above 10", outcome="rated")),
    ("rating_abc", set_cell("subject_ease", "abc", "'abc' is not a whole number", outcome="rated")),
    ("rating_negative", set_cell("discomfort", "-1", "-1 is below 0", outcome="rated")),
    ("rating_decimal", set_cell("tester_effort", "7.5", "'7.5' is not a whole number", seq="2")),
    ("rating_arabic_digit", set_cell("tester_stability", "٣", "is not a whole number", seq="3")),
    (
        "unknown_posture",
        set_cell("posture", "banana", "'banana' is not one of ligament, muscle, skeleton", seq="4"),
    ),
    ("unknown_test", set_cell("test", "lateral", "'lateral' is not one of vertical, anterior")),
    (
        "unknown_outcome",
        set_cell("outcome", "done", "'done' is not one of pending, rated, stopped, skipped"),
    ),
    ("unknown_position", set_cell("position", "lying", "'lying' is not one of sitting, standing")),
    ("unknown_status", set_cell("session_status", "paused", "'paused' is not one of")),
    ("bad_trial_uuid", set_cell("trial_id", "not-a-uuid", "'not-a-uuid'", seq="5")),
    ("short_session_uuid", set_cell("session_id", "1234", "'1234'", seq="6")),
    ("bad_subject", set_cell("subject", "S 001", "'S 001'", outcome="skipped")),
    ("long_subject", set_cell("subject", "S" * 33, "'" + "S" * 33 + "'", outcome="pending")),
    (
        "bad_datetime",
        set_cell(
            "session_started_at",
            "2026-11-20 09:00:00",
            "'2026-11-20 09:00:00' is not a UTC time like 2026-11-24T09:15:00Z",
        ),
    ),
    ("unpadded_datetime", set_cell("rated_at", "2026-1-5T9:0:0Z", "is not a UTC time", seq="2")),
    ("impossible_date", set_cell("rated_at", "2026-02-30T10:00:00Z", "is not a UTC time", seq="3")),
    ("local_time", set_cell("rated_at", "2026-11-24T10:15:00+01:00", "is not a UTC time", seq="4")),
    ("rep_4", set_cell("rep", "4", "4 is above 3", outcome="stopped")),
    ("seq_0", set_cell("seq", "0", "0 is below 1", outcome="pending")),
    ("protocol_empty", set_cell("protocol_version", "", "required, but empty", seq="2")),
    (
        "stop_reason_on_rated",
        set_cell(
            "stop_reason", "pain", "only a stopped trial has a reason (outcome rated)", seq="3"
        ),
    ),
    (
        "stop_reason_on_pending",
        set_cell("stop_reason", "other", "only a stopped trial has a reason", outcome="pending"),
    ),
    (
        "stopped_without_reason",
        set_cell("stop_reason", "", "a stopped trial needs a reason", outcome="stopped"),
    ),
    (
        "unknown_stop_reason",
        set_cell(
            "stop_reason", "tired", "'tired' is not one of pain, discomfort", outcome="stopped"
        ),
    ),
    (
        "rated_without_subject_ease",
        set_cell("subject_ease", "", "a rated trial needs this rating", outcome="rated", seq="4"),
    ),
    (
        "rated_without_tester_stability",
        set_cell("tester_stability", "", "a rated trial needs this rating", outcome="rated"),
    ),
    (
        "ratings_on_skipped",
        set_cell("tester_stability", "5", "a skipped trial has no ratings", outcome="skipped"),
    ),
    (
        "ratings_on_stopped",
        set_cell("discomfort", "2", "a stopped trial has no ratings", outcome="stopped"),
    ),
    ("session_position_differs", _differs_in_session("position", "standing")),
    ("session_status_differs", _differs_in_session("session_status", "stopped")),
    ("session_subject_differs", _differs_in_session("subject", "S-002")),
    ("session_start_differs", _differs_in_session("session_started_at", "2026-11-20T09:00:01Z")),
    ("session_tester_differs", _differs_in_session("tester", "someone else")),
    ("duplicated_trial_id", _duplicated_trial_id),
    ("duplicated_row", _duplicated_row),
    ("duplicated_seq", _duplicated_seq),
]


@pytest.mark.parametrize("edit", [e for _, e in ROW_ERRORS], ids=[n for n, _ in ROW_ERRORS])
def test_bad_row_is_refused_with_its_line_and_column(
    plain_rows: Rows, target: Path, tmp_path: Path, edit: Edit
) -> None:
    index, column, message = edit(plain_rows)
    path = write_rows(tmp_path / "bad.csv", plain_rows)
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    lines = refusal_lines(result)
    assert len(lines) == 2, result.stderr
    prefix = f"{path}:{index + 2}: {column}: "
    assert lines[0].startswith(prefix), lines[0]
    assert message in lines[0][len(prefix) :]
    assert lines[1] == "posturetest: nothing was imported"
    assert fingerprint(target) == before


def test_subject_case_may_differ_between_rows_of_a_session(
    plain_rows: Rows, tmp_path: Path
) -> None:
    """The same subject code in another case is the same subject, not an inconsistency."""
    plain_rows[1]["subject"] = plain_rows[1]["subject"].lower()
    db = tmp_path / "db.db"
    result = import_into(db, write_rows(tmp_path / "case.csv", plain_rows))
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        assert store.count("subjects") == STUDY_SUBJECTS


@pytest.mark.parametrize(("drop", "cells"), [(1, 21), (-1, 23)], ids=["too_few", "too_many"])
def test_row_with_wrong_number_of_cells(
    built: dict[str, Path], target: Path, tmp_path: Path, drop: int, cells: int
) -> None:
    lines = built["plain.csv"].read_text(encoding="utf-8").split("\n")
    if drop > 0:
        lines[3] = lines[3].rsplit(",", 1)[0]
    else:
        lines[3] += ",surplus"
    path = tmp_path / "cells.csv"
    path.write_text("\n".join(lines), encoding="utf-8")
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 1
    assert refusal_lines(result) == [
        f"{path}:4: {cells} cells, the header has 22",
        "posturetest: nothing was imported",
    ]
    assert fingerprint(target) == before


def test_more_than_twenty_problems_lists_twenty(
    plain_rows: Rows, target: Path, tmp_path: Path
) -> None:
    for row in plain_rows:
        row["posture"] = "x"
    path = write_rows(tmp_path / "many.csv", plain_rows)
    before = fingerprint(target)
    result = import_into(target, path)
    assert result.exit_code == 1
    lines = refusal_lines(result)
    assert lines[:20] == [
        f"{path}:{line}: posture: 'x' is not one of ligament, muscle, skeleton"
        for line in range(2, 22)
    ]
    assert lines[20:] == [
        f"... and {STUDY_TRIALS - 20} more problems",
        "posturetest: nothing was imported",
    ]
    assert fingerprint(target) == before


def test_a_good_file_after_a_refused_one_imports_fully(
    built: dict[str, Path], plain_rows: Rows, target: Path, tmp_path: Path
) -> None:
    """A refusal leaves nothing behind that would make the corrected file a conflict."""
    plain_rows[-1]["tester_stability"] = "12"
    assert import_into(target, write_rows(tmp_path / "bad.csv", plain_rows)).exit_code == 1
    result = import_into(target, built["plain.csv"])
    assert result.exit_code == 0
    assert f"added {STUDY_SESSIONS} sessions, {STUDY_TRIALS} trials" in result.stdout


# -- line numbers with quoted multi-line fields --------------------------------------------------


def test_line_numbers_count_the_lines_of_multiline_fields(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    rows = read_rows(built["tricky.csv"].read_bytes())
    # session 1 (6 rows) has a two-line tester; session 2 starts after them on single lines
    index = next(i for i, r in enumerate(rows) if r["session_id"] != rows[0]["session_id"])
    assert rows[index]["tester"] == "" and rows[index]["note"] == ""
    rows[index]["rep"] = "9"
    path = write_rows(tmp_path / "multi.csv", rows)
    line = line_of(path, rows[index]["trial_id"])
    assert line == 2 + 2 * index  # header, then two lines per row before it
    result = import_into(target, path)
    assert result.exit_code == 1
    assert refusal_lines(result)[0] == f"{path}:{line}: rep: 9 is above 3"


def test_line_number_after_a_multiline_note(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    rows = read_rows(built["tricky.csv"].read_bytes())
    stopped = _index(rows, note=TRICKY_NOTE)
    rows[stopped + 1]["posture"] = "banana"
    path = write_rows(tmp_path / "multi.csv", rows)
    line = line_of(path, rows[stopped + 1]["trial_id"])
    result = import_into(target, path)
    assert result.exit_code == 1
    assert refusal_lines(result)[0].startswith(f"{path}:{line}: posture: 'banana'")


def test_line_number_of_a_multiline_row_is_where_it_starts(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    rows = read_rows(built["tricky.csv"].read_bytes())
    stopped = _index(rows, note=TRICKY_NOTE)
    assert rows[stopped]["tester"] == ""  # the note, the last column, is its only line break
    rows[stopped]["posture"] = "banana"
    path = write_rows(tmp_path / "multi.csv", rows)
    line = line_of(path, rows[stopped]["trial_id"])
    assert line_of(path, "stopped; café") == line + 1
    result = import_into(target, path)
    assert result.exit_code == 1
    assert refusal_lines(result)[0].startswith(f"{path}:{line}: posture: 'banana'")


# -- data packages: every file is checked ---------------------------------------------------------


def _package(built: dict[str, Path], folder: Path) -> dict[str, Rows]:
    export_package(built["plain"], folder)
    return {
        name: read_rows((folder / f"{name}.csv").read_bytes())
        for name in ("trials", "rankings", "sessions")
    }


@pytest.mark.parametrize(
    ("file", "column", "value", "message"),
    [
        ("rankings", "rank", "4", "4 is above 3"),
        ("rankings", "role", "coach", "'coach' is not one of subject, tester"),
        ("sessions", "blind", "2", "2 is above 1"),
        ("sessions", "tests", "vertical;anterior", "'vertical;anterior'"),
        ("sessions", "ended_at", "soon", "'soon' is not a UTC time"),
    ],
)
def test_bad_row_in_a_package_file_names_that_file(
    built: dict[str, Path],
    target: Path,
    tmp_path: Path,
    file: str,
    column: str,
    value: str,
    message: str,
) -> None:
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    tables[file][1][column] = value
    columns = RANKING_COLUMNS if file == "rankings" else SESSION_COLUMNS
    write_rows(folder / f"{file}.csv", tables[file], columns)
    before = fingerprint(target)
    result = import_into(target, folder / "datapackage.json")
    assert result.exit_code == 1, result.output
    lines = refusal_lines(result)
    assert lines[0].startswith(f"{folder / f'{file}.csv'}:3: {column}: "), lines
    assert message in lines[0]
    assert lines[-1] == "posturetest: nothing was imported"
    assert fingerprint(target) == before


def test_ranking_of_a_session_not_in_the_package_is_refused(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    tables["rankings"][0]["session_id"] = str(uuid.uuid4())
    write_rows(folder / "rankings.csv", tables["rankings"], RANKING_COLUMNS)
    before = fingerprint(target)
    result = import_into(target, folder / "datapackage.json")
    assert result.exit_code == 1
    assert refusal_lines(result)[0] == (
        f"{folder / 'rankings.csv'}:2: session_id: no trial of this session"
    )
    assert fingerprint(target) == before


def test_session_without_trials_in_the_package_is_refused_at_its_line(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    lonely = tables["sessions"][1]["session_id"]
    assert not [r for r in tables["rankings"] if r["session_id"] == lonely]
    trials = [r for r in tables["trials"] if r["session_id"] != lonely]
    write_rows(folder / "trials.csv", trials)
    (folder / "safety_answers.csv").unlink()  # its answers would be refused the same way
    descriptor = json.loads((folder / "datapackage.json").read_text())
    descriptor["resources"] = [r for r in descriptor["resources"] if r["name"] != "safety_answers"]
    (folder / "datapackage.json").write_text(json.dumps(descriptor))
    before = fingerprint(target)
    result = import_into(target, folder / "datapackage.json")
    assert result.exit_code == 1
    assert fingerprint(target) == before
    assert refusal_lines(result) == [
        f"{folder / 'sessions.csv'}:3: session_id: no trial of this session",
        "posturetest: nothing was imported",
    ]


# -- values the database cannot hold ---------------------------------------------------------------


@pytest.mark.parametrize("digits", [25, 5000], ids=["past-sqlite", "past-python"])
@pytest.mark.parametrize(("file", "column"), [("trials", "seq"), ("sessions", "order_seed")])
def test_huge_integer_is_a_row_error_not_a_crash(
    built: dict[str, Path], target: Path, tmp_path: Path, file: str, column: str, digits: int
) -> None:
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    tables[file][1][column] = "1" + "0" * digits
    write_rows(
        folder / f"{file}.csv", tables[file], TRIAL_COLUMNS if file == "trials" else SESSION_COLUMNS
    )
    before = fingerprint(target)
    result = import_into(target, folder / "datapackage.json")
    assert result.exit_code == 1
    assert refusal_lines(result)[0].startswith(f"{folder / f'{file}.csv'}:3: {column}: ")
    assert fingerprint(target) == before


def test_two_postures_at_the_same_rank_are_refused(
    built: dict[str, Path], target: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    tables["rankings"][1]["rank"] = tables["rankings"][0]["rank"]
    write_rows(folder / "rankings.csv", tables["rankings"], RANKING_COLUMNS)
    before = fingerprint(target)
    result = import_into(target, folder / "datapackage.json")
    assert result.exit_code == 1
    assert refusal_lines(result)[-1] == "posturetest: nothing was imported"
    assert fingerprint(target) == before


# -- conflicts with what the database holds --------------------------------------------------------


def _with_other_session(built: dict[str, Path], tmp_path: Path, rows: Rows) -> Rows:
    """rows plus every row of a session the database has never seen."""
    other = read_rows(export_csv(built["other"], tmp_path / "other.csv"))
    assert other and other[0]["session_id"] not in {r["session_id"] for r in rows}
    return rows + other


def test_changed_rating_is_a_conflict_and_nothing_is_written(
    built: dict[str, Path], plain_rows: Rows, tmp_path: Path
) -> None:
    db = copy_db(built, "plain", tmp_path / "db.db")
    i = _index(plain_rows, outcome="rated", seq="2")
    trial_id = plain_rows[i]["trial_id"]
    plain_rows[i]["tester_stability"] = str((int(plain_rows[i]["tester_stability"]) + 1) % 11)
    path = write_rows(tmp_path / "changed.csv", _with_other_session(built, tmp_path, plain_rows))
    before = fingerprint(db)
    result = import_into(db, path)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = refusal_lines(result)
    named = [line for line in lines if trial_id in line]
    assert len(named) == 1 and "tester_stability" in named[0], lines
    assert lines[-1] == "posturetest: nothing was imported"
    assert fingerprint(db) == before  # not even the new session's rows


def test_session_with_another_subject_is_a_conflict(
    built: dict[str, Path], plain_rows: Rows, tmp_path: Path
) -> None:
    db = copy_db(built, "plain", tmp_path / "db.db")
    session_id = plain_rows[0]["session_id"]
    for row in plain_rows:
        if row["session_id"] == session_id:
            row["subject"] = "S-999"
    path = write_rows(tmp_path / "subject.csv", _with_other_session(built, tmp_path, plain_rows))
    before = fingerprint(db)
    result = import_into(db, path)
    assert result.exit_code == 1
    lines = refusal_lines(result)
    assert any(
        f"session {session_id}" in line and "subject" in line and "'S-999'" in line
        for line in lines
    ), lines
    assert lines[-1] == "posturetest: nothing was imported"
    assert fingerprint(db) == before


def test_new_trial_at_a_taken_position_is_a_conflict(
    built: dict[str, Path], plain_rows: Rows, tmp_path: Path
) -> None:
    db = copy_db(built, "plain", tmp_path / "db.db")
    plain_rows[3]["trial_id"] = str(uuid.uuid4())
    path = write_rows(tmp_path / "taken.csv", plain_rows)
    before = fingerprint(db)
    result = import_into(db, path)
    assert result.exit_code == 1
    assert "seq" in result.stderr
    assert refusal_lines(result)[-1] == "posturetest: nothing was imported"
    assert fingerprint(db) == before


def test_changed_ranking_is_a_conflict(built: dict[str, Path], tmp_path: Path) -> None:
    db = copy_db(built, "plain", tmp_path / "db.db")
    folder = tmp_path / "pkg"
    tables = _package(built, folder)
    first, second = tables["rankings"][0], tables["rankings"][1]
    assert (first["rank"], second["rank"]) == ("1", "2")
    first["rank"], second["rank"] = "2", "1"
    write_rows(folder / "rankings.csv", tables["rankings"], RANKING_COLUMNS)
    before = fingerprint(db)
    result = import_into(db, folder / "datapackage.json")
    assert result.exit_code == 1
    key = "/".join(first[c] for c in ("session_id", "test", "role", "posture"))
    assert any(key in line and "rank" in line for line in refusal_lines(result)), result.stderr
    assert fingerprint(db) == before


# -- property-based: any valid study round-trips -----------------------------------------------

TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list(",\";\n\r '")),
        st.characters(
            blacklist_categories=("Cs",),
            blacklist_characters="".join(map(chr, NOTE_CONTROL_CODES)),  # the note rule
        ),
    ),
    max_size=12,
)
SUBJECTS = st.sampled_from(["S-1", "s-1", "P_02", "x", "A" * 32, "z-9_Q"])
TEST_CHOICES = st.sampled_from(
    [
        (StressTest.VERTICAL,),
        (StressTest.ANTERIOR,),
        (StressTest.VERTICAL, StressTest.ANTERIOR),
        (StressTest.ANTERIOR, StressTest.VERTICAL),
    ]
)
ACTION = st.tuples(
    st.sampled_from(["rate", "rate", "partial", "stop", "leave"]),
    st.integers(0, 10),
    st.integers(0, 10),
    st.sampled_from(list(StopReason)),
    TEXT,
)


@st.composite
def session_plans(draw: st.DrawFn) -> dict[str, object]:
    scheme = draw(st.sampled_from(list(OrderScheme)))
    started = draw(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31)))
    return {
        "subject": draw(SUBJECTS),
        "setup": {
            "tester": draw(TEXT),
            "position": draw(st.sampled_from(list(Position))),
            "tests": draw(TEST_CHOICES),
            "repetitions": draw(st.integers(1, 2)),
            "scheme": scheme,
            "seed": draw(st.integers(0, 2**31)) if scheme is OrderScheme.RANDOM else None,
            "blind": draw(st.booleans()),
            "record_effort": draw(st.booleans()),
            "record_discomfort": draw(st.booleans()),
        },
        "station": draw(TEXT),
        "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "safety": draw(st.sampled_from(["pass", "pass", "refused", "cleared"])),
        "actions": draw(st.lists(ACTION, min_size=12, max_size=12)),
        "ending": draw(st.sampled_from(["open", "stopped", "complete"])),
        "rankings": draw(st.lists(st.permutations(list(Posture)), min_size=2, max_size=2)),
    }


def build_generated(db: Path, plans: list[dict[str, object]]) -> None:
    with Store(db) as store:
        for plan in plans:
            session_id = new_session(
                store,
                str(plan["subject"]),
                started_at=str(plan["started_at"]),
                station=str(plan["station"]),
                safety_yes=plan["safety"] != "pass",
                cleared_by="Dr. X" if plan["safety"] == "cleared" else None,
                **plan["setup"],  # type: ignore[arg-type]
            )
            if plan["safety"] == "refused":
                continue
            session = store.session(session_id)
            complete = plan["ending"] == "complete"
            actions: list[tuple[str, int, int, StopReason, str]] = plan["actions"]  # type: ignore[assignment]
            for trial, (action, tester_value, subject_value, reason, note) in zip(
                store.trials(session_id), actions, strict=False
            ):
                if complete and action in ("partial", "leave"):
                    action = "rate"
                if action in ("rate", "partial"):
                    for scale in session.scales:
                        value = subject_value if scale.role is Role.SUBJECT else tester_value
                        store.record_rating(trial.trial_id, scale.name, value)
                        if action == "partial":
                            break
                elif action == "stop":
                    store.stop_trial(trial.trial_id, reason, note=note)
            orders: list[list[Posture]] = plan["rankings"]  # type: ignore[assignment]
            for test, order in zip(session.tests, orders, strict=False):
                store.record_ranking(session_id, test, Role.SUBJECT, order)
            if plan["ending"] == "stopped":
                store.end_session(session_id, SessionStatus.STOPPED)
            elif complete:
                store.end_session(session_id, SessionStatus.COMPLETE)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plans=st.lists(session_plans(), min_size=1, max_size=3))
def test_any_valid_study_round_trips(plans: list[dict[str, object]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        build_generated(work / "study.db", plans)
        exported = export_csv(work / "study.db", work / "study.csv")
        assert import_into(work / "fresh.db", work / "study.csv").exit_code == 0
        assert export_csv(work / "fresh.db", work / "again.csv") == exported
        package = export_package(work / "study.db", work / "pkg")
        result = import_into(work / "fresh2.db", work / "pkg" / "datapackage.json")
        assert result.exit_code == 0, result.output
        assert export_package(work / "fresh2.db", work / "pkg2") == package
        again = import_into(work / "fresh2.db", work / "pkg" / "datapackage.json")
        assert again.exit_code == 0 and again.stdout.startswith("Nothing new")


# -- property-based: any single corrupted cell is refused with its line ----------------------------

_UUID_BAD = ["", "not-a-uuid", "0123456789abcdef0123456789abcdef", "0123-4567", "{uuid}x"]
_DATETIME_BAD = [
    "2026-11-24 09:15:00",
    "2026-13-01T09:15:00Z",
    "2026-11-24T09:15:00",
    "2026-02-30T09:15:00Z",
    "2026-11-24T25:00:00Z",
    "yesterday",
    "2026-11-24",
]
_RATING_BAD = ["11", "-1", "abc", "3.5", "1e1", " 5", "10 ", "٣", "twelve"]
_ENUM_COLUMNS = ("position", "order_scheme", "session_status", "test", "posture", "outcome")


def corruptions(row: dict[str, str]) -> list[tuple[str, str]]:
    """(column, value) pairs that make this one row invalid in that one column."""
    options: list[tuple[str, str]] = []
    for column in ("trial_id", "session_id"):
        options += [(column, v.replace("{uuid}", row[column])) for v in _UUID_BAD]
        options.append((column, row[column][:-1]))
    options += [("subject", v) for v in ("", "S 1", "x" * 33, "Zoë", "S-1;")]
    for column in _ENUM_COLUMNS:
        options += [(column, "banana"), (column, ""), (column, row[column] + " ")]
    options += [("stop_reason", "banana"), ("protocol_version", "")]
    options += [("session_started_at", v) for v in ["", *_DATETIME_BAD]]
    options += [("rated_at", v) for v in _DATETIME_BAD]
    options += [("rep", v) for v in ("", "0", "4", "one", "1.0", "-1")]
    options += [("seq", v) for v in ("", "0", "-3", "2.5", "x")]
    for column in ("tester_stability", "subject_ease", "discomfort", "tester_effort"):
        options += [(column, v) for v in _RATING_BAD]
    outcome = row["outcome"]
    if outcome == "stopped":
        options.append(("stop_reason", ""))
    else:
        options.append(("stop_reason", "pain"))
    if outcome == "rated":
        options += [("tester_stability", ""), ("subject_ease", "")]
    if outcome in ("stopped", "skipped"):
        options += [(c, "5") for c in ("tester_stability", "subject_ease", "discomfort")]
    return options


@pytest.fixture(scope="module")
def corruption_setup(
    built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Rows, Path, Path, Fingerprint]:
    folder = tmp_path_factory.mktemp("corrupt")
    target = copy_db(built, "other", folder / "target.db")
    return read_rows(built["plain.csv"].read_bytes()), folder, target, fingerprint(target)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_corrupted_cell_is_refused_with_its_line(
    corruption_setup: tuple[Rows, Path, Path, Fingerprint], data: st.DataObject
) -> None:
    rows, folder, target, before = corruption_setup
    rows = [dict(r) for r in rows]
    index = data.draw(st.integers(0, len(rows) - 1), label="row")
    column, value = data.draw(st.sampled_from(corruptions(rows[index])), label="corruption")
    rows[index][column] = value
    path = write_rows(folder / "corrupted.csv", rows)
    result = import_into(target, path)
    assert result.exit_code == 1, result.output
    lines = refusal_lines(result)
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}:{index + 2}: {column}: "), lines[0]
    assert lines[1] == "posturetest: nothing was imported"
    assert fingerprint(target) == before
