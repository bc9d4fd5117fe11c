"""The schema, generated from the domain definitions, and its forward migrations.

Every enum and range in a CHECK constraint comes from `posturetest.domain`, so the database
itself refuses a rating of 11 or a posture called "banana".
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable, Iterable
from enum import StrEnum

from posturetest.domain import (
    SAFETY_KEYS,
    SCALES,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.interchange import TRIAL_COLUMNS
from posturetest.domain.plan import MAX_REPETITIONS
from posturetest.domain.protocol import SUBJECT_CODE_MAX_LENGTH

APPLICATION_ID = 0x50535431
"""`PRAGMA application_id` of every posturetest file ("PST1"): tells foreign SQLite files apart."""

INTERCHANGE_COLUMNS: tuple[str, ...] = TRIAL_COLUMNS
"""The `trial_results` view's columns, in order: the interchange format of SPEC.md."""


CORRECTABLE_FIELDS: tuple[str, ...] = tuple(SCALES)


def _in(column: str, values: Iterable[str]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


def _enum(column: str, enum: type[StrEnum], *, nullable: bool = False) -> str:
    check = _in(column, (m.value for m in enum))
    null = f"{column} IS NULL OR " if nullable else ""
    return f"{column} TEXT {'' if nullable else 'NOT NULL '}CHECK ({null}{check})"


def _scale_columns() -> str:
    return ",\n".join(
        f"    {s.name} INTEGER CHECK ({s.name} IS NULL OR "
        f"({s.name} BETWEEN {s.minimum} AND {s.maximum} AND typeof({s.name}) = 'integer'))"
        for s in SCALES.values()
    )


def _bool(column: str) -> str:
    return f"{column} INTEGER NOT NULL CHECK ({column} IN (0, 1))"


_UUID_CHECK = "length({c}) = 36"

SCHEMA_V1 = f"""
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="subject_id")}),
    code TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (
        length(code) BETWEEN 1 AND {SUBJECT_CODE_MAX_LENGTH} AND code NOT GLOB '*[^A-Za-z0-9_-]*'
    ),
    enrolment_index INTEGER NOT NULL CHECK (enrolment_index >= 0),
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="session_id")}),
    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
    tester TEXT NOT NULL DEFAULT '',
    station TEXT NOT NULL DEFAULT '',
    {_enum("position", Position)},
    {_enum("order_scheme", OrderScheme)},
    order_seed INTEGER,
    tests TEXT NOT NULL,
    repetitions INTEGER NOT NULL CHECK (repetitions BETWEEN 1 AND {MAX_REPETITIONS}),
    {_bool("blind")},
    {_bool("record_effort")},
    {_bool("record_discomfort")},
    protocol_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    {_enum("status", SessionStatus)},
    safety_passed INTEGER NOT NULL DEFAULT 0 CHECK (safety_passed IN (0, 1)),
    cleared_by TEXT
);
CREATE INDEX sessions_by_start ON sessions(started_at, session_id);
CREATE INDEX sessions_by_subject ON sessions(subject_id, started_at);
CREATE INDEX sessions_unfinished ON sessions(status, started_at)
    WHERE status = 'in_progress';

CREATE TABLE safety_answers (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    question TEXT NOT NULL CHECK ({_in("question", SAFETY_KEYS)}),
    {_bool("answer")},
    answered_at TEXT NOT NULL,
    PRIMARY KEY (session_id, question)
);

CREATE TABLE trials (
    trial_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="trial_id")}),
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    {_enum("test", StressTest)},
    {_enum("posture", Posture)},
    rep INTEGER NOT NULL CHECK (rep BETWEEN 1 AND {MAX_REPETITIONS}),
    {_enum("outcome", Outcome)},
    {_enum("stop_reason", StopReason, nullable=True)},
{_scale_columns()},
    rated_at TEXT,
    note TEXT,
    UNIQUE (session_id, seq),
    CHECK ((stop_reason IS NOT NULL) = (outcome = 'stopped')),
    CHECK (outcome != 'rated' OR (tester_stability IS NOT NULL AND subject_ease IS NOT NULL)),
    CHECK (outcome IN ('rated', 'pending') OR (tester_stability IS NULL AND subject_ease IS NULL
        AND discomfort IS NULL AND tester_effort IS NULL))
);

CREATE TABLE rankings (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    {_enum("test", StressTest)},
    {_enum("role", Role)},
    {_enum("posture", Posture)},
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND {len(Posture)}),
    ranked_at TEXT NOT NULL,
    PRIMARY KEY (session_id, test, role, posture),
    UNIQUE (session_id, test, role, rank)
);

CREATE TABLE corrections (
    correction_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="correction_id")}),
    trial_id TEXT NOT NULL REFERENCES trials(trial_id),
    field TEXT NOT NULL CHECK ({_in("field", CORRECTABLE_FIELDS)}),
    old_value INTEGER,
    new_value INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    corrected_at TEXT NOT NULL
);
CREATE INDEX corrections_by_trial ON corrections(trial_id);

-- Sessions are the outer loop (CROSS JOIN fixes the order), walked by sessions_by_start, so
-- reading the view in start order needs no sort of all its rows.
CREATE VIEW trial_results AS
SELECT
    t.trial_id,
    t.session_id,
    sub.code AS subject,
    s.tester,
    s.station,
    s.position,
    s.order_scheme,
    s.started_at AS session_started_at,
    s.status AS session_status,
    s.protocol_version,
    t.test,
    t.posture,
    t.rep,
    t.seq,
    t.outcome,
    t.stop_reason,
    t.tester_stability,
    t.subject_ease,
    t.discomfort,
    t.tester_effort,
    t.rated_at,
    t.note
FROM sessions s
CROSS JOIN trials t ON t.session_id = s.session_id
JOIN subjects sub ON sub.subject_id = s.subject_id;
"""

Migration = Callable[[sqlite3.Connection], None]


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    for statement in script.split(";\n"):
        if statement.strip():
            conn.execute(statement)


def _create_v1(conn: sqlite3.Connection) -> None:
    _run_script(conn, SCHEMA_V1)


def _add_meta_v2(conn: sqlite3.Connection) -> None:
    """A per-database secret, so de-identified study ids cannot be traced without this file."""
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute("INSERT INTO meta VALUES ('study_secret', ?)", (secrets.token_hex(32),))


MIGRATIONS: tuple[Migration, ...] = (_create_v1, _add_meta_v2)
"""MIGRATIONS[i] takes a file from schema version i to i + 1. Append only; never edit one."""

SCHEMA_VERSION = len(MIGRATIONS)
