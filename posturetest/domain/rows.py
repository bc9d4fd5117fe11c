"""Interchange rows in pure Python: what the fields say about their values, when a stored value
and an incoming one are the same, what a batch of trial rows says about its sessions, and
stored rows folded into the domain's records. No SQL: the store reads and writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from posturetest.domain.implied import Tallies
from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SAFETY_ANSWER_COLUMNS,
    SAFETY_ANSWER_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    SESSION_LEVEL_TRIAL_COLUMNS,
    SUBJECT,
    SUBJECT_PATTERN,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    UUID_PATTERN,
    Field,
)
from posturetest.domain.protocol import (
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.scales import DISCOMFORT, SCALES, TESTER_EFFORT
from posturetest.domain.session import EndReason, Ranking, Session, Trial

# -- what the fields say about their values ------------------------------------------------------

_PLAIN_PATTERNS = frozenset({UUID_PATTERN, SUBJECT_PATTERN})
"""Patterns whose values never hold a comma, a quote or a line break."""


def is_free_text(f: Field) -> bool:
    """A string that no enum or pattern restricts."""
    return f.type == "string" and f.enum is None and f.pattern is None


def may_need_quoting(f: Field) -> bool:
    """Whether a CSV cell of this field can hold a comma, a quote or a line break: free text, or
    a pattern that lets one in (the comma-separated tests of a session)."""
    return f.type == "string" and f.enum is None and f.pattern not in _PLAIN_PATTERNS


_EVERY_FIELD = (
    TRIAL_FIELDS + SESSION_FIELDS + RANKING_FIELDS + SAFETY_ANSWER_FIELDS + CORRECTION_FIELDS
)

BLANK_IS_MISSING: frozenset[str] = frozenset(
    f.name for f in _EVERY_FIELD if is_free_text(f) and not f.required
)
"""Optional free text: empty and missing are the same value (a CSV writes both as empty)."""


_SUBJECT = SUBJECT.name


def same(a: object, b: object, column: str) -> bool:
    """Whether a stored value and an incoming one of `column` are the same (subject codes in
    any case; optional free text empty or missing)."""
    if column == _SUBJECT and isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if column in BLANK_IS_MISSING:
        return (a or "") == (b or "")
    return a == b


def differing(columns: Sequence[str], old: Sequence[object], new: Sequence[object]) -> list[str]:
    """The columns whose stored and incoming values are not the same (see `same`)."""
    return [c for c, a, b in zip(columns, old, new, strict=True) if not same(a, b, c)]


RANKING_KEY: tuple[str, ...] = RANKING_COLUMNS[:4]
"""What a ranking row is about: one rank per session, test, role and posture."""
SAFETY_ANSWER_KEY: tuple[str, ...] = SAFETY_ANSWER_COLUMNS[:2]
"""What a safety answer is about: one answer per session and question."""


# -- what trial rows say about their sessions ---------------------------------------------------

SESSION_LEVEL: tuple[str, ...] = SESSION_LEVEL_TRIAL_COLUMNS[1:]
"""A session's facts as its trial rows repeat them, after its id."""
STATUS_AT = SESSION_LEVEL.index("session_status")
"""Where a session's status is in its facts."""


def session_column(trial_column: str) -> str:
    """The sessions table's name for a session column of a trial row: a trial row says
    `session_started_at` and `session_status` where the session says `started_at`, `status`."""
    return (
        trial_column if trial_column in SESSION_COLUMNS else trial_column.removeprefix("session_")
    )


if not all(session_column(c) in SESSION_COLUMNS for c in SESSION_LEVEL_TRIAL_COLUMNS):
    raise RuntimeError("a session column of the trial rows has no column in sessions.csv")

TALLIED_COLUMNS: tuple[str, ...] = (
    "session_id",
    "test",
    "seq",
    "rep",
    "outcome",
    TESTER_EFFORT.name,
    DISCOMFORT.name,
    "rated_at",
)
"""The trial columns `Tallies.add` takes, in its order."""


def session_facts(
    columns: Mapping[str, Sequence[object]], known: set[str]
) -> dict[str, tuple[object, ...]]:
    """The sessions whose first row is in this batch (and not in `known`), with their facts
    as that row gives them (`SESSION_LEVEL` order)."""
    session_ids = columns["session_id"]
    last = len(session_ids) - 1
    first_row = dict(zip(reversed(session_ids), range(last, -1, -1), strict=True))
    rows = [i for sid, i in first_row.items() if sid not in known]
    facts = zip(*([columns[c][i] for i in rows] for c in SESSION_LEVEL), strict=True)
    return {str(session_ids[i]): fact for i, fact in zip(rows, facts, strict=True)}


def with_plans(
    facts: dict[str, tuple[object, ...]], tallies: Tallies
) -> dict[str, tuple[object, ...]]:
    """Sessions' facts (`SESSION_LEVEL`) followed by the plans their rows so far imply
    (`PLAN_FIELDS`)."""
    return {sid: (*f, *tallies.plan(sid, str(f[STATUS_AT]))) for sid, f in facts.items()}


def first_met(
    columns: Mapping[str, Sequence[object]], known: set[str], tallies: Tallies
) -> dict[str, tuple[object, ...]]:
    """`session_facts` with their plans."""
    return with_plans(session_facts(columns, known), tallies)


# -- stored rows as the domain's records ---------------------------------------------------------

_TRIAL_AT = {c: i for i, c in enumerate(TRIAL_TABLE_COLUMNS)}
_SESSION_AT = {c: i for i, c in enumerate(SESSION_COLUMNS)}


def trial_from_row(row: Sequence[Any]) -> Trial:
    """A trial from a row of the trials table's columns (`TRIAL_TABLE_COLUMNS` order)."""
    at = _TRIAL_AT
    stop_reason = row[at["stop_reason"]]
    return Trial(
        trial_id=row[at["trial_id"]],
        session_id=row[at["session_id"]],
        seq=row[at["seq"]],
        test=StressTest(row[at["test"]]),
        posture=Posture(row[at["posture"]]),
        rep=row[at["rep"]],
        outcome=Outcome(row[at["outcome"]]),
        stop_reason=StopReason(stop_reason) if stop_reason else None,
        ratings={name: row[at[name]] for name in SCALES},
        rated_at=row[at["rated_at"]],
        note=row[at["note"]],
    )


def session_from_row(row: Sequence[Any]) -> Session:
    """A session from a row of sessions.csv's columns (`SESSION_COLUMNS` order)."""
    at = _SESSION_AT
    end_reason = row[at["end_reason"]]
    return Session(
        session_id=row[at["session_id"]],
        subject=row[at["subject"]],
        tester=row[at["tester"]],
        station=row[at["station"]],
        position=Position(row[at["position"]]),
        order_scheme=OrderScheme(row[at["order_scheme"]]),
        order_seed=row[at["order_seed"]],
        tests=tuple(StressTest(t) for t in row[at["tests"]].split(",")),
        repetitions=row[at["repetitions"]],
        blind=bool(row[at["blind"]]),
        record_effort=bool(row[at["record_effort"]]),
        record_discomfort=bool(row[at["record_discomfort"]]),
        protocol_version=row[at["protocol_version"]],
        started_at=row[at["started_at"]],
        ended_at=row[at["ended_at"]],
        status=SessionStatus(row[at["status"]]),
        safety_passed=bool(row[at["safety_passed"]]),
        end_reason=EndReason(end_reason) if end_reason else None,
    )


def rankings_from_rows(rows: Iterable[Sequence[Any]]) -> list[Ranking]:
    """Each person's ranking per test, from rows of rankings.csv's columns (`RANKING_COLUMNS`
    order) sorted by test, role and rank."""
    test_at, role_at, posture_at = (RANKING_COLUMNS.index(c) for c in ("test", "role", "posture"))
    orders: dict[tuple[str, str], list[Posture]] = {}
    for row in rows:
        orders.setdefault((row[test_at], row[role_at]), []).append(Posture(row[posture_at]))
    return [
        Ranking(StressTest(test), Role(role), tuple(order))
        for (test, role), order in orders.items()
    ]


def safety_answers_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, bool]:
    """Each safety question's answer, from rows of safety_answers.csv's columns."""
    question_at = SAFETY_ANSWER_COLUMNS.index("question")
    answer_at = SAFETY_ANSWER_COLUMNS.index("answer")
    return {row[question_at]: bool(row[answer_at]) for row in rows}
