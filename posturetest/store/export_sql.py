"""SQL for data leaving the database: filtered, optionally de-identified, formatted by SQLite.

Rows are formatted inside SQLite (CSV lines, JSON objects) and streamed in batches, so an export
of 600,000 trials keeps memory flat and runs close to the sqlite3 shell's own speed.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Iterator

from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_FIELDS,
    SAFETY_ANSWER_FIELDS,
    SESSION_FIELDS,
    TRIAL_FIELDS,
    Field,
)
from posturetest.domain.rows import may_need_quoting
from posturetest.store.columns import session_source
from posturetest.store.selection import Selection
from posturetest.store.store import Store


def study_id(secret: str, code: str) -> str:
    """A stable id for a subject that cannot be traced back without the database's secret."""
    digest = hmac.new(secret.encode(), code.casefold().encode(), hashlib.sha256).hexdigest()
    return f"P-{digest[:12]}"


PSEUDONYMISED = {"trial_id": "trial", "session_id": "session", "correction_id": "correction"}
"""The ids a de-identified export replaces, each by a keyed hash of its own kind."""


def pseudonym(secret: str, kind: str, value: str) -> str:
    """A UUID-shaped keyed hash of an id: the same for every export of one database, and not
    traceable to the stored id without the database's secret."""
    digest = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _deidentified_expr(f: Field, column: str) -> str | None:
    """What a de-identified export writes instead of the column, if anything."""
    if f.identifying:
        return "NULL"
    if f.name == "subject":
        return "sid.study_id"
    if f.name in PSEUDONYMISED:
        return f"pt_pseudonym('{PSEUDONYMISED[f.name]}', {column})"
    if f.type == "datetime":  # the day only: the order within a session stays in seq
        return (
            f"CASE WHEN {column} IS NULL THEN NULL ELSE substr({column}, 1, 10) || '{MIDNIGHT}' END"
        )
    return None


MIDNIGHT = "T00:00:00Z"


def _csv_expr(f: Field, column: str, selection: Selection) -> str:
    """One cell as printf's argument (NULL prints as empty), quoted only where it must be."""
    if selection.deidentify and (replaced := _deidentified_expr(f, column)) is not None:
        return replaced
    if may_need_quoting(f):
        quoted = "'\"' || replace({c}, '\"', '\"\"') || '\"'".format(c=column)
        needs_quotes = f"{column} GLOB '*[\",' || char(10) || char(13) || ']*'"
        return f"CASE WHEN {needs_quotes} THEN {quoted} ELSE {column} END"
    return column


def _csv_line(fields: tuple[Field, ...], prefix: str, selection: Selection) -> str:
    """A CSV line built by SQLite's printf: about twice as fast as || with coalesce."""
    template = ",".join(["%s"] * len(fields))
    cells = ", ".join(_csv_expr(f, f"{prefix}.{f.name}", selection) for f in fields)
    return f"printf('{template}', {cells})"


def _json_expr(f: Field, column: str, selection: Selection) -> str:
    if selection.deidentify and (replaced := _deidentified_expr(f, column)) is not None:
        return replaced
    return column


def _order(selection: Selection, started_at: str, session_id: str, *rest: str) -> str:
    """Start time, session, then `rest`; de-identified: the day, then the sessions in the order
    of their new ids, so the rows' order does not give the time of day away either."""
    if selection.deidentify:
        keys = [f"substr({started_at}, 1, 10)", f"pt_pseudonym('session', {session_id})"]
    else:
        keys = [started_at, session_id]
    return " ORDER BY " + ", ".join([*keys, *rest])


def _prepare_pseudonyms(store: Store, selection: Selection) -> None:
    """The SQL function `pt_pseudonym(kind, id)` on this connection, keyed with its secret."""
    if selection.deidentify:
        secret = store.study_secret()
        store.conn.create_function(
            "pt_pseudonym",
            2,
            lambda kind, value: None if value is None else pseudonym(secret, kind, value),
            deterministic=True,
        )


def _prepare_study_ids(store: Store, selection: Selection) -> str:
    """A temp table mapping subject codes to study ids; the JOIN that uses it."""
    if not selection.deidentify:
        return ""
    _prepare_pseudonyms(store, selection)
    secret = store.study_secret()
    with store.scratch():  # a temp table: no lock on the file, fine on a read-only copy
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
    """The query's one-column rows, in batches."""
    for batch in store.batches(sql, params):
        yield [row[0] for row in batch]


def trial_lines(store: Store, selection: Selection, *, fmt: str) -> Iterator[list[str]]:
    """Batches of trial rows, one CSV line (no line end) or one JSON object each."""
    join = _prepare_study_ids(store, selection).format(subject="r.subject")
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    if fmt == "csv":
        body = _csv_line(TRIAL_FIELDS, "r", selection)
    else:
        body = (
            "json_object("
            + ", ".join(
                f"'{f.name}', {_json_expr(f, f'r.{f.name}', selection)}" for f in TRIAL_FIELDS
            )
            + ")"
        )
    order = _order(selection, "r.session_started_at", "r.session_id", "r.seq")
    sql = f"SELECT {body} FROM trial_results r{join}{where}{order}"
    yield from _stream(store, sql, params)


def count_trials(store: Store, selection: Selection) -> int:
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    return int(
        store.conn.execute(f"SELECT count(*) FROM trial_results r{where}", params).fetchone()[0]
    )


def session_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    join = _prepare_study_ids(store, selection).format(subject="x.subject")
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(SESSION_FIELDS, "x", selection)
    order = _order(selection, "x.started_at", "x.session_id")
    sql = f"SELECT {body} FROM ({session_source(store.conn)}) x{join}{where}{order}"
    yield from _stream(store, sql, params)


def ranking_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    return _session_child_lines(
        store,
        selection,
        RANKING_FIELDS,
        "rankings k",
        "k",
        ("k.session_id", "k.test", "k.role", "k.rank"),
    )


def safety_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    """The safety answers of the selected sessions, as CSV lines."""
    return _session_child_lines(
        store,
        selection,
        SAFETY_ANSWER_FIELDS,
        "safety_answers a",
        "a",
        ("a.session_id", "a.question"),
    )


def correction_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    """The audit trail of the selected sessions' trials, as CSV lines, oldest first."""
    return _session_child_lines(
        store,
        selection,
        CORRECTION_FIELDS,
        "corrections c JOIN trials t ON t.trial_id = c.trial_id",
        "c",
        ("t.session_id", "t.seq", "c.corrected_at", "c.rowid"),
        session_of="t",
    )


def _session_child_lines(
    store: Store,
    selection: Selection,
    fields: tuple[Field, ...],
    source: str,
    alias: str,
    order_by: tuple[str, ...],
    *,
    session_of: str | None = None,
) -> Iterator[list[str]]:
    """CSV lines of a table whose rows belong to a session (rankings, safety answers, the audit
    trail), for the selected sessions, in the sessions' order then `order_by`."""
    _prepare_pseudonyms(store, selection)
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(fields, alias, selection)
    order = _order(selection, "x.started_at", *order_by)
    sql = (
        f"SELECT {body} FROM {source} JOIN ({session_source(store.conn)}) x "
        f"ON x.session_id = {session_of or alias}.session_id{where}{order}"
    )
    yield from _stream(store, sql, params)
