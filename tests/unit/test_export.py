"""Exports: CSV, JSON, the Frictionless data package and the codebook, through the library and
the command line. Every check reads what a user gets (files, stdout, stderr) or what is stored."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from frictionless import validate

from posturetest import cli
from posturetest.cli import main
from posturetest.domain import (
    SAFETY_KEYS,
    SessionSetup,
    SessionStatus,
    StopReason,
)
from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SAFETY_ANSWER_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
)
from posturetest.domain.scales import SCALES
from posturetest.export import (
    codebook_markdown,
    write_csv,
    write_datapackage,
    write_json,
)
from posturetest.store import Store
from posturetest.store.selection import Selection
from tests.factories import (
    CLEARED_BY,
    NOTE,
    STATION,
    TESTER,
    ExportStudy,
    complete_session,
    export_study,
    new_session,
    rate_all,
)

TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


# -- building data ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> ExportStudy:
    return export_study(tmp_path_factory.mktemp("study") / "study.db")


@pytest.fixture
def study_store(study: ExportStudy) -> Iterator[Store]:
    store = Store(study.path)
    yield store
    store.close()


def view_rows(path: Path, table: str = "trial_results") -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    finally:
        conn.close()


def view_columns(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [d[0] for d in conn.execute("SELECT * FROM trial_results LIMIT 0").description]
    finally:
        conn.close()


def as_csv_text(value: object) -> str:
    return "" if value is None else str(value)


def parse_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def csv_text(store: Store, selection: Selection | None = None) -> str:
    selection = selection or Selection()
    out = io.StringIO(newline="")
    write_csv(store, selection, out)
    return out.getvalue()


def json_rows(store: Store, selection: Selection | None = None) -> Any:
    selection = selection or Selection()
    out = io.StringIO()
    write_json(store, selection, out)
    return json.loads(out.getvalue())


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def one_error_line(result: Result) -> str:
    """The single stderr line of a refusal, after checking there is nothing else."""
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("posturetest: ")
    return lines[0]


# -- CSV ---------------------------------------------------------------------------------------


def test_csv_header_is_the_interchange_columns_and_the_view(study_store: Store) -> None:
    text = csv_text(study_store)
    assert text.split("\n", 1)[0] == ",".join(TRIAL_COLUMNS)
    assert list(TRIAL_COLUMNS) == view_columns(Path(study_store.path))
    assert len(TRIAL_COLUMNS) == 22


def test_csv_has_one_row_per_trial_equal_to_the_view(
    study: ExportStudy, study_store: Store
) -> None:
    header, rows = parse_csv(csv_text(study_store))
    assert header == list(TRIAL_COLUMNS)
    stored = view_rows(study.path)
    assert len(rows) == len(stored) == study_store.count("trials")
    expected = {r["trial_id"]: {k: as_csv_text(v) for k, v in r.items()} for r in stored}
    got = {r["trial_id"]: r for r in rows}
    assert len(got) == len(rows)
    assert got == expected


def test_csv_tricky_free_text_round_trips(study: ExportStudy, study_store: Store) -> None:
    _, rows = parse_csv(csv_text(study_store))
    tricky = [r for r in rows if r["session_id"] == study.sessions["tricky"]]
    assert len(tricky) == 6
    assert {r["tester"] for r in tricky} == {TESTER}
    assert {r["station"] for r in tricky} == {STATION}
    stopped = [r for r in tricky if r["outcome"] == "stopped"]
    assert len(stopped) == 1
    assert stopped[0]["note"] == NOTE and stopped[0]["stop_reason"] == "pain"
    assert stopped[0]["tester_stability"] == stopped[0]["subject_ease"] == ""
    assert [r["outcome"] for r in tricky] == ["rated", "rated", "stopped"] + ["skipped"] * 3


def test_csv_times_are_iso_utc(study: ExportStudy, study_store: Store) -> None:
    _, rows = parse_csv(csv_text(study_store))
    by_session = {r["session_id"]: r for r in rows}
    assert by_session[study.sessions["tricky"]]["session_started_at"] == "2026-11-20T09:00:00Z"
    for row in rows:
        assert TIME.fullmatch(row["session_started_at"])
        if row["outcome"] in {"rated", "stopped"}:
            assert TIME.fullmatch(row["rated_at"]), row
        else:
            assert row["rated_at"] == ""


def test_csv_of_an_empty_selection_is_the_header_only(study_store: Store) -> None:
    text = csv_text(study_store, Selection(subjects=("NOBODY",)))
    assert text == ",".join(TRIAL_COLUMNS) + "\n"


# -- JSON --------------------------------------------------------------------------------------


def test_json_objects_in_column_order_with_nulls_and_ints(
    study: ExportStudy, study_store: Store
) -> None:
    rows = json_rows(study_store)
    assert isinstance(rows, list) and rows
    for row in rows:
        assert list(row) == list(TRIAL_COLUMNS)
    stored = {r["trial_id"]: r for r in view_rows(study.path)}
    assert {r["trial_id"]: r for r in rows} == stored
    integer_columns = [f.name for f in TRIAL_FIELDS if f.type == "integer"]
    for row in rows:
        for name in integer_columns:
            assert row[name] is None or type(row[name]) is int, (name, row[name])
        assert type(row["rep"]) is int and type(row["seq"]) is int
    rated = next(r for r in rows if r["outcome"] == "rated")
    assert rated["stop_reason"] is None
    stopped = next(r for r in rows if r["outcome"] == "stopped")
    assert stopped["tester_stability"] is None and stopped["note"] == NOTE
    assert stopped["tester"] == TESTER


def test_json_of_an_empty_selection_is_an_empty_list(study_store: Store, tmp_path: Path) -> None:
    assert json_rows(study_store, Selection(session_ids=("no-such-session",))) == []
    with Store(tmp_path / "empty.db") as empty:
        assert json_rows(empty) == []
    result = run("export", "--db", str(tmp_path / "empty.db"), "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> ExportStudy:
    """Sessions either side of day boundaries, with codes in both cases."""
    path = tmp_path_factory.mktemp("dated") / "dated.db"
    with Store(path) as store:
        sessions = {
            "A": complete_session(store, "S-001", started_at="2026-11-19T23:59:59Z"),
            "B": new_session(store, "s-002", started_at="2026-11-20T00:00:00Z"),
            "C": new_session(store, "S-003", started_at="2026-11-21T12:00:00Z"),
            "D": complete_session(store, "S-001", started_at="2026-11-22T00:00:00Z"),
        }
        rate_all(store, sessions["B"], upto=1)
        store.end_session(sessions["B"], SessionStatus.STOPPED)
    return ExportStudy(path, sessions)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], "ABCD"),
        (["--subject", "s-001"], "AD"),
        (["--subject", "S-001", "--subject", "S-002"], "ABD"),
        (["--session", "B"], "B"),
        (["--session", "B", "--session", "C"], "BC"),
        (["--since", "2026-11-20"], "BCD"),
        (["--until", "2026-11-21"], "ABC"),
        (["--until", "2026-11-19"], "A"),
        (["--since", "2026-11-20", "--until", "2026-11-20"], "B"),
        (["--since", "2026-11-22", "--until", "2026-11-22"], "D"),
        (["--complete-only"], "AD"),
        (["--subject", "S-001", "--since", "2026-11-20"], "D"),
        (["--subject", "S-003", "--complete-only"], ""),
    ],
)
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_filters_select_exactly_the_right_sessions(
    dated: ExportStudy, options: list[str], expected: str, fmt: str
) -> None:
    args = [dated.sessions.get(o, o) for o in options]
    result = run("export", "--db", str(dated.path), "--format", fmt, *args)
    assert result.exit_code == 0, result.output
    if fmt == "csv":
        _, rows = parse_csv(result.stdout)
    else:
        rows = json.loads(result.stdout)
    got = {r["session_id"] for r in rows}
    assert got == {dated.sessions[label] for label in expected}
    stored = [r for r in view_rows(dated.path) if r["session_id"] in got]
    assert len(rows) == len(stored)


# -- de-identification -------------------------------------------------------------------------


def new_id(db: Path, session_id: str) -> str:
    """The id a de-identified export of `db` gives a stored session (computed with its secret)."""
    from posturetest.store.export_sql import pseudonym

    with sqlite3.connect(db) as conn:
        secret = conn.execute("SELECT value FROM meta WHERE key = 'study_secret'").fetchone()[0]
    return pseudonym(secret, "session", session_id)


def subjects_by_session(rows: list[dict[str, Any]]) -> dict[str, str]:
    found: dict[str, set[str]] = {}
    for r in rows:
        found.setdefault(r["session_id"], set()).add(r["subject"])
    assert all(len(ids) == 1 for ids in found.values())
    return {session: ids.pop() for session, ids in found.items()}


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> ExportStudy:
    """Two subjects, one of them with two sessions."""
    path = tmp_path_factory.mktemp("twice") / "twice.db"
    with Store(path) as store:
        sessions = {
            "first": complete_session(
                store, "S-001", started_at="2026-11-20T09:00:00Z", tester=TESTER, station=STATION
            ),
            "again": new_session(store, "S-001", started_at="2026-11-21T09:00:00Z", tester="Bo"),
            "other": new_session(store, "S-002", started_at="2026-11-21T10:00:00Z", station="lab"),
        }
        first = store.trials(sessions["again"])[0]
        store.stop_trial(first.trial_id, StopReason.OTHER, note=NOTE)
    return ExportStudy(path, sessions)


def test_deidentified_csv_blanks_identifying_text_and_replaces_codes(twice: ExportStudy) -> None:
    first = run("export", "--db", str(twice.path), "--deidentify")
    second = run("export", "--db", str(twice.path), "--deidentify")
    assert first.exit_code == second.exit_code == 0
    header, rows = parse_csv(first.stdout)
    assert header == list(TRIAL_COLUMNS)
    assert len(rows) == len(view_rows(twice.path))
    ids = subjects_by_session(rows)
    assert ids == subjects_by_session(parse_csv(second.stdout)[1])

    def of(session: str) -> str:
        return ids[new_id(twice.path, twice.sessions[session])]

    assert of("first") == of("again")
    assert of("first") != of("other")
    assert not set(ids) & set(twice.sessions.values())
    for study_id in ids.values():
        assert study_id and "001" not in study_id and "002" not in study_id
        assert not study_id.upper().startswith("S-")
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,32}", study_id)
    for row in rows:
        assert row["tester"] == row["station"] == row["note"] == ""
    for secret in ("Ann", "Bo", "desk", "lab", "sharp", "S-001", "S-002"):
        assert secret not in first.stdout


def test_deidentified_json_nulls_identifying_text(twice: ExportStudy) -> None:
    result = run("export", "--db", str(twice.path), "--deidentify", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert rows and all(list(r) == list(TRIAL_COLUMNS) for r in rows)
    for row in rows:
        assert row["tester"] is None and row["station"] is None and row["note"] is None
        assert row["subject"] not in {"S-001", "S-002"}
    csv_ids = subjects_by_session(
        parse_csv(run("export", "--db", str(twice.path), "--deidentify").stdout)[1]
    )
    assert subjects_by_session(rows) == csv_ids
    stopped = [r for r in rows if r["outcome"] == "stopped"]
    assert len(stopped) == 1 and stopped[0]["stop_reason"] == "other"


def test_deidentified_export_still_filters_by_the_real_code(twice: ExportStudy) -> None:
    result = run("export", "--db", str(twice.path), "--deidentify", "--subject", "s-002")
    assert result.exit_code == 0
    _, rows = parse_csv(result.stdout)
    assert {r["session_id"] for r in rows} == {new_id(twice.path, twice.sessions["other"])}


def test_study_ids_differ_between_databases(tmp_path: Path) -> None:
    ids = []
    for name in ("one.db", "two.db"):
        with Store(tmp_path / name) as store:
            new_session(store, "S-001", started_at="2026-11-20T09:00:00Z")
            rows = json_rows(store, Selection(deidentify=True))
        ids.append({r["subject"] for r in rows})
    assert len(ids[0]) == len(ids[1]) == 1
    assert ids[0] != ids[1]


def test_writes_after_a_deidentified_export_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "after.db"
    store = Store(path)
    session_id = store.create_session(
        SessionSetup(subject="S-001"), started_at="2026-11-20T09:00:00Z"
    ).session_id
    write_csv(store, Selection(deidentify=True), io.StringIO())
    store.record_safety(session_id, {k: False for k in SAFETY_KEYS})
    store.close()
    with Store(path) as reopened:
        assert reopened.session(session_id).safety_passed


# -- data package ------------------------------------------------------------------------------


def frictionless_cli() -> Path:
    return Path(sys.executable).parent / "frictionless"


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "deidentified"])
def package(request: pytest.FixtureRequest, study: ExportStudy, tmp_path_factory: Any) -> Path:
    out = tmp_path_factory.mktemp("package") / "export"
    with Store(study.path) as store:
        written = write_datapackage(store, Selection(deidentify=request.param), out)
    assert written == len(view_rows(study.path))
    return out


def read_csv_file(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        return parse_csv(f.read())


def test_datapackage_writes_four_files(package: Path) -> None:
    names = {p.name for p in package.iterdir()}
    assert {"trials.csv", "rankings.csv", "sessions.csv", "datapackage.json"} <= names
    assert read_csv_file(package / "trials.csv")[0] == list(TRIAL_COLUMNS)
    assert read_csv_file(package / "rankings.csv")[0] == list(RANKING_COLUMNS)
    assert read_csv_file(package / "sessions.csv")[0] == list(SESSION_COLUMNS)


def test_datapackage_is_valid_for_the_frictionless_api(package: Path) -> None:
    report = validate(package / "datapackage.json")
    assert report.valid, report.flatten(["rowNumber", "fieldName", "type", "note"])
    assert {task.name for task in report.tasks} == {
        "trials",
        "rankings",
        "sessions",
        "safety_answers",
        "corrections",
    }


def test_datapackage_is_valid_for_the_frictionless_command(package: Path) -> None:
    done = subprocess.run(
        [str(frictionless_cli()), "validate", str(package / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "VALID" in done.stdout and "INVALID" not in done.stdout


def test_datapackage_tables_hold_what_is_stored(study: ExportStudy, package: Path) -> None:
    descriptor = json.loads((package / "datapackage.json").read_text())
    deidentified = descriptor["posturetest"]["deidentified"]
    _, trials = read_csv_file(package / "trials.csv")
    _, sessions = read_csv_file(package / "sessions.csv")
    _, rankings = read_csv_file(package / "rankings.csv")
    assert len(trials) == len(view_rows(study.path))
    assert len(sessions) == len(study.sessions)
    assert len(rankings) == len(view_rows(study.path, "rankings"))
    by_id = {s["session_id"]: s for s in sessions}

    def as_exported(session_id: str) -> str:
        return new_id(study.path, session_id) if deidentified else session_id

    by_id = {session_id: by_id[as_exported(session_id)] for session_id in study.sessions.values()}
    random = by_id[study.sessions["random"]]
    assert random["order_scheme"] == "random" and random["order_seed"] == "7"
    assert random["tests"] == "vertical,anterior" and random["repetitions"] == "2"
    assert by_id[study.sessions["cleared"]]["tests"] == "anterior"
    assert by_id[study.sessions["unfinished"]]["ended_at"] == ""
    assert {t["outcome"] for t in trials} == {"rated", "stopped", "skipped", "pending"}
    stored_ranks = {
        (r["session_id"], r["test"], r["role"], r["posture"]): str(r["rank"])
        for r in view_rows(study.path, "rankings")
    }
    stored_ranks = {(as_exported(k[0]), *k[1:]): v for k, v in stored_ranks.items()}
    assert {(r["session_id"], r["test"], r["role"], r["posture"]): r["rank"] for r in rankings} == (
        stored_ranks
    )
    tricky = by_id[study.sessions["tricky"]]
    cleared = by_id[study.sessions["cleared"]]
    if deidentified:
        assert tricky["tester"] == tricky["station"] == cleared["cleared_by"] == ""
        assert not {s["subject"] for s in sessions} & {"S-001", "S-002", "S-003", "S-004"}
        assert {t["note"] for t in trials} == {""}
        trial_ids = {t["session_id"]: t["subject"] for t in trials}
        assert trial_ids == {s["session_id"]: s["subject"] for s in sessions}
    else:
        assert (tricky["tester"], tricky["station"]) == (TESTER, STATION)
        assert cleared["cleared_by"] == CLEARED_BY
        assert NOTE in {t["note"] for t in trials}
        assert tricky["subject"] == "S-001"


def test_datapackage_schema_describes_every_field(package: Path) -> None:
    descriptor = json.loads((package / "datapackage.json").read_text())
    resources = {r["name"]: r for r in descriptor["resources"]}
    assert set(resources) == {"trials", "rankings", "sessions", "safety_answers", "corrections"}
    for name, fields in (
        ("trials", TRIAL_FIELDS),
        ("rankings", RANKING_FIELDS),
        ("sessions", SESSION_FIELDS),
        ("safety_answers", SAFETY_ANSWER_FIELDS),
        ("corrections", CORRECTION_FIELDS),
    ):
        resource = resources[name]
        assert resource["path"] == f"{name}.csv"
        schema = resource["schema"]
        assert [f["name"] for f in schema["fields"]] == [f.name for f in fields]
        for spec, f in zip(schema["fields"], fields, strict=True):
            assert spec["type"] == f.type
            assert spec["description"] == f.description and spec["description"]
            constraints = spec.get("constraints", {})
            assert constraints.get("required", False) == f.required
            assert constraints.get("enum") == (list(f.enum) if f.enum else None)
            assert constraints.get("minimum") == f.minimum
            assert constraints.get("maximum") == f.maximum
    trial_fields = {f["name"]: f for f in resources["trials"]["schema"]["fields"]}
    assert trial_fields["posture"]["constraints"]["enum"] == ["ligament", "muscle", "skeleton"]
    assert trial_fields["outcome"]["constraints"]["enum"] == [
        "pending",
        "rated",
        "stopped",
        "skipped",
    ]
    assert trial_fields["rep"]["constraints"]["minimum"] == 1
    assert trial_fields["session_started_at"]["type"] == "datetime"
    for scale in SCALES.values():
        spec = trial_fields[scale.name]
        assert spec["type"] == "integer"
        assert spec["constraints"]["minimum"] == 0 and spec["constraints"]["maximum"] == 10
        assert scale.low_word in spec["description"] and scale.high_word in spec["description"]
        assert spec["scale"]["question"] == scale.question
        assert spec["scale"]["minimum"]["label"] == scale.low_word
        assert spec["scale"]["maximum"]["label"] == scale.high_word
    assert "rock steady" in trial_fields["tester_stability"]["description"]
    assert "effortless" in trial_fields["subject_ease"]["description"]


def test_datapackage_keys(package: Path) -> None:
    descriptor = json.loads((package / "datapackage.json").read_text())
    schemas = {r["name"]: r["schema"] for r in descriptor["resources"]}
    assert schemas["trials"]["primaryKey"] == ["trial_id"]
    assert schemas["sessions"]["primaryKey"] == ["session_id"]
    assert schemas["rankings"]["primaryKey"] == ["session_id", "test", "role", "posture"]
    for name in ("trials", "rankings"):
        assert schemas[name]["foreignKeys"] == [
            {
                "fields": ["session_id"],
                "reference": {"resource": "sessions", "fields": ["session_id"]},
            }
        ]


def test_datapackage_says_whether_it_is_deidentified(package: Path) -> None:
    descriptor = json.loads((package / "datapackage.json").read_text())
    trials = read_csv_file(package / "trials.csv")[1]
    deidentified = "S-001" not in {t["subject"] for t in trials}
    assert descriptor["posturetest"]["deidentified"] is deidentified
    assert ("De-identified" in descriptor["description"]) is deidentified


def test_frictionless_rejects_a_broken_package(package: Path, tmp_path: Path) -> None:
    """The validation tests above can fail: a rating of 11 is caught by the schema."""
    broken = tmp_path / "broken"
    broken.mkdir()
    for p in package.iterdir():
        (broken / p.name).write_bytes(p.read_bytes())
    header, rows = read_csv_file(broken / "trials.csv")
    rated = next(r for r in rows if r["outcome"] == "rated")
    rated["tester_stability"] = "11"
    with (broken / "trials.csv").open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    assert not validate(broken / "datapackage.json").valid


def test_datapackage_through_the_command_line(study: ExportStudy, tmp_path: Path) -> None:
    out = tmp_path / "new" / "pkg"
    result = run(
        "export", "--db", str(study.path), "--format", "datapackage", "--out", str(out),
        "--deidentify", "--complete-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    complete = [r for r in view_rows(study.path) if r["session_status"] == "complete"]
    assert len(complete) == 15
    assert result.stderr == f"Wrote 15 trials to {out}/ (datapackage.json)\n"
    _, sessions = read_csv_file(out / "sessions.csv")
    assert {s["status"] for s in sessions} == {"complete"}
    assert {s["session_id"] for s in sessions} == {
        new_id(study.path, study.sessions["random"]),
        new_id(study.path, study.sessions["cleared"]),
    }
    assert validate(out / "datapackage.json").valid


# -- codebook ----------------------------------------------------------------------------------


def test_codebook_names_every_column_and_the_scale_ends() -> None:
    text = codebook_markdown()
    for fields in (TRIAL_FIELDS, RANKING_FIELDS, SESSION_FIELDS):
        for f in fields:
            assert f"`{f.name}`" in text, f.name
    for words in ("rock steady", "effortless", "collapsed", "could not hold it"):
        assert words in text
    for scale in SCALES.values():
        assert scale.question in text


def test_codebook_from_the_command_line(tmp_path: Path) -> None:
    result = run("export", "--format", "codebook")
    assert result.exit_code == 0
    assert result.stdout == codebook_markdown()
    target = tmp_path / "codebook.md"
    result = run("export", "--format", "codebook", "--out", str(target))
    assert result.exit_code == 0
    assert target.read_text(encoding="utf-8") == codebook_markdown()


# -- command line ------------------------------------------------------------------------------


def test_datapackage_without_out_is_a_usage_error(study: ExportStudy) -> None:
    result = run("export", "--db", str(study.path), "--format", "datapackage")
    assert result.exit_code == 2
    assert "--out" in one_error_line(result)
    assert result.stdout == ""


def test_out_in_a_missing_folder_is_one_line(study: ExportStudy, tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "trials.csv"
    for fmt in ("csv", "json", "codebook"):
        result = run("export", "--db", str(study.path), "--format", fmt, "--out", str(target))
        assert result.exit_code == 2, (fmt, result.output)
        line = one_error_line(result)
        assert str(target) in line
    assert not (tmp_path / "nowhere").exists()


def test_datapackage_out_that_is_a_file_is_refused(study: ExportStudy, tmp_path: Path) -> None:
    target = tmp_path / "taken.txt"
    target.write_text("keep me")
    result = run("export", "--db", str(study.path), "--format", "datapackage", "--out", str(target))
    assert result.exit_code == 2
    assert "is not a folder" in one_error_line(result)
    assert target.read_text() == "keep me"


def test_unknown_format_is_a_usage_error(study: ExportStudy) -> None:
    result = run("export", "--db", str(study.path), "--format", "xlsx")
    assert result.exit_code == 2
    assert "xlsx" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_date_is_a_usage_error(study: ExportStudy) -> None:
    result = run("export", "--db", str(study.path), "--since", "20/11/2026")
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "notes.db"
    target.write_text("name,score\nalice,3\n")
    result = run("export", "--db", str(target))
    assert result.exit_code == 2
    assert "is not a SQLite database" in one_error_line(result)
    assert result.stdout == ""
    assert target.read_text() == "name,score\nalice,3\n"


def test_export_from_a_missing_database_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "typo.db"
    result = run("export", "--db", str(target))
    assert not target.exists()
    assert result.exit_code == 2
    assert str(target) in one_error_line(result)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_writing_to_out_says_how_many_trials(study: ExportStudy, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"trials.{fmt}"
    result = run("export", "--db", str(study.path), "--format", fmt, "--out", str(target))
    assert result.exit_code == 0, result.output
    trials = len(view_rows(study.path))
    assert result.stdout == ""
    assert result.stderr == f"Wrote {trials} trials to {target}\n"
    if fmt == "csv":
        assert len(read_csv_file(target)[1]) == trials
    else:
        assert len(json.loads(target.read_text())) == trials


def test_piped_export_shows_no_progress_bar(
    study: ExportStudy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even over the threshold, a non-terminal stderr gets no bar (click would print its label
    once when hidden, so a bar that ignored the pipe would show up here)."""
    monkeypatch.setattr(cli.options, "PROGRESS_THRESHOLD", 0)
    target = tmp_path / "trials.csv"
    result = run("export", "--db", str(study.path), "--out", str(target))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [f"Wrote {len(view_rows(study.path))} trials to {target}"]
    result = run("export", "--db", str(study.path))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert parse_csv(result.stdout)[0] == list(TRIAL_COLUMNS)


# -- memory ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,016 trials: 1,112 sessions of 18 trials, all rated, with a note on each."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    with Store(path) as store, store.write():
        for i in range(1112):
            store.create_session(
                SessionSetup(subject=f"S-{i % 300:04d}", repetitions=3, tester="A Tester"),
                station="station-1",
                started_at=f"2026-11-{1 + i % 28:02d}T09:00:00Z",
            )
        store.conn.execute(
            "UPDATE trials SET outcome = 'rated', tester_stability = 7, subject_ease = 6, "
            "discomfort = 2, rated_at = '2026-11-20T09:05:00Z', note = 'a note, \"quoted\"'"
        )
    return path


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_memory_stays_flat(big: Path, tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"big.{fmt}"
    writer = write_csv if fmt == "csv" else write_json
    with Store(big) as store:
        tracemalloc.start()
        try:
            with target.open("w", encoding="utf-8", newline="") as out:
                written = writer(store, Selection(), out)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    size = target.stat().st_size
    assert written == 20_016
    if fmt == "csv":
        assert len(read_csv_file(target)[1]) == 20_016
    else:
        assert len(json.loads(target.read_text())) == 20_016
    assert peak < 20_000_000
    # Holding every row at once costs at least twice the file (the rows plus the joined text).
    assert peak < 1.5 * size, (peak, size)
