"""Column lists in SQL, each derived from the interchange fields: one definition per list."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from posturetest.domain.interchange import SESSION_COLUMNS, SUBJECT
from posturetest.store.schema import end_reason_sql

SESSIONS_WITH_SUBJECTS = "FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id"
"""The FROM clause that `session_columns` reads from."""

SESSION_TABLE_COLUMNS: tuple[str, ...] = tuple(
    "subject_id" if c == SUBJECT.name else c for c in SESSION_COLUMNS
)
"""The sessions table's columns in sessions.csv's order, the subject by its id."""


def column_list(names: Iterable[str], prefix: str = "") -> str:
    """`names` as an SQL column list, each after `prefix` (an alias and a dot, say)."""
    return ", ".join(f"{prefix}{name}" for name in names)


def session_columns(end_reason: str, names: Iterable[str] = SESSION_COLUMNS) -> str:
    """The named columns of sessions.csv, each under its own name, as read from
    `SESSIONS_WITH_SUBJECTS`; `end_reason` is that column's SQL (see `end_reason_sql`)."""

    def column(name: str) -> str:
        if name == SUBJECT.name:
            return f"sub.code AS {name}"
        if name == "end_reason":
            return f"{end_reason} AS {name}"
        return f"s.{name}"

    return ", ".join(map(column, names))


def session_source(conn: sqlite3.Connection) -> str:
    """Every session with the columns of sessions.csv (`SESSION_FIELDS`), in that order; a
    column a file of an older schema lacks (read as it is) is empty."""
    return f"SELECT {session_columns(end_reason_sql(conn))} {SESSIONS_WITH_SUBJECTS}"


def key_match(key: Sequence[str]) -> str:
    """A WHERE condition matching one row by the columns of `key`, with a ? for each."""
    return " AND ".join(f"{c} = ?" for c in key)


def insert_sql(table: str, names: Sequence[str], verb: str = "INSERT") -> str:
    """An INSERT of one row of `names` into `table`, with a ? for each."""
    return f"{verb} INTO {table} ({column_list(names)}) VALUES ({', '.join('?' * len(names))})"
