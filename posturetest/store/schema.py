"""The schema, generated from the domain definitions, and its forward migrations.

Every enum, range and rule within a row in a CHECK constraint comes from `posturetest.domain`,
so the database itself refuses a rating of 11, a posture called "banana" or a rated trial
without its ratings.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from functools import cache

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
from posturetest.domain.protocol import (
    NOTE_CONTROL_CODES,
    NOTE_MAX_LENGTH,
    NOTE_RULE,
    SUBJECT_CODE_CHARACTERS,
    SUBJECT_CODE_MAX_LENGTH,
)
from posturetest.domain.row_rules import SESSION_RULES, TRIAL_RULES, Presence
from posturetest.domain.session import EndReason

APPLICATION_ID = 0x50535431
"""`PRAGMA application_id` of every posturetest file ("PST1"): tells foreign SQLite files apart."""

INTERCHANGE_COLUMNS: tuple[str, ...] = TRIAL_COLUMNS
"""The `trial_results` view's columns, in order: the interchange format of SPEC.md."""


CORRECTABLE_FIELDS: tuple[str, ...] = tuple(SCALES)


OneOf = Callable[[str, Iterable[str]], str]


def _in_list(column: str, values: Iterable[str]) -> str:
    """Schema version 1's form. SQLite builds a lookup table for an IN list of more than two
    values every time it checks a row, which made a bulk insert half again as slow."""
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


def _or_chain(column: str, values: Iterable[str]) -> str:
    """The same rule as `_in_list`, as comparisons SQLite checks without building anything."""
    return "(" + " OR ".join(f"{column} = '{v}'" for v in values) + ")"


def _enum(column: str, enum: type[StrEnum], one_of: OneOf, *, nullable: bool = False) -> str:
    check = one_of(column, (m.value for m in enum))
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

SQL_WIDTH = 100
"""Rule checks wrap before this many characters: the stored schema's text, compared between a
new file and a migrated one, is the one version 1 wrote."""


def _key_sql(rule: Presence, *, negated: bool = False) -> str:
    """Whether the row's key is one of the rule's values (or none of them), as SQL."""
    if len(rule.values) == 1:
        return f"{rule.key} {'!=' if negated else '='} '{rule.values[0]}'"
    listed = ", ".join(f"'{v}'" for v in rule.values)
    return f"{rule.key} {'NOT IN' if negated else 'IN'} ({listed})"


def _all_of(head: str, terms: Sequence[str]) -> str:
    """CHECK (head(term AND term ...)), wrapped as a table's line of the schema."""
    line, lines = f"    CHECK ({head}({terms[0]}", []
    for term in terms[1:]:
        if len(line) + len(f" AND {term}") > SQL_WIDTH:
            lines.append(line)
            line = f"        AND {term}"
        else:
            line += f" AND {term}"
    return "\n".join([*lines, line + "))"]).removeprefix("    ")


def _rule_checks(rule: Presence) -> list[str]:
    """A `Presence` rule as CHECK constraints (a reason column's both ways in one)."""
    if rule.required and rule.only and len(rule.columns) == 1:
        return [f"CHECK (({rule.columns[0]} IS NOT NULL) = ({_key_sql(rule)}))"]
    checks = []
    if rule.required:
        filled = [f"{c} IS NOT NULL" for c in rule.columns]
        checks.append(_all_of(f"{_key_sql(rule, negated=True)} OR ", filled))
    if rule.only:
        checks.append(_all_of(f"{_key_sql(rule)} OR ", [f"{c} IS NULL" for c in rule.columns]))
    return checks


def _row_checks(rules: Iterable[Presence]) -> str:
    """The rules' CHECK constraints, one to a line, for the end of a CREATE TABLE."""
    return ",\n    ".join(check for rule in rules for check in _rule_checks(rule))


def _schema(one_of: OneOf, *, named_trial_keys: bool) -> str:
    """Every table, index and view, with enum checks written by `one_of`.

    Version 1 declared a trial's keys inline; from version 3 they are named unique indexes, so
    an import into an empty database can build them once, by sorting, after the last row.
    """
    trial_id_key = "NOT NULL" if named_trial_keys else "PRIMARY KEY"
    inline_position_key = "" if named_trial_keys else "UNIQUE (session_id, seq),\n    "
    trial_indexes = (
        "CREATE UNIQUE INDEX trials_by_id ON trials(trial_id);\n"
        "CREATE UNIQUE INDEX trials_by_position ON trials(session_id, seq);\n"
        if named_trial_keys
        else ""
    )
    subject_code_check = (
        f"length(code) BETWEEN 1 AND {SUBJECT_CODE_MAX_LENGTH} "
        f"AND code NOT GLOB '*[^{SUBJECT_CODE_CHARACTERS}]*'"
    )
    return f"""
CREATE TABLE subjects (
    subject_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="subject_id")}),
    code TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (
        {subject_code_check}
    ),
    enrolment_index INTEGER NOT NULL CHECK (enrolment_index >= 0),
    created_at TEXT NOT NULL
);

CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="session_id")}),
    subject_id TEXT NOT NULL REFERENCES subjects(subject_id),
    tester TEXT NOT NULL DEFAULT '',
    station TEXT NOT NULL DEFAULT '',
    {_enum("position", Position, one_of)},
    {_enum("order_scheme", OrderScheme, one_of)},
    order_seed INTEGER,
    tests TEXT NOT NULL,
    repetitions INTEGER NOT NULL CHECK (repetitions BETWEEN 1 AND {MAX_REPETITIONS}),
    {_bool("blind")},
    {_bool("record_effort")},
    {_bool("record_discomfort")},
    protocol_version TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    {_enum("status", SessionStatus, one_of)},
    safety_passed INTEGER NOT NULL DEFAULT 0 CHECK (safety_passed IN (0, 1)),
    cleared_by TEXT
);
CREATE INDEX sessions_by_start ON sessions(started_at, session_id);
CREATE INDEX sessions_by_subject ON sessions(subject_id, started_at);
CREATE INDEX sessions_unfinished ON sessions(status, started_at)
    WHERE status = 'in_progress';

CREATE TABLE safety_answers (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    question TEXT NOT NULL CHECK ({one_of("question", SAFETY_KEYS)}),
    {_bool("answer")},
    answered_at TEXT NOT NULL,
    PRIMARY KEY (session_id, question)
);

CREATE TABLE trials (
    trial_id TEXT {trial_id_key} CHECK ({_UUID_CHECK.format(c="trial_id")}),
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    seq INTEGER NOT NULL CHECK (seq >= 1),
    {_enum("test", StressTest, one_of)},
    {_enum("posture", Posture, one_of)},
    rep INTEGER NOT NULL CHECK (rep BETWEEN 1 AND {MAX_REPETITIONS}),
    {_enum("outcome", Outcome, one_of)},
    {_enum("stop_reason", StopReason, one_of, nullable=True)},
{_scale_columns()},
    rated_at TEXT,
    note TEXT,
    {inline_position_key}{_row_checks(TRIAL_RULES)}
);
{trial_indexes}
CREATE TABLE rankings (
    session_id TEXT NOT NULL REFERENCES sessions(session_id),
    {_enum("test", StressTest, one_of)},
    {_enum("role", Role, one_of)},
    {_enum("posture", Posture, one_of)},
    rank INTEGER NOT NULL CHECK (rank BETWEEN 1 AND {len(Posture)}),
    ranked_at TEXT NOT NULL,
    PRIMARY KEY (session_id, test, role, posture),
    UNIQUE (session_id, test, role, rank)
);

CREATE TABLE corrections (
    correction_id TEXT PRIMARY KEY CHECK ({_UUID_CHECK.format(c="correction_id")}),
    trial_id TEXT NOT NULL REFERENCES trials(trial_id),
    field TEXT NOT NULL CHECK ({one_of("field", CORRECTABLE_FIELDS)}),
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


def _statements(script: str) -> list[str]:
    """Each statement of a script, without the comment lines before it."""
    statements = []
    for statement in script.split(";\n"):
        lines = statement.strip().splitlines()
        while lines and lines[0].startswith("--"):
            lines.pop(0)
        if lines:
            statements.append("\n".join(lines))
    return statements


def _end_reason_column() -> str:
    """The column with the sessions' one rule (`SESSION_RULES`) in its CHECK: an end reason
    only when the session is stopped."""
    (rule,) = SESSION_RULES
    assert rule.columns == ("end_reason",) and rule.only and not rule.required
    reasons = _or_chain("end_reason", (r.value for r in EndReason))
    return f"end_reason TEXT CHECK (end_reason IS NULL OR ({reasons} AND {_key_sql(rule)}))"


END_REASON_COLUMN = _end_reason_column()
"""Schema 5's column: why a stopped session ended, when it was not an ordinary stop."""

ADDED_COLUMNS: tuple[tuple[str, str], ...] = (("sessions", END_REASON_COLUMN),)
"""Columns later migrations added with ALTER TABLE ADD COLUMN (no table rebuilt), in order."""


def _with_added_column(script: str, table: str, column: str) -> str:
    """The script with `column` added to `table` as ALTER TABLE ADD COLUMN writes it into the
    stored schema (", column" before the closing parenthesis), so a new file and a migrated
    one hold the same text."""
    start = script.index(f"CREATE TABLE {table} (")
    end = script.index("\n);", start)
    return f"{script[:end]}\n, {column}){script[end + 2 :]}"


@cache
def current_schema() -> str:
    """The schema as the latest migration leaves it (built when first needed, not at start)."""
    script = _schema(_or_chain, named_trial_keys=True)
    for table, column in ADDED_COLUMNS:
        script = _with_added_column(script, table, column)
    return script


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether the file's table has the column: a file of an older schema, read as it is (a
    command that only reads, a merge's source), may lack one a later migration added."""
    return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))


def end_reason_sql(conn: sqlite3.Connection, alias: str = "s") -> str:
    """The sessions' end_reason as SQL: NULL in a file older than schema 5."""
    return f"{alias}.end_reason" if has_column(conn, "sessions", "end_reason") else "NULL"


@cache
def indexes() -> dict[str, str]:
    """Each index's CREATE statement by name, for a bulk load that builds them after the rows."""
    return {
        m.group(1): s
        for s in _statements(current_schema())
        if (m := re.match(r"CREATE (?:UNIQUE )?INDEX (\w+)", s))
    }


Migration = Callable[[sqlite3.Connection], None]


def _create_v1(conn: sqlite3.Connection) -> None:
    for statement in _statements(_schema(_in_list, named_trial_keys=False)):
        conn.execute(statement)


_REBUILT_IN_V3 = ("sessions", "safety_answers", "trials", "rankings", "corrections")


def _cheaper_checks_v3(conn: sqlite3.Connection) -> None:
    """The same rows under the same rules, checked faster: IN lists become OR chains, and a
    trial's keys become named unique indexes. Runs with foreign keys off (SQLite's own recipe
    for changing a table), and checks them before the transaction can commit."""
    conn.execute("DROP VIEW trial_results")
    statements = _statements(_schema(_or_chain, named_trial_keys=True))
    for name in _REBUILT_IN_V3:
        create = next(s for s in statements if s.startswith(f"CREATE TABLE {name} ("))
        conn.execute(create.replace(f"CREATE TABLE {name} (", f"CREATE TABLE {name}_v3 (", 1))
        columns = ", ".join(r[1] for r in conn.execute(f"PRAGMA table_info({name})"))
        conn.execute(  # rowids too: the audit trail's order of same-second corrections
            f"INSERT INTO {name}_v3 (rowid, {columns}) SELECT rowid, {columns} FROM {name}"
        )
        conn.execute(f"DROP TABLE {name}")
        conn.execute(f"ALTER TABLE {name}_v3 RENAME TO {name}")
    for statement in statements:
        if statement.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX", "CREATE VIEW")):
            conn.execute(statement)
    broken = conn.execute("PRAGMA foreign_key_check").fetchone()
    if broken is not None:
        raise sqlite3.IntegrityError(f"a row of {broken[0]} refers to a missing {broken[2]}")


def _add_meta_v2(conn: sqlite3.Connection) -> None:
    """A per-database secret, so de-identified study ids cannot be traced without this file."""
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID")
    conn.execute("INSERT INTO meta VALUES ('study_secret', ?)", (secrets.token_hex(32),))


def note_rule_sql(column: str) -> str:
    """True when `column` breaks the note rule (a NUL is found in the bytes: SQLite's text
    functions stop at one)."""
    controls = ", ".join(str(c) for c in NOTE_CONTROL_CODES if c != 0)
    return (
        f"({column} IS NOT NULL AND (instr(CAST({column} AS BLOB), x'00') > 0 "
        f"OR length({column}) > {NOTE_MAX_LENGTH} "
        f"OR {column} GLOB '*[' || char({controls}) || ']*'))"
    )


@cache
def note_triggers() -> dict[str, str]:
    """The triggers that keep the note rule, by name (a bulk import into an empty table drops
    them with the deferred indexes, checks its rows with the same rule and puts them back)."""
    message = f"note: {NOTE_RULE}"
    return {
        f"trials_note_rule_{name}": (
            f"CREATE TRIGGER trials_note_rule_{name} BEFORE {event} ON trials "
            f"WHEN {note_rule_sql('NEW.note')} "
            f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        )
        for event, name in (("INSERT", "insert"), ("UPDATE OF note", "update"))
    }


def _note_rule_v4(conn: sqlite3.Connection) -> None:
    """The note rule of the domain, kept by the database itself for every new or changed note
    (triggers, so no table has to be rebuilt; notes already stored are left as they are)."""
    for statement in note_triggers().values():
        conn.execute(statement)


def _end_reason_v5(conn: sqlite3.Connection) -> None:
    """Why a stopped session ended (`discarded`: started by mistake), on the sessions table.
    One ALTER TABLE: no table is rebuilt (SQLite checks the new rule against the rows, all
    empty, in one read of the table), and every session stored so far has none."""
    conn.execute(f"ALTER TABLE sessions ADD COLUMN {END_REASON_COLUMN}")


MIGRATIONS: tuple[Migration, ...] = (
    _create_v1,
    _add_meta_v2,
    _cheaper_checks_v3,
    _note_rule_v4,
    _end_reason_v5,
)
"""MIGRATIONS[i] takes a file from schema version i to i + 1. Append only; never edit one."""

SCHEMA_VERSION = len(MIGRATIONS)
