"""SQL for data leaving the database: filtered, optionally de-identified, formatted by SQLite.

Rows are formatted inside SQLite (CSV lines, JSON objects) and streamed in batches, so an export
of 600,000 trials keeps memory flat and runs close to the sqlite3 shell's own speed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from posturetest.domain.interchange import (
    RANKING_FIELDS,
    SESSION_FIELDS,
    TRIAL_FIELDS,
    Field,
)
from posturetest.store.store import Store

BATCH = 5000

_FREE_TEXT = {"tester", "station", "note", "protocol_version", "cleared_by", "tests"}
"""Columns whose values may contain a comma, a quote or a line break."""


@dataclass(frozen=True)
class Selection:
    """Which sessions an export covers. Empty means everything."""

    subjects: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    """Inclusive: sessions started on this day are in."""
    complete_only: bool = False
    deidentify: bool = False

    def where(
        self, started_at: str, status: str, session_id: str, subject: str
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.subjects:
            marks = ", ".join("?" * len(self.subjects))
            clauses.append(f"{subject} COLLATE NOCASE IN ({marks})")
            params.extend(self.subjects)
        if self.session_ids:
            clauses.append(f"{session_id} IN ({', '.join('?' * len(self.session_ids))})")
            params.extend(self.session_ids)
        if self.since is not None:
            clauses.append(f"{started_at} >= ?")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append(f"{started_at} < ?")
            params.append((self.until + timedelta(days=1)).isoformat())
        if self.complete_only:
            clauses.append(f"{status} = 'complete'")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def study_id(secret: str, code: str) -> str:
    """A stable id for a subject that cannot be traced back without the database's secret."""
    digest = hmac.new(secret.encode(), code.casefold().encode(), hashlib.sha256).hexdigest()
    return f"P-{digest[:12]}"


def _csv_expr(f: Field, column: str, selection: Selection) -> str:
    if selection.deidentify and f.identifying:
        return "''"
    if f.name == "subject" and selection.deidentify:
        return "sid.study_id"
    if f.name in _FREE_TEXT:
        quoted = "'\"' || replace({c}, '\"', '\"\"') || '\"'".format(c=column)
        needs_quotes = f"{column} GLOB '*[\",' || char(10) || char(13) || ']*'"
        return (
            f"CASE WHEN {column} IS NULL THEN '' "
            f"WHEN {needs_quotes} THEN {quoted} ELSE {column} END"
        )
    return f"coalesce({column}, '')"


def _json_expr(f: Field, column: str, selection: Selection) -> str:
    if selection.deidentify and f.identifying:
        return "NULL"
    if f.name == "subject" and selection.deidentify:
        return "sid.study_id"
    return column


def _prepare_study_ids(store: Store, selection: Selection) -> str:
    """A temp table mapping subject codes to study ids; the JOIN that uses it."""
    if not selection.deidentify:
        return ""
    secret = store.conn.execute("SELECT value FROM meta WHERE key = 'study_secret'").fetchone()[0]
    store.conn.execute(
        "CREATE TEMP TABLE IF NOT EXISTS study_ids (code TEXT PRIMARY KEY, study_id TEXT)"
    )
    store.conn.execute("DELETE FROM temp.study_ids")
    codes = [r[0] for r in store.conn.execute("SELECT code FROM subjects")]
    store.conn.executemany(
        "INSERT INTO temp.study_ids VALUES (?, ?)", ((c, study_id(secret, c)) for c in codes)
    )
    return " JOIN temp.study_ids sid ON sid.code = {subject}"


def _stream(store: Store, sql: str, params: list[object]) -> Iterator[list[str]]:
    with store._lock:
        cursor = store.conn.execute(sql, params)
        while batch := cursor.fetchmany(BATCH):
            yield [row[0] for row in batch]


def trial_lines(store: Store, selection: Selection, *, fmt: str) -> Iterator[list[str]]:
    """Batches of trial rows, one CSV line (no line end) or one JSON object each."""
    join = _prepare_study_ids(store, selection).format(subject="r.subject")
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    if fmt == "csv":
        body = " || ',' || ".join(_csv_expr(f, f"r.{f.name}", selection) for f in TRIAL_FIELDS)
    else:
        body = (
            "json_object("
            + ", ".join(
                f"'{f.name}', {_json_expr(f, f'r.{f.name}', selection)}" for f in TRIAL_FIELDS
            )
            + ")"
        )
    order = " ORDER BY r.session_started_at, r.session_id, r.seq"
    sql = f"SELECT {body} FROM trial_results r{join}{where}{order}"
    yield from _stream(store, sql, params)


def count_trials(store: Store, selection: Selection) -> int:
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    return int(
        store.conn.execute(f"SELECT count(*) FROM trial_results r{where}", params).fetchone()[0]
    )


_SESSION_SOURCE = """
SELECT s.session_id, sub.code AS subject, s.tester, s.station, s.position, s.order_scheme,
    s.order_seed, s.tests, s.repetitions, s.blind, s.record_effort, s.record_discomfort,
    s.protocol_version, s.started_at, s.ended_at, s.status, s.safety_passed, s.cleared_by
FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id
"""


def session_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    join = _prepare_study_ids(store, selection).format(subject="x.subject")
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = " || ',' || ".join(_csv_expr(f, f"x.{f.name}", selection) for f in SESSION_FIELDS)
    sql = (
        f"SELECT {body} FROM ({_SESSION_SOURCE}) x{join}{where} ORDER BY x.started_at, x.session_id"
    )
    yield from _stream(store, sql, params)


def ranking_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = " || ',' || ".join(_csv_expr(f, f"k.{f.name}", selection) for f in RANKING_FIELDS)
    sql = (
        f"SELECT {body} FROM rankings k JOIN ({_SESSION_SOURCE}) x ON x.session_id = k.session_id"
        f"{where} ORDER BY x.started_at, k.session_id, k.test, k.role, k.rank"
    )
    yield from _stream(store, sql, params)
