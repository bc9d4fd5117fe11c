"""The migration from schema version 2 to 3: the same rows under the same rules.

Version 3 rebuilds the tables with enum checks written as OR chains and a trial's keys as named
unique indexes. A version-2 file is built here as posturetest 0.x left it (the v1 schema's
text, then the meta table), filled with rows the real app recorded, then opened.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import posturetest.store.opening as opening
import posturetest.store.schema as schema
from posturetest.domain import (
    Posture,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.store import SCHEMA_VERSION, Store, StoreError
from tests.factories import sessions_in_every_state

TABLES = {
    "subjects": "subject_id",
    "sessions": "session_id",
    "safety_answers": "session_id, question",
    "trials": "trial_id",
    "rankings": "session_id, test, role, posture",
    "corrections": "correction_id",
    "meta": "key",
    "trial_results": "trial_id",
}
"""Every table (and the view) with an ORDER BY that puts its rows in one order."""

INDEXES = (
    "trials_by_id",
    "trials_by_position",
    "sessions_by_start",
    "sessions_by_subject",
    "sessions_unfinished",
    "corrections_by_trial",
)
MISSING = "00000000-0000-4000-8000-000000000000"
NEW_TRIAL = "99999999-9999-4999-8999-999999999999"


# -- building a version-2 file ----------------------------------------------------------------


def _old_columns(conn: sqlite3.Connection, table: str) -> str:
    """The columns of the file's own (older) table, in order."""
    return ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))


def _make_v2(path: Path, rows_from: Path) -> None:
    """A version-2 file (v1 schema text, then meta) holding the rows of `rows_from`."""
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        conn.execute("BEGIN")
        schema.MIGRATIONS[0](conn)
        schema.MIGRATIONS[1](conn)
        conn.execute(f"PRAGMA application_id = {schema.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 2")
        conn.execute("COMMIT")
        conn.execute("ATTACH DATABASE ? AS src", (str(rows_from),))
        conn.execute("BEGIN")
        for table in ("subjects", "sessions", "safety_answers", "trials", "rankings"):
            columns = _old_columns(conn, table)  # a later schema added some
            conn.execute(f"INSERT INTO main.{table} SELECT {columns} FROM src.{table}")
        # the audit trail in its own order, as the app wrote it
        columns = _old_columns(conn, "corrections")
        conn.execute(
            f"INSERT INTO main.corrections SELECT {columns} FROM src.corrections ORDER BY rowid"
        )
        conn.execute("COMMIT")
        conn.execute("DETACH DATABASE src")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A version-2 file built once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("v2")
    ids = sessions_in_every_state(folder / "current.db")
    _make_v2(folder / "v2.db", folder / "current.db")
    return folder / "v2.db", ids


@pytest.fixture
def v2_file(study: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    path = tmp_path / "study.db"
    shutil.copy(study[0], path)
    return path


@pytest.fixture
def ids(study: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return study[1]


@pytest.fixture
def migrated(v2_file: Path) -> Iterator[Store]:
    store = Store(v2_file)
    yield store
    store.close()


# -- reading a file ---------------------------------------------------------------------------


def read(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def query(path: Path, sql: str) -> list[Any]:
    """Through an independent connection (not a store's)."""
    with closing(sqlite3.connect(path)) as conn:
        return read(conn, sql)


ADDED_LATER = {(table, column.split()[0]) for table, column in schema.ADDED_COLUMNS}
"""Columns migrations after version 3 added (empty in every migrated row; see
`test_columns_added_later_are_empty`): left out of `dump`, so rows before and after compare."""


def _columns(conn: sqlite3.Connection, table: str) -> str:
    names = [r[1] for r in read(conn, f"SELECT * FROM pragma_table_info('{table}')")]
    return ", ".join(n for n in names if (table, n) not in ADDED_LATER)


def dump(path: Path) -> dict[str, list[Any]]:
    """Every row of every table and of the view, and the audit trail's order."""
    with closing(sqlite3.connect(path)) as conn:
        rows = {
            t: read(conn, f"SELECT {_columns(conn, t)} FROM {t} ORDER BY {key}")
            for t, key in TABLES.items()
        }
        rows["corrections in order"] = read(
            conn, "SELECT correction_id FROM corrections ORDER BY corrected_at, rowid"
        )
    return rows


def master(path: Path) -> list[Any]:
    return query(path, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")


def _normalised(sql: str | None) -> str | None:
    if sql is None:
        return None
    sql = re.sub(r"\s+", " ", sql).strip()
    sql = sql.replace("IF NOT EXISTS ", "")
    return re.sub(r'^CREATE TABLE "(\w+)"', r"CREATE TABLE \1", sql)


def schema_of(path: Path) -> set[tuple[str, str, str | None]]:
    """Tables, indexes and views as (type, name, SQL), blind to layout and quoting."""
    return {
        (kind, name, _normalised(sql))
        for kind, name, sql in query(
            path,
            "SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index', 'view')",
        )
    }


def in_lists(sql: str) -> list[list[str]]:
    """The values of each `x IN (...)` list in the SQL."""
    return [
        [v.strip() for v in values.split(",")] for values in re.findall(r" IN \(([^()]*)\)", sql)
    ]


def table_sql(path: Path, table: str) -> str:
    [(sql,)] = query(
        path, f"SELECT sql FROM sqlite_master WHERE type = 'table' AND name = '{table}'"
    )
    return str(sql)


# -- the version-2 file is what the migration starts from ------------------------------------


def test_the_v2_file_has_the_old_schema_and_every_kind_of_row(v2_file: Path) -> None:
    assert query(v2_file, "PRAGMA user_version") == [(2,)]
    assert query(v2_file, "PRAGMA application_id") == [(schema.APPLICATION_ID,)]
    assert any(len(values) > 2 for values in in_lists(table_sql(v2_file, "trials")))
    assert "trial_id TEXT PRIMARY KEY" in table_sql(v2_file, "trials")
    assert "UNIQUE (session_id, seq)" in table_sql(v2_file, "trials")
    assert not {"trials_by_id", "trials_by_position"} & {n for _, n, *_ in master(v2_file)}
    outcomes = {o for (o,) in query(v2_file, "SELECT DISTINCT outcome FROM trials")}
    assert outcomes == {"rated", "stopped", "pending", "skipped"}
    statuses = {s for (s,) in query(v2_file, "SELECT DISTINCT status FROM sessions")}
    assert statuses == {"complete", "stopped", "in_progress"}
    for table in ("safety_answers", "rankings", "corrections", "meta"):
        assert query(v2_file, f"SELECT count(*) FROM {table}")[0][0] > 0


# -- migrating --------------------------------------------------------------------------------


def test_opening_a_v2_file_migrates_it_to_v3(v2_file: Path) -> None:
    with Store(v2_file):
        pass
    assert SCHEMA_VERSION >= 3
    assert query(v2_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert query(v2_file, "PRAGMA application_id") == [(schema.APPLICATION_ID,)]


def test_migration_keeps_every_row(v2_file: Path) -> None:
    before = dump(v2_file)
    with Store(v2_file):
        pass
    after = dump(v2_file)
    assert after == before
    assert all(after[t] for t in TABLES)


def test_columns_added_later_are_empty(v2_file: Path) -> None:
    with Store(v2_file):
        pass
    for table, column in ADDED_LATER:
        assert query(v2_file, f"SELECT count(*) FROM {table} WHERE {column} IS NOT NULL") == [(0,)]


def test_a_migrated_file_has_foreign_keys_on_and_is_sound(migrated: Store) -> None:
    assert read(migrated.conn, "PRAGMA foreign_keys") == [(1,)]
    assert read(migrated.conn, "PRAGMA foreign_key_check") == []
    assert read(migrated.conn, "PRAGMA integrity_check") == [("ok",)]


def test_a_migrated_file_has_every_index_and_the_view(migrated: Store, v2_file: Path) -> None:
    names = {(kind, name) for kind, name, *_ in master(v2_file)}
    assert {("index", name) for name in INDEXES} <= names
    assert ("view", "trial_results") in names
    # no table is left behind under its temporary name
    assert not [name for _, name in names if name.endswith("_v3")]


def test_a_migrated_trials_table_has_named_unique_keys(migrated: Store) -> None:
    indexes = {
        name: (unique, origin)
        for _, name, unique, origin, _ in read(migrated.conn, "PRAGMA index_list(trials)")
    }
    assert indexes == {"trials_by_id": (1, "c"), "trials_by_position": (1, "c")}
    assert [r[2] for r in read(migrated.conn, "PRAGMA index_info(trials_by_id)")] == ["trial_id"]
    assert [r[2] for r in read(migrated.conn, "PRAGMA index_info(trials_by_position)")] == [
        "session_id",
        "seq",
    ]


@pytest.mark.parametrize(
    "table", ["sessions", "safety_answers", "trials", "rankings", "corrections"]
)
def test_a_migrated_table_checks_enums_without_in_lists(migrated: Store, table: str) -> None:
    sql = table_sql(Path(migrated.path), table)
    assert [values for values in in_lists(sql) if len(values) > 2] == []
    assert " OR " in sql


def test_enum_checks_become_or_chains_of_every_value(migrated: Store) -> None:
    sql = table_sql(Path(migrated.path), "trials")
    for column, values in (
        ("posture", [p.value for p in Posture]),
        ("test", [t.value for t in StressTest]),
        ("stop_reason", [r.value for r in StopReason]),
    ):
        chain = " OR ".join(f"{column} = '{v}'" for v in values)
        assert f"({chain})" in sql


def test_the_app_reads_and_writes_a_migrated_file(migrated: Store, ids: dict[str, str]) -> None:
    session = migrated.session(ids["in_progress"])
    assert session.status is SessionStatus.IN_PROGRESS
    assert migrated.trial(ids["stopped_trial"]).stop_reason is StopReason.PAIN
    reasons = [c.reason for c in migrated.corrections(ids["corrected_trial"])]
    assert reasons == ["typed the wrong key", "and again"]
    pending = migrated.trial(ids["pending_trial"])
    for scale in session.scales:
        if pending.rating(scale) is None:
            migrated.record_rating(pending.trial_id, scale.name, 5)
    assert migrated.trial(ids["pending_trial"]).outcome.value == "rated"


# -- the rules still hold ---------------------------------------------------------------------


def _insert_trial(
    conn: sqlite3.Connection, session_id: str, changes: dict[str, object] | None = None
) -> None:
    """A new pending trial of the session at seq 99, with `changes` made to it."""
    row: dict[str, object] = {
        "trial_id": NEW_TRIAL,
        "session_id": session_id,
        "seq": 99,
        "test": "vertical",
        "posture": "muscle",
        "rep": 1,
        "outcome": "pending",
    }
    row.update(changes or {})
    conn.execute(
        f"INSERT INTO trials ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
        list(row.values()),
    )


def test_a_good_trial_is_still_accepted(migrated: Store, ids: dict[str, str]) -> None:
    """The baseline the refusals below change one thing of."""
    _insert_trial(migrated.conn, ids["in_progress"])
    assert read(migrated.conn, "SELECT seq FROM trials WHERE trial_id = ?", (NEW_TRIAL,)) == [(99,)]


@pytest.mark.parametrize(
    "change",
    [
        {"posture": "banana"},
        {"test": "diagonal"},
        {"outcome": "maybe"},
        {"outcome": "stopped"},
        {"stop_reason": "pain"},
        {"outcome": "stopped", "stop_reason": "boredom"},
        {"outcome": "rated", "tester_stability": 5},
        {"tester_stability": 11},
        {"tester_stability": 5.5},
        {"seq": 0},
        {"rep": 0},
        {"trial_id": "too-short"},
        {"session_id": MISSING},
    ],
    ids=repr,
)
def test_a_migrated_file_refuses_a_bad_trial(
    migrated: Store, ids: dict[str, str], change: dict[str, object]
) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _insert_trial(migrated.conn, ids["in_progress"], change)


def test_a_migrated_file_refuses_a_duplicate_trial_id(migrated: Store, ids: dict[str, str]) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _insert_trial(migrated.conn, ids["in_progress"], {"trial_id": ids["rated_trial"]})


def test_a_migrated_file_refuses_a_second_trial_at_one_position(
    migrated: Store, ids: dict[str, str]
) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        _insert_trial(migrated.conn, ids["in_progress"], {"seq": 1})


@pytest.mark.parametrize(
    ("assignment", "params"),
    [
        ("tester_stability = ?", (11,)),
        ("tester_stability = ?", (5.5,)),
        ("tester_stability = ?", (None,)),
        ("posture = ?", ("banana",)),
        ("outcome = ?", ("stopped",)),
        ("stop_reason = ?", ("pain",)),
        ("seq = ?", (2,)),
        ("session_id = ?", (MISSING,)),
    ],
)
def test_a_migrated_file_refuses_a_bad_change_to_a_rated_trial(
    migrated: Store, ids: dict[str, str], assignment: str, params: tuple[object, ...]
) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        migrated.conn.execute(
            f"UPDATE trials SET {assignment} WHERE trial_id = ?", (*params, ids["rated_trial"])
        )
    assert migrated.trial(ids["rated_trial"]).outcome.value == "rated"


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE sessions SET position = 'lying' WHERE session_id = ?", ("in_progress",)),
        ("UPDATE sessions SET status = 'paused' WHERE session_id = ?", ("in_progress",)),
        ("UPDATE sessions SET order_scheme = 'latin' WHERE session_id = ?", ("in_progress",)),
        ("UPDATE sessions SET subject_id = ? WHERE session_id = ?", (MISSING, "in_progress")),
        ("UPDATE safety_answers SET question = 'banana' WHERE session_id = ?", ("complete",)),
        ("UPDATE rankings SET role = 'judge' WHERE session_id = ?", ("complete",)),
        ("UPDATE rankings SET rank = 4 WHERE session_id = ?", ("complete",)),
        ("UPDATE rankings SET rank = 1 WHERE session_id = ?", ("complete",)),
        ("UPDATE corrections SET field = 'banana' WHERE trial_id = ?", ("corrected_trial",)),
        ("UPDATE corrections SET trial_id = ? WHERE trial_id = ?", (MISSING, "corrected_trial")),
        ("DELETE FROM trials WHERE trial_id = ?", ("corrected_trial",)),
        ("DELETE FROM sessions WHERE session_id = ?", ("complete",)),
    ],
)
def test_a_migrated_file_refuses_bad_rows_in_the_other_rebuilt_tables(
    migrated: Store, ids: dict[str, str], sql: str, params: tuple[str, ...]
) -> None:
    values = tuple(ids.get(p, p) for p in params)
    with pytest.raises(sqlite3.IntegrityError):
        migrated.conn.execute(sql, values)


# -- a failed migration -----------------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError, sqlite3.OperationalError])
def test_a_failed_migration_leaves_the_v2_file_as_it_was(
    v2_file: Path, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    rebuild = schema.MIGRATIONS[2]

    def rebuild_then_fail(conn: sqlite3.Connection) -> None:
        rebuild(conn)
        raise error("migration broke after the rebuild")

    broken = (*schema.MIGRATIONS[:2], rebuild_then_fail)
    rows, sql = dump(v2_file), master(v2_file)
    monkeypatch.setattr(schema, "MIGRATIONS", broken)
    monkeypatch.setattr(opening, "MIGRATIONS", broken)
    expected = StoreError if issubclass(error, sqlite3.Error) else error
    with pytest.raises(expected, match="migration broke"):
        Store(v2_file)
    assert query(v2_file, "PRAGMA user_version") == [(2,)]
    assert dump(v2_file) == rows
    assert master(v2_file) == sql
    # and once the migration is fixed, the same file migrates
    monkeypatch.undo()
    with Store(v2_file):
        pass
    assert query(v2_file, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert dump(v2_file) == rows


# -- new files and migrated files are alike ---------------------------------------------------


def test_a_new_file_has_the_schema_of_a_migrated_one(v2_file: Path, tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    with Store(new), Store(v2_file):
        pass
    assert schema_of(new) == schema_of(v2_file)
    assert {("index", name) for name in INDEXES} <= {(k, n) for k, n, _ in schema_of(new)}


def test_a_migrated_file_has_the_schema_declared_as_latest(v2_file: Path, tmp_path: Path) -> None:
    declared = tmp_path / "declared.db"
    with closing(sqlite3.connect(declared)) as conn:
        for statement in schema.current_schema().split(";\n"):
            if statement.strip():
                conn.execute(statement)
        schema.MIGRATIONS[1](conn)
        conn.commit()
    with Store(v2_file):
        pass
    assert schema_of(v2_file) == schema_of(declared)
