"""Merging other stations' databases into this one, by UUID, in one transaction, or nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    RANKING_COLUMNS,
    SAFETY_ANSWER_COLUMNS,
    TRIAL_COLUMNS,
)
from posturetest.store.columns import column_list, insert_sql, session_source
from posturetest.store.import_report import ImportReport
from posturetest.store.import_writer import ImportWriter
from posturetest.store.opening import open_readonly
from posturetest.store.store import Store
from posturetest.store.transactions import BATCH


def _rows_as_dicts(conn: sqlite3.Connection, sql: str) -> Iterator[list[dict[str, object]]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(BATCH):
        yield [dict(zip(names, row, strict=True)) for row in batch]


def _add_audit(store: Store, other: sqlite3.Connection) -> None:
    """Safety answers and corrections of another station: kept by their keys, never changed."""
    for table, columns in (
        ("safety_answers", SAFETY_ANSWER_COLUMNS),
        ("corrections", CORRECTION_COLUMNS),
    ):
        store.conn.executemany(
            insert_sql(table, columns, "INSERT OR IGNORE"),
            other.execute(f"SELECT {column_list(columns)} FROM {table}"),
        )


def merge_databases(store: Store, others: list[Path]) -> ImportReport:
    """Bring other stations' databases in by UUID, all in one transaction, or nothing."""
    sources: list[sqlite3.Connection] = []
    writer = ImportWriter(store)
    try:
        for path in others:
            sources.append(open_readonly(path))
        with store.write():
            for conn in sources:
                sessions = {
                    str(row["session_id"]): row
                    for batch in _rows_as_dicts(conn, session_source(conn))
                    for row in batch
                }
                for batch in _rows_as_dicts(
                    conn,
                    f"SELECT {column_list(TRIAL_COLUMNS)} FROM trial_results "
                    "ORDER BY session_id, seq",
                ):
                    writer.add_trials(batch, sessions)
                for batch in _rows_as_dicts(
                    conn, f"SELECT {column_list(RANKING_COLUMNS)} FROM rankings"
                ):
                    writer.add_rankings(batch)
                _add_audit(store, conn)
            writer.finish()
    finally:
        for conn in sources:
            conn.close()
    return writer.report
