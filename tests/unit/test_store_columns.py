"""The store's column lists come from the interchange fields and the scales; these pin what they
must come out as, and that they match the tables the schema builds."""

from __future__ import annotations

import dataclasses

import pytest

from posturetest.domain import SAFETY_KEYS, SCALES, SessionSetup, StopReason
from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    CORRECTION_FIELDS,
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SAFETY_ANSWER_COLUMNS,
    SAFETY_ANSWER_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
)
from posturetest.domain.rows import (
    BLANK_IS_MISSING,
    RANKING_KEY,
    SAFETY_ANSWER_KEY,
    SESSION_LEVEL,
    differing,
    may_need_quoting,
    same,
    session_column,
)
from posturetest.store import Store, results
from posturetest.store.columns import SESSION_TABLE_COLUMNS, session_source

EVERY_FIELD = TRIAL_FIELDS + SESSION_FIELDS + RANKING_FIELDS + SAFETY_ANSWER_FIELDS
EVERY_FIELD += CORRECTION_FIELDS


def table_columns(store: Store, table: str) -> list[str]:
    return [r[1] for r in store.conn.execute(f"PRAGMA table_info({table})")]


def test_the_cells_an_export_may_quote_are_the_free_text_and_the_list_of_tests() -> None:
    quoted = {f.name for f in EVERY_FIELD if may_need_quoting(f)}
    assert quoted == {
        "tester",
        "station",
        "note",
        "protocol_version",
        "cleared_by",
        "tests",
        "reason",
    }


def test_empty_and_missing_are_the_same_for_optional_free_text_only() -> None:
    assert BLANK_IS_MISSING == {"tester", "station", "note", "cleared_by", "reason"}
    assert same(None, "", "note") and same("", None, "reason")
    assert not same(None, "", "protocol_version")
    assert same("s-001", "S-001", "subject") and not same("s-001", "S-001", "tester")
    assert differing(("tester", "note", "rep"), ("", None, 1), (None, "x", 2)) == ["note", "rep"]


def test_a_trial_rows_session_columns_name_columns_of_the_sessions() -> None:
    assert SESSION_LEVEL == (
        "subject",
        "tester",
        "station",
        "position",
        "order_scheme",
        "session_started_at",
        "session_status",
        "protocol_version",
    )
    assert [session_column(c) for c in SESSION_LEVEL][-3:] == [
        "started_at",
        "status",
        "protocol_version",
    ]
    assert RANKING_KEY == ("session_id", "test", "role", "posture")
    assert SAFETY_ANSWER_KEY == ("session_id", "question")


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("sessions", SESSION_TABLE_COLUMNS),
        ("trials", TRIAL_TABLE_COLUMNS),
        ("rankings", RANKING_COLUMNS),
        ("safety_answers", SAFETY_ANSWER_COLUMNS),
        ("corrections", CORRECTION_COLUMNS),
    ],
)
def test_every_column_list_is_its_tables_columns(table: str, columns: tuple[str, ...]) -> None:
    with Store() as store:
        assert sorted(columns) == sorted(table_columns(store, table))


def test_the_session_source_gives_the_columns_of_sessions_csv_in_order() -> None:
    with Store() as store:
        cursor = store.conn.execute(session_source(store.conn))
        assert tuple(d[0] for d in cursor.description) == SESSION_COLUMNS


def test_results_show_the_subjects_rating_first() -> None:
    assert results.RATINGS == ("subject_ease", "tester_stability")
    assert all(SCALES[r].values == range(0, 11) for r in results.RATINGS)


def test_stored_rows_come_back_as_the_records_that_were_written() -> None:
    with Store() as store:
        setup = SessionSetup(subject="S-7", tester="T", record_effort=True, record_discomfort=False)
        session = store.create_session(setup, station="st", started_at="2026-11-24T09:15:00Z")
        store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
        first, second = store.trials(session.session_id)[:2]
        for scale in session.scales:
            store.record_rating(first.trial_id, scale.name, 4)
        store.record_rating(second.trial_id, "tester_stability", 6)
        store.stop_trial(second.trial_id, StopReason.PAIN, note="sore")
        again = store.session(session.session_id)
        assert dataclasses.replace(again, safety_passed=False) == session
        rated = store.trial(first.trial_id)
        assert list(rated.ratings) == list(SCALES)
        assert rated.ratings == {
            "tester_stability": 4,
            "tester_effort": 4,
            "subject_ease": 4,
            "discomfort": None,
        }
        stopped = store.trial(second.trial_id)
        assert (stopped.stop_reason, stopped.note) == (StopReason.PAIN, "sore")
        assert [
            (c.field, c.old_value, c.new_value) for c in store.corrections(stopped.trial_id)
        ] == [("tester_stability", 6, None)]
        assert store.safety_answers(session.session_id) == {k: False for k in SAFETY_KEYS}
