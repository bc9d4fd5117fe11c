"""The rules within a row are defined once (`domain.row_rules`) and written out twice: as the
schema's CHECK constraints and as the import's checks. Here the two give the same verdict on
every case, the CHECK text is still the one existing files hold, and the interchange columns
(a contract) keep their names and order."""

from __future__ import annotations

import itertools
import sqlite3
import uuid
from collections.abc import Iterator

import pytest

from posturetest.domain import Outcome, SessionStatus, StopReason
from posturetest.domain.interchange import (
    RATING_COLUMNS,
    SESSION_COLUMNS,
    SESSION_LEVEL_TRIAL_COLUMNS,
    TRIAL_COLUMNS,
    TRIAL_TABLE_COLUMNS,
)
from posturetest.domain.row_rules import SESSION_RULES, TRIAL_RULES, row_problems
from posturetest.domain.session import EndReason
from posturetest.importing.rules import rules_hold
from posturetest.store import schema


def fresh() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    for statement in schema._statements(schema.current_schema()):
        conn.execute(statement)
    return conn


def migrated() -> sqlite3.Connection:
    """A file created by schema 1 and taken through every migration, as an old file is."""
    conn = sqlite3.connect(":memory:")
    for migration in schema.MIGRATIONS:
        migration(conn)
    return conn


@pytest.fixture(params=[fresh, migrated], ids=["new file", "migrated file"])
def conn(request: pytest.FixtureRequest) -> Iterator[sqlite3.Connection]:
    connection: sqlite3.Connection = request.param()
    yield connection
    connection.close()


def accepted(conn: sqlite3.Connection, table: str, row: dict[str, object]) -> bool:
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    try:
        conn.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(row.values()))
    except sqlite3.IntegrityError as e:
        assert "CHECK constraint failed" in str(e), e
        return False
    return True


TRIAL_CASES = [
    {
        "outcome": outcome.value,
        "stop_reason": reason,
        **dict(zip(RATING_COLUMNS, ratings, strict=True)),
    }
    for outcome in Outcome
    for reason in (None, StopReason.PAIN.value)
    for ratings in itertools.product((None, 5), repeat=len(RATING_COLUMNS))
]
"""Every outcome, with and without a stop reason, with every set of ratings filled."""


def test_the_trial_checks_of_the_database_and_the_import_agree(conn: sqlite3.Connection) -> None:
    verdicts = []
    for seq, case in enumerate(TRIAL_CASES, 1):
        row = {
            "trial_id": str(uuid.uuid4()),
            "session_id": str(uuid.uuid4()),
            "seq": seq,
            "test": "vertical",
            "posture": "ligament",
            "rep": 1,
            **case,
        }
        python = not row_problems(TRIAL_RULES, case)
        assert rules_hold(TRIAL_RULES, {c: [v] for c, v in case.items()}) == python, case
        assert accepted(conn, "trials", row) == python, case
        verdicts.append(python)
    assert True in verdicts and False in verdicts
    whole = {c: [case[c] for case in TRIAL_CASES] for c in TRIAL_CASES[0]}
    assert not rules_hold(TRIAL_RULES, whole)
    good = [case for case, ok in zip(TRIAL_CASES, verdicts, strict=True) if ok]
    assert rules_hold(TRIAL_RULES, {c: [case[c] for case in good] for c in good[0]})


def test_the_session_checks_of_the_database_and_the_import_agree(
    conn: sqlite3.Connection,
) -> None:
    verdicts = []
    for status, reason in itertools.product(SessionStatus, (None, *EndReason)):
        case = {"status": status.value, "end_reason": reason.value if reason else None}
        row = {
            "session_id": str(uuid.uuid4()),
            "subject_id": str(uuid.uuid4()),
            "position": "sitting",
            "order_scheme": "fixed",
            "tests": "vertical",
            "repetitions": 1,
            "blind": 0,
            "record_effort": 0,
            "record_discomfort": 0,
            "protocol_version": "1",
            "started_at": "2026-01-01T00:00:00Z",
            **case,
        }
        python = not row_problems(SESSION_RULES, case)
        assert rules_hold(SESSION_RULES, {c: [v] for c, v in case.items()}) == python, case
        assert accepted(conn, "sessions", row) == python, case
        verdicts.append(python)
    assert True in verdicts and False in verdicts


def trial(outcome: str, stop_reason: str | None = None, **ratings: int) -> dict[str, object]:
    """A trial's cells the rules look at: no ratings but those given."""
    return {
        "outcome": outcome,
        "stop_reason": stop_reason,
        **dict.fromkeys(RATING_COLUMNS),
    } | ratings


@pytest.mark.parametrize(
    ("case", "problems"),
    [
        (trial("stopped"), [("stop_reason", "a stopped trial needs a reason")]),
        (
            trial("rated", "pain", tester_stability=1, subject_ease=2),
            [("stop_reason", "only a stopped trial has a reason (outcome rated)")],
        ),
        (
            trial("rated", discomfort=3),
            [
                ("tester_stability", "a rated trial needs this rating"),
                ("subject_ease", "a rated trial needs this rating"),
            ],
        ),
        (
            trial("skipped", discomfort=3, tester_effort=4),
            [
                ("discomfort", "a skipped trial has no ratings"),
                ("tester_effort", "a skipped trial has no ratings"),
            ],
        ),
        (
            trial("stopped", "other", tester_stability=1),
            [("tester_stability", "a stopped trial has no ratings")],
        ),
        (trial("pending", discomfort=3), []),
    ],
)
def test_a_broken_trial_rule_is_reported_in_these_words(
    case: dict[str, object], problems: list[tuple[str, str]]
) -> None:
    assert row_problems(TRIAL_RULES, case) == problems


def test_a_session_end_reason_out_of_place_is_reported_in_these_words() -> None:
    assert row_problems(SESSION_RULES, {"status": "complete", "end_reason": "discarded"}) == [
        ("end_reason", "only a stopped session has an end reason (status complete)")
    ]


def test_the_check_text_is_the_one_existing_files_hold() -> None:
    """Files of every schema version hold this text; a new file must hold the same."""
    trials = schema.current_schema().split("CREATE TABLE trials (", 1)[1].split("\n);", 1)[0]
    assert trials.endswith(
        "\n    CHECK ((stop_reason IS NOT NULL) = (outcome = 'stopped')),\n"
        "    CHECK (outcome != 'rated' OR (tester_stability IS NOT NULL AND subject_ease IS NOT "
        "NULL)),\n"
        "    CHECK (outcome IN ('rated', 'pending') OR (tester_stability IS NULL AND subject_ease "
        "IS NULL\n"
        "        AND discomfort IS NULL AND tester_effort IS NULL))"
    )
    assert schema.END_REASON_COLUMN == (
        "end_reason TEXT CHECK (end_reason IS NULL OR ((end_reason = 'discarded') "
        "AND status = 'stopped'))"
    )


def test_the_interchange_columns_keep_their_names_and_order() -> None:
    assert TRIAL_COLUMNS == (
        "trial_id",
        "session_id",
        "subject",
        "tester",
        "station",
        "position",
        "order_scheme",
        "session_started_at",
        "session_status",
        "protocol_version",
        "test",
        "posture",
        "rep",
        "seq",
        "outcome",
        "stop_reason",
        "tester_stability",
        "subject_ease",
        "discomfort",
        "tester_effort",
        "rated_at",
        "note",
    )
    assert SESSION_COLUMNS == (
        "session_id",
        "subject",
        "tester",
        "station",
        "position",
        "order_scheme",
        "order_seed",
        "tests",
        "repetitions",
        "blind",
        "record_effort",
        "record_discomfort",
        "protocol_version",
        "started_at",
        "ended_at",
        "status",
        "safety_passed",
        "cleared_by",
        "end_reason",
    )
    assert SESSION_LEVEL_TRIAL_COLUMNS == TRIAL_COLUMNS[1:10]
    assert TRIAL_TABLE_COLUMNS == TRIAL_COLUMNS[:2] + TRIAL_COLUMNS[10:]
    assert RATING_COLUMNS == ("tester_stability", "subject_ease", "discomfort", "tester_effort")


def test_the_trial_results_view_has_the_interchange_columns(conn: sqlite3.Connection) -> None:
    """The view is written out by hand in the schema: its columns must stay the interchange's."""
    cursor = conn.execute("SELECT * FROM trial_results LIMIT 0")
    assert tuple(d[0] for d in cursor.description) == TRIAL_COLUMNS == schema.INTERCHANGE_COLUMNS
