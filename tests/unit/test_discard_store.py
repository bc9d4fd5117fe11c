"""Discarding an unfinished session (started by mistake): recorded, not deleted.

The session becomes stopped with end_reason `discarded`, its pending trials skipped and the
ratings already given to them kept in the audit trail ("session discarded"), all at once; it is
no longer offered for resume. Schema 5 adds the column; packages, imports and merges carry it.
Also the home list's counts: rated, stopped and skipped trials apart.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import posturetest.store.schema as schema
from posturetest.domain import (
    SAFETY_KEYS,
    Outcome,
    Posture,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.session import EndReason
from posturetest.export import write_datapackage
from posturetest.importing import ImportRefused, import_file
from posturetest.store import SCHEMA_VERSION, RecordError, SessionRow, Store
from posturetest.store.import_report import ImportConflict
from posturetest.store.merge import merge_databases
from posturetest.store.selection import Selection
from tests.unit.test_store import rate_fully, start

ALL_NO = {k: False for k in SAFETY_KEYS}
ONE_YES = {k: k == SAFETY_KEYS[0] for k in SAFETY_KEYS}
TABLES = ("subjects", "sessions", "safety_answers", "trials", "rankings", "corrections")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "study.db")
    yield s
    s.close()


def half_rated(store: Store) -> tuple[str, str, str]:
    """A session in progress: trial 1 rated, trial 2 with only the tester's rating in."""
    sid = start(store)
    rated, half = store.trials(sid)[:2]
    rate_fully(store, rated.trial_id, 7)
    store.record_rating(half.trial_id, "tester_stability", 4)
    return sid, rated.trial_id, half.trial_id


def dump(conn: sqlite3.Connection) -> dict[str, list[Any]]:
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in TABLES}


def row_of(store: Store, session_id: str) -> SessionRow:
    (row,) = [r for r in store.recent_sessions(limit=100) if r.session_id == session_id]
    return row


# -- discarding ---------------------------------------------------------------------------------


def test_discard_keeps_the_session_stopped_with_its_reason(store: Store) -> None:
    sid, rated, half = half_rated(store)
    store.discard_session(sid)

    session = store.session(sid)
    assert session.status is SessionStatus.STOPPED
    assert session.end_reason is EndReason.DISCARDED
    assert session.ended_at is not None and session.ended_at.endswith("Z")
    trials = store.trials(sid)
    assert [t.outcome for t in trials] == [Outcome.RATED] + [Outcome.SKIPPED] * (len(trials) - 1)
    assert store.trial(rated).rating("tester_stability") == 7  # a rated trial stays as it was
    assert store.trial(half).rating("tester_stability") is None
    assert [(c.field, c.old_value, c.new_value, c.reason) for c in store.corrections(half)] == [
        ("tester_stability", 4, None, "session discarded")
    ]
    assert store.corrections(rated) == []
    assert store.conn.execute(
        "SELECT status, end_reason FROM sessions WHERE session_id = ?", (sid,)
    ).fetchall() == [("stopped", "discarded")]


def test_a_discarded_session_is_not_offered_for_resume(store: Store) -> None:
    sid, _, _ = half_rated(store)
    other = start(store, subject="S-002")
    assert {r.session_id for r in store.recent_sessions(unfinished_only=True)} == {sid, other}
    store.discard_session(sid)
    assert [r.session_id for r in store.recent_sessions(unfinished_only=True)] == [other]
    row = row_of(store, sid)  # still listed with every session, marked
    assert row.status is SessionStatus.STOPPED
    assert row.end_reason is EndReason.DISCARDED
    assert row_of(store, other).end_reason is None


def test_a_session_can_be_discarded_before_its_safety_check(store: Store) -> None:
    sid = store.create_session(SessionSetup(subject="S-0O1")).session_id
    store.discard_session(sid)
    assert store.session(sid).end_reason is EndReason.DISCARDED
    assert {t.outcome for t in store.trials(sid)} == {Outcome.SKIPPED}


def test_a_discarded_session_takes_no_more_ratings(store: Store) -> None:
    sid, _, half = half_rated(store)
    store.discard_session(sid)
    with pytest.raises(RecordError):
        store.record_rating(half, "tester_stability", 5)


def ended_sessions(store: Store) -> dict[str, str]:
    complete = start(store, subject="S-001", tests=(StressTest.VERTICAL,))
    for trial in store.trials(complete):
        rate_fully(store, trial.trial_id)
    store.record_ranking(complete, StressTest.VERTICAL, Role.TESTER, list(Posture))
    store.record_ranking(complete, StressTest.VERTICAL, Role.SUBJECT, list(Posture))
    store.end_session(complete, SessionStatus.COMPLETE)
    stopped = start(store, subject="S-002")
    store.record_rating(store.trials(stopped)[0].trial_id, "tester_stability", 3)
    store.end_session(stopped, SessionStatus.STOPPED)
    discarded = start(store, subject="S-003")
    store.discard_session(discarded)
    return {"complete": complete, "stopped": stopped, "discarded": discarded}


@pytest.mark.parametrize("kind", ["complete", "stopped", "discarded"])
def test_only_a_session_in_progress_can_be_discarded(store: Store, kind: str) -> None:
    sid = ended_sessions(store)[kind]
    before = dump(store.conn)
    status = "stopped" if kind == "discarded" else kind
    with pytest.raises(RecordError) as refused:
        store.discard_session(sid)
    assert str(refused.value) == (
        f"only a session in progress can be discarded; this one is {status}"
    )
    assert dump(store.conn) == before
    assert not store.conn.in_transaction


def test_discarding_an_unknown_session_is_refused(store: Store) -> None:
    with pytest.raises(RecordError, match="no session"):
        store.discard_session("00000000-0000-4000-8000-000000000000")


def test_end_session_keeps_its_ordinary_stop(store: Store) -> None:
    sid, _, half = half_rated(store)
    store.end_session(sid, SessionStatus.STOPPED)
    assert store.session(sid).end_reason is None
    assert [c.reason for c in store.corrections(half)] == ["session stopped"]


def test_a_reason_is_only_for_a_stopped_session(store: Store) -> None:
    sid = start(store, tests=(StressTest.VERTICAL,))
    for trial in store.trials(sid):
        rate_fully(store, trial.trial_id)
    with pytest.raises(RecordError, match="ends as stopped"):
        store.end_session(sid, SessionStatus.COMPLETE, reason=EndReason.DISCARDED)
    assert store.session(sid).status is SessionStatus.IN_PROGRESS


def test_a_failed_discard_changes_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sid, _, _ = half_rated(store)
    before = dump(store.conn)
    update = store._update

    def fail_on_the_session(table: str, key: str, values: Any) -> None:
        if table == "sessions":
            raise RuntimeError("power cut")
        update(table, key, values)

    monkeypatch.setattr(store, "_update", fail_on_the_session)
    with pytest.raises(RuntimeError):
        store.discard_session(sid)
    monkeypatch.undo()
    assert dump(store.conn) == before  # the trials and the audit trail were rolled back too


@pytest.mark.parametrize(
    ("status", "reason"),
    [("stopped", "typo"), ("complete", "discarded"), ("in_progress", "discarded")],
)
def test_the_database_keeps_the_end_reason_rule(store: Store, status: str, reason: str) -> None:
    sid = start(store)
    with pytest.raises(sqlite3.IntegrityError):
        store.conn.execute(
            "UPDATE sessions SET status = ?, end_reason = ? WHERE session_id = ?",
            (status, reason, sid),
        )


# -- the home list's counts ---------------------------------------------------------------------


def counts(row: SessionRow) -> tuple[int, int, int, int, int]:
    return (row.rated, row.stopped, row.skipped, row.done, row.total)


def test_counts_of_a_session_stopped_at_the_safety_check(store: Store) -> None:
    sid = store.create_session(SessionSetup(subject="S-001")).session_id
    assert store.record_safety(sid, ONE_YES) is False
    row = row_of(store, sid)
    assert row.status is SessionStatus.STOPPED
    assert counts(row) == (0, 0, 6, 6, 6)
    assert row.end_reason is None


def test_counts_of_a_session_cleared_by_a_clinician(store: Store) -> None:
    sid = store.create_session(SessionSetup(subject="S-001")).session_id
    assert store.record_safety(sid, ONE_YES, cleared_by="Dr Who") is True
    row = row_of(store, sid)
    assert row.status is SessionStatus.IN_PROGRESS
    assert counts(row) == (0, 0, 0, 0, 6)
    assert row.pending == 6


def test_counts_of_a_session_with_a_stopped_trial(store: Store) -> None:
    sid = start(store)
    first, second = store.trials(sid)[:2]
    rate_fully(store, first.trial_id)
    store.stop_trial(second.trial_id, StopReason.PAIN)
    assert counts(row_of(store, sid)) == (1, 1, 0, 2, 6)
    store.end_session(sid, SessionStatus.STOPPED)
    assert counts(row_of(store, sid)) == (1, 1, 4, 6, 6)


def test_counts_of_a_complete_session(store: Store) -> None:
    sid = start(store, tests=(StressTest.VERTICAL,), repetitions=2)
    for trial in store.trials(sid):
        rate_fully(store, trial.trial_id)
    store.record_ranking(sid, StressTest.VERTICAL, Role.TESTER, list(Posture))
    store.record_ranking(sid, StressTest.VERTICAL, Role.SUBJECT, list(Posture))
    store.end_session(sid, SessionStatus.COMPLETE)
    row = row_of(store, sid)
    assert row.status is SessionStatus.COMPLETE
    assert counts(row) == (6, 0, 0, 6, 6)


def test_counts_of_a_discarded_session(store: Store) -> None:
    sid, _, _ = half_rated(store)
    store.discard_session(sid)
    assert counts(row_of(store, sid)) == (1, 0, 5, 6, 6)


def test_counts_follow_every_filter_and_page(store: Store) -> None:
    ids = [start(store, subject=f"P-{i}") for i in range(5)]
    rate_fully(store, store.trials(ids[2])[0].trial_id)
    pages = [store.recent_sessions(limit=2)]
    while len(pages[-1]) == 2:
        pages.append(store.recent_sessions(limit=2, before=pages[-1][-1].cursor))
    rows = [r for page in pages for r in page]
    assert sorted(r.session_id for r in rows) == sorted(ids)
    assert {r.session_id: r.rated for r in rows} == {s: int(s == ids[2]) for s in ids}
    (found,) = store.recent_sessions(subject_prefix="P-2")
    assert (found.session_id, found.rated, found.total) == (ids[2], 1, 6)


# -- migrating a version-4 file -----------------------------------------------------------------


def make_v4(path: Path, rows_from: Path) -> None:
    """A version-4 file (as posturetest left it before schema 5) holding the rows of `rows_from`
    (whose sessions have no end reason)."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        for migration in schema.MIGRATIONS[:4]:
            migration(conn)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 4")
        conn.execute("COMMIT")
        conn.execute("ATTACH DATABASE ? AS src", (str(rows_from),))
        conn.execute("BEGIN")
        for table in TABLES:
            names = [r[1] for r in conn.execute(f"PRAGMA main.table_info({table})")]
            columns = ", ".join(names)
            conn.execute(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table} "
                "ORDER BY rowid"
            )
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")


@pytest.fixture
def v4_file(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    current = tmp_path / "current.db"
    with Store(current) as store:
        ids = ended_sessions(store)
        ids.pop("discarded")
        ids["in_progress"], _, ids["half_rated_trial"] = half_rated(store)
    v4 = tmp_path / "v4.db"
    make_v4(v4, current)
    return v4, ids


def read_all(path: Path) -> dict[str, list[Any]]:
    with closing(sqlite3.connect(path)) as conn:
        return dump(conn)


def test_the_v4_file_has_no_end_reason(v4_file: tuple[Path, dict[str, str]]) -> None:
    path, _ = v4_file
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (4,)
        assert not schema.has_column(conn, "sessions", "end_reason")
        assert conn.execute("SELECT count(*) FROM sessions").fetchone() == (4,)


def test_opening_a_v4_file_adds_the_column_and_keeps_every_row(
    v4_file: tuple[Path, dict[str, str]],
) -> None:
    path, ids = v4_file
    before = read_all(path)
    with closing(sqlite3.connect(path)) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions'").fetchone()
    with Store(path) as store:
        assert store.session(ids["in_progress"]).end_reason is None
    assert SCHEMA_VERSION == 5
    after = read_all(path)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (5,)
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        # no table was rebuilt: the sessions table is where it was
        assert (
            conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'sessions'").fetchone()
            == root
        )
        assert conn.execute("SELECT DISTINCT end_reason FROM sessions").fetchall() == [(None,)]
    assert {t: rows for t, rows in after.items() if t != "sessions"} == {
        t: rows for t, rows in before.items() if t != "sessions"
    }
    assert [row[:-1] for row in after["sessions"]] == before["sessions"]


def test_a_migrated_v4_file_has_the_schema_of_a_new_one(
    v4_file: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, _ = v4_file
    new = tmp_path / "new.db"
    with Store(path), Store(new):
        pass
    sql = "SELECT type, name, sql FROM sqlite_master ORDER BY type, name"
    with closing(sqlite3.connect(path)) as old, closing(sqlite3.connect(new)) as fresh:
        assert old.execute(sql).fetchall() == fresh.execute(sql).fetchall()
        declared = " ".join(schema.current_schema().split())
        (table,) = fresh.execute("SELECT sql FROM sqlite_master WHERE name = 'sessions'").fetchone()
        # (the v3 rebuild renamed the table, so SQLite quotes its name)
        assert " ".join(table.replace('"sessions"', "sessions").split()) in declared


def test_a_session_of_a_migrated_file_can_be_discarded(
    v4_file: tuple[Path, dict[str, str]],
) -> None:
    path, ids = v4_file
    with Store(path) as store:
        store.discard_session(ids["in_progress"])
        assert store.session(ids["in_progress"]).end_reason is EndReason.DISCARDED
        assert [c.reason for c in store.corrections(ids["half_rated_trial"])] == [
            "session discarded"
        ]


def test_a_v4_file_opened_only_to_read_is_read_as_it_is(
    v4_file: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, ids = v4_file
    before = path.read_bytes()
    with Store(path, readonly=True) as store:
        assert store.session(ids["stopped"]).end_reason is None
        rows = store.recent_sessions(limit=10)
        assert len(rows) == 4 and {r.end_reason for r in rows} == {None}
        write_datapackage(store, Selection(), tmp_path / "package")
    assert path.read_bytes() == before
    sessions = read_csv(tmp_path / "package" / "sessions.csv")
    assert len(sessions) == 4 and {s["end_reason"] for s in sessions} == {""}


# -- data packages ----------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def write_csv(path: Path, rows: list[dict[str, str]], columns: list[str]) -> None:
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


@pytest.fixture
def study(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    path = tmp_path / "station.db"
    with Store(path) as store:
        ids = ended_sessions(store)
        ids["in_progress"] = start(store, subject="S-004")
    return path, ids


def export(db: Path, out: Path, **selection: Any) -> Path:
    with Store(db, readonly=True) as store:
        write_datapackage(store, Selection(**selection), out)
    return out


def test_a_package_round_trips_the_end_reason(
    study: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, ids = study
    first = export(db, tmp_path / "first")
    sessions = {s["session_id"]: s for s in read_csv(first / "sessions.csv")}
    assert list(sessions[ids["discarded"]])[-1] == "end_reason"
    assert {k: s["end_reason"] for k, s in sessions.items()} == {
        sid: "discarded" if kind == "discarded" else "" for kind, sid in ids.items()
    }
    descriptor = json.loads((first / "datapackage.json").read_text())
    (resource,) = [r for r in descriptor["resources"] if r["name"] == "sessions"]
    field = resource["schema"]["fields"][-1]
    assert field["name"] == "end_reason"
    assert field["constraints"] == {"enum": ["discarded"]}
    assert field["description"]

    rebuilt = tmp_path / "rebuilt.db"
    with Store(rebuilt) as store:
        report = import_file(store, first / "datapackage.json")
        assert report.sessions_added == 4
        assert store.session(ids["discarded"]).end_reason is EndReason.DISCARDED
        assert store.session(ids["stopped"]).end_reason is None
        assert ids["discarded"] not in {
            r.session_id for r in store.recent_sessions(unfinished_only=True)
        }
        again = import_file(store, first / "datapackage.json")  # idempotent
        assert not again.changed
    second = export(rebuilt, tmp_path / "second")
    for name in ("sessions.csv", "corrections.csv", "trials.csv"):
        assert (second / name).read_bytes() == (first / name).read_bytes(), name


def test_a_package_without_the_end_reason_column_imports(
    study: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, ids = study
    old = export(db, tmp_path / "old")
    rows = read_csv(old / "sessions.csv")
    write_csv(old / "sessions.csv", rows, [c for c in rows[0] if c != "end_reason"])
    descriptor = json.loads((old / "datapackage.json").read_text())
    for resource in descriptor["resources"]:
        if resource["name"] == "sessions":
            fields = resource["schema"]["fields"]
            resource["schema"]["fields"] = [f for f in fields if f["name"] != "end_reason"]
    (old / "datapackage.json").write_text(json.dumps(descriptor))
    with Store(tmp_path / "from-old.db") as store:
        report = import_file(store, old / "datapackage.json")
        assert report.sessions_added == 4
        assert {store.session(sid).end_reason for sid in ids.values()} == {None}
        # the other session columns still come from sessions.csv, in their places
        assert store.session(ids["discarded"]).status is SessionStatus.STOPPED
        assert store.session(ids["in_progress"]).status is SessionStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("complete", "discarded", "only a stopped session has an end reason (status complete)"),
        ("in_progress", "discarded", "only a stopped session has an end reason"),
        ("stopped", "typo", "end_reason"),
    ],
)
def test_a_package_with_a_wrong_end_reason_is_refused(
    study: tuple[Path, dict[str, str]], tmp_path: Path, kind: str, value: str, problem: str
) -> None:
    db, ids = study
    bad = export(db, tmp_path / "bad")
    rows = read_csv(bad / "sessions.csv")
    for row in rows:
        if row["session_id"] == ids[kind]:
            row["end_reason"] = value
    write_csv(bad / "sessions.csv", rows, list(rows[0]))
    target = tmp_path / "target.db"
    with Store(target) as store:
        with pytest.raises(ImportRefused) as refused:
            import_file(store, bad / "datapackage.json")
        assert store.empty("sessions")
    (line,) = refused.value.problems
    assert "sessions.csv:" in line and "end_reason" in line and problem in line


def test_a_deidentified_package_keeps_the_end_reason(
    study: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, _ = study
    out = export(db, tmp_path / "deid", deidentify=True)
    reasons = sorted(s["end_reason"] for s in read_csv(out / "sessions.csv"))
    assert reasons == ["", "", "", "discarded"]
    corrections = read_csv(out / "corrections.csv")
    assert {c["reason"] for c in corrections} == {""}  # the text of corrections is left out


def test_a_package_with_a_discarded_session_passes_frictionless(
    study: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    frictionless = Path(sys.executable).parent / "frictionless"
    if not frictionless.exists():
        pytest.skip("frictionless is not installed")
    out = export(study[0], tmp_path / "package")
    done = subprocess.run(
        [str(frictionless), "validate", str(out / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# -- merging ------------------------------------------------------------------------------------


def test_a_merge_brings_the_end_reason(study: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    db, ids = study
    with Store(tmp_path / "central.db") as central:
        merge_databases(central, [db])
        assert central.session(ids["discarded"]).end_reason is EndReason.DISCARDED
        assert central.session(ids["stopped"]).end_reason is None
        again = merge_databases(central, [db])
        assert not again.changed


def test_a_merge_reports_a_session_discarded_at_one_station_only(
    study: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    db, ids = study
    other = tmp_path / "other.db"
    shutil.copy(db, other)
    with closing(sqlite3.connect(other)) as conn:
        conn.execute(
            "UPDATE sessions SET end_reason = NULL WHERE session_id = ?", (ids["discarded"],)
        )
        conn.commit()
    central = tmp_path / "central.db"
    with Store(central) as store:
        merge_databases(store, [db])
        before = dump(store.conn)
        with pytest.raises(ImportConflict) as conflict:
            merge_databases(store, [other])
        assert dump(store.conn) == before
    assert conflict.value.problems == [
        f"session {ids['discarded']}: end_reason is 'discarded' in the database but None "
        "in the file"
    ]


def test_a_station_on_schema_4_is_merged(
    v4_file: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    path, ids = v4_file
    before = path.read_bytes()
    with Store(tmp_path / "central.db") as central:
        report = merge_databases(central, [path])
        assert report.sessions_added == 4
        assert central.session(ids["in_progress"]).end_reason is None
    assert path.read_bytes() == before
