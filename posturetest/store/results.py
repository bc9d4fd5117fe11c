"""SQL for results: the aggregates that statistics, charts and reports are computed from.

Everything is aggregated inside SQLite, so 100,000 sessions (600,000 trials) come back as a few
thousand rows, never as one Python object per trial. Only trials with outcome `rated` count: a
stopped or skipped trial has no ratings, and a pending one may have only half of them.

Grouping keys are packed into one integer where that matters: SQLite's GROUP BY sorts every row,
and integers sort about twice as fast as text. The existing indexes serve every filter (sessions
by start, by subject, by id; trials by session), so this module adds none.
"""

from __future__ import annotations

from collections.abc import Iterator

from posturetest.domain import (
    REQUIRED_SCALES,
    Outcome,
    Posture,
    Role,
    Scale,
    SessionStatus,
    StressTest,
)
from posturetest.domain.plan import MAX_REPETITIONS
from posturetest.store.selection import Selection
from posturetest.store.store import Store

RATED_SCALES: tuple[Scale, ...] = tuple(
    sorted(REQUIRED_SCALES, key=lambda s: s.role is not Role.SUBJECT)
)
"""The two scales every rated trial has, the subject's first: the order results show them."""
RATINGS: tuple[str, ...] = tuple(s.name for s in RATED_SCALES)

TESTS: tuple[str, ...] = tuple(sorted(t.value for t in StressTest))
"""Alphabetical (anterior, vertical), the order of every row this module returns."""
POSTURES: tuple[str, ...] = tuple(sorted(p.value for p in Posture))
"""Alphabetical (ligament, muscle, skeleton), the order of every row this module returns."""

_FIRST, _SECOND = RATINGS
_LEVELS = len(RATED_SCALES[0].values)
_LOWEST = RATED_SCALES[0].minimum
_POSITIONS = MAX_REPETITIONS * len(Posture)
"""Trials of one test in one session at most: every repetition takes each posture once."""

if any(s.values != RATED_SCALES[0].values for s in RATED_SCALES):
    raise RuntimeError("rating_grid packs both ratings with one range; give them one again")


def _code(column: str, values: tuple[str, ...]) -> str:
    """An enum column as its index in `values`: the small integer a packed key is built from."""
    cases = " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values))
    return f"(CASE {column} {cases} END)"


def _name(expression: str, values: tuple[str, ...]) -> str:
    """The inverse of `_code`: an index back to the enum value."""
    cases = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE {expression} {cases} END)"


def _rating(rating: str) -> str:
    if rating not in RATINGS:
        raise ValueError(f"unknown rating {rating!r}; one of {', '.join(RATINGS)}")
    return rating


_RATED = f"t.outcome = '{Outcome.RATED.value}'"


def _rated_trials(selection: Selection, *, with_subject: bool) -> tuple[str, list[object]]:
    """FROM and WHERE for the rated trials of the selected sessions.

    Where the subject is not needed, the trials table is scanned alone, in storage order: four
    times faster than walking it session by session. That holds for everything, and for
    complete sessions only (the few other sessions are set aside first). Otherwise sessions
    come before their trials (CROSS JOIN fixes that order): without statistics the planner
    would scan every trial and look its session up, which is slower whatever the filter.
    """
    where, params = selection.where("s.started_at", "s.status", "s.session_id", "sub.code")
    rated = _RATED
    if not with_subject and not where:
        return f"FROM trials t WHERE {rated}", []
    if not with_subject and selection == Selection(complete_only=True):
        unfinished = (
            f"SELECT session_id FROM sessions WHERE status != '{SessionStatus.COMPLETE.value}' "
            "AND session_id NOT NULL"
        )
        return f"FROM trials t WHERE {rated} AND t.session_id NOT IN ({unfinished})", []
    joined = (
        "FROM sessions s CROSS JOIN trials t ON t.session_id = s.session_id "
        "JOIN subjects sub ON sub.subject_id = s.subject_id"
    )
    return f"{joined}{where} AND {rated}" if where else f"{joined} WHERE {rated}", params


_TEST = _code("t.test", TESTS)
_POSTURE = _code("t.posture", POSTURES)
_SUBJECT_KEY = f"(sub.rowid * {len(TESTS)} + {_TEST}) * {len(POSTURES)} + {_POSTURE}"
"""One integer per subject, test and posture: subject first, then test, then posture."""


def subject_posture_means(
    store: Store, selection: Selection, rating: str
) -> list[tuple[str, str, str, float, int]]:
    """(test, subject, posture, mean rating, rated trials): the unit of the comparisons.

    One row per test, subject and posture with at least one rated trial in the selected
    sessions, ordered by test, subject, posture. A subject seen in several sessions or
    repetitions gets the mean over all of them.
    """
    column = _rating(rating)
    source, params = _rated_trials(selection, with_subject=True)
    per_posture = len(POSTURES)
    per_subject = len(TESTS) * per_posture
    sql = f"""
        SELECT {_name(f"g.k / {per_posture} % {len(TESTS)}", TESTS)} AS test, sub.code,
            {_name(f"g.k % {per_posture}", POSTURES)} AS posture, g.mean, g.n
        FROM (SELECT {_SUBJECT_KEY} AS k, avg(t.{column}) AS mean, count(*) AS n
            {source} GROUP BY k) g
        JOIN subjects sub ON sub.rowid = g.k / {per_subject}
        ORDER BY test, sub.code, posture"""
    return [(r[0], r[1], r[2], float(r[3]), int(r[4])) for r in store._rows(sql, params)]


def subject_posture_table(
    store: Store, selection: Selection
) -> Iterator[list[tuple[str, int, tuple[float | None, ...]]]]:
    """The comparisons' data in one pass, in batches: one row per subject and test.

    Each row is (test, complete, values): `values` holds the subject's mean subject_ease for
    ligament, muscle, skeleton, then their mean tester_stability in the same posture order,
    None where the subject has no rated trial of that posture; `complete` is 1 when no value
    is None. Both ratings come from the same rated trials, so they are missing together.

    The same numbers as `subject_posture_means` for both ratings, but read once and streamed:
    the statistics turn each batch into arrays, so a large study never sits in Python objects.
    Rows are ordered by subject (in order of enrolment in this file), then test.
    """
    source, params = _rated_trials(selection, with_subject=True)
    per_posture = len(POSTURES)
    columns = ", ".join(
        f"max(CASE g.k % {per_posture} WHEN {i} THEN g.{rating} END)"
        for rating in RATINGS
        for i in range(per_posture)
    )
    means = ", ".join(f"avg(t.{rating}) AS {rating}" for rating in RATINGS)
    sql = f"""
        SELECT {_name(f"g.k / {per_posture} % {len(TESTS)}", TESTS)},
            count(*) = {per_posture}, {columns}
        FROM (SELECT {_SUBJECT_KEY} AS k, {means} {source} GROUP BY k) g
        GROUP BY g.k / {per_posture}
        ORDER BY g.k / {per_posture}"""
    for batch in store.batches(sql, params):
        yield [(r[0], int(r[1]), tuple(r[2:])) for r in batch]


def best_posture_agreement(store: Store, selection: Selection) -> list[tuple[str, int, int]]:
    """(test, sessions where both ranked, sessions where both ranked the same posture first).

    One row per test that has at least one session with both rankings, ordered by test.
    """
    where, params = selection.where("s.started_at", "s.status", "s.session_id", "sub.code")
    source = "FROM rankings ks"
    if where:
        source = (
            "FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id "
            "CROSS JOIN rankings ks ON ks.session_id = s.session_id"
        )
    sql = f"""
        SELECT ks.test, count(*), sum(ks.posture = kt.posture)
        {source}
        CROSS JOIN rankings kt ON kt.session_id = ks.session_id AND kt.test = ks.test
            AND kt.role = '{Role.TESTER.value}' AND kt.rank = 1
        {where}{" AND" if where else " WHERE"} ks.role = '{Role.SUBJECT.value}' AND ks.rank = 1
        GROUP BY ks.test
        ORDER BY ks.test"""
    return [(r[0], int(r[1]), int(r[2])) for r in store._rows(sql, params)]


_POSITION = f"(t.rep - 1) * {len(POSTURES)} + (t.seq - 1) % {len(POSTURES)}"
"""0-based position of a trial among its test's trials in the session, from seq arithmetic.

A session plan runs each test as one block, each repetition within it as one run of the three
postures (`posturetest.domain.plan_session`), so blocks start at a multiple of three and the
posture's place in its run is (seq - 1) % 3. No window function: no sort of every trial.
"""

_CELLS = _LEVELS * _LEVELS
_FINE_KEY = (
    f"(({_TEST} * {len(POSTURES)} + {_POSTURE}) * {_POSITIONS} + {_POSITION}) * {_CELLS}"
    f" + (t.{_FIRST} - {_LOWEST}) * {_LEVELS} + (t.{_SECOND} - {_LOWEST})"
)
"""One integer per test, posture, position and both ratings (`RATINGS` order), in that order."""

_FINE = {
    "test": _name(f"g.k / {len(POSTURES) * _POSITIONS * _CELLS}", TESTS),
    "posture": _name(f"g.k / {_POSITIONS * _CELLS} % {len(POSTURES)}", POSTURES),
    "position": f"(g.k / {_CELLS} % {_POSITIONS} + 1)",
    _FIRST: f"(g.k / {_LEVELS} % {_LEVELS} + {_LOWEST})",
    _SECOND: f"(g.k % {_LEVELS} + {_LOWEST})",
}
"""Each part of a fine key `g.k`, decoded."""


def _fine_grid(selection: Selection) -> tuple[str, list[object]]:
    """WITH g (k, n): rated trials counted by test, posture, position and both ratings.

    At most 2 x 3 x 9 x 11 x 11 rows, whatever the number of trials: the grid, the order effect
    and the agreement are all exact sums over it.
    """
    source, params = _rated_trials(selection, with_subject=False)
    sql = f"WITH g AS MATERIALIZED (SELECT {_FINE_KEY} AS k, count(*) AS n {source} GROUP BY k)"
    return sql, params


def rating_position_grid(
    store: Store, selection: Selection
) -> list[tuple[str, str, int, int, int, int]]:
    """(test, posture, position, subject_ease, tester_stability, trials): the rated trials
    counted by every property the agreement and order statistics need, read in one pass.

    `position` is as in `order_effect`. Ordered by test, posture, position, ratings.
    """
    grid, params = _fine_grid(selection)
    columns = ", ".join(_FINE.values())
    sql = f"{grid} SELECT {columns}, g.n FROM g ORDER BY g.k"
    return [
        (r[0], r[1], int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in store._rows(sql, params)
    ]


def rating_grid(store: Store, selection: Selection) -> list[tuple[str, str, int, int, int]]:
    """(test, posture, subject_ease, tester_stability, trials): how often each pair occurred.

    At most 2 x 3 x 11 x 11 rows, from which the agreement between subject and tester is
    computed exactly (and drawn) without reading a trial. Ordered by test, posture, ratings.
    """
    grid, params = _fine_grid(selection)
    f = _FINE
    sql = f"""{grid}
        SELECT {f["test"]} AS test, {f["posture"]} AS posture,
            {f[_FIRST]} AS ease, {f[_SECOND]} AS stability, sum(g.n)
        FROM g
        GROUP BY test, posture, ease, stability
        ORDER BY test, posture, ease, stability"""
    return [(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in store._rows(sql, params)]


def order_effect(store: Store, selection: Selection) -> list[tuple[str, str, int, float, int]]:
    """(test, rating, position, mean rating, rated trials): ratings by place in the sequence.

    `position` is the trial's 1-based position among that test's trials within its session
    (1-3 with one repetition, up to 9 with three), counting trials that were stopped or
    skipped, as they held their place. Ordered by test, rating, position.
    """
    grid, params = _fine_grid(selection)
    f = _FINE
    parts = " UNION ALL ".join(
        f"SELECT {f['test']} AS test, '{rating}' AS rating, {f['position']} AS position, "
        f"{f[rating]} * g.n AS total, g.n AS n FROM g"
        for rating in RATINGS
    )
    sql = f"""{grid}
        SELECT test, rating, position, CAST(sum(total) AS REAL) / sum(n), sum(n)
        FROM ({parts})
        GROUP BY test, rating, position
        ORDER BY test, rating, position"""
    return [(r[0], r[1], int(r[2]), float(r[3]), int(r[4])) for r in store._rows(sql, params)]


_PER_POSTURE_MEANS = ", ".join(
    [*(f"avg(CASE WHEN {_RATED} THEN t.{rating} END)" for rating in RATINGS), f"sum({_RATED})"]
)


def subject_history(
    store: Store, subject: str
) -> list[tuple[str, str, str, str, float | None, float | None, int]]:
    """(session_id, session_started_at, test, posture, mean subject_ease, mean
    tester_stability, rated trials) for every session of one subject, oldest first.

    The code matches in any case. A test and posture whose trials were all stopped or skipped
    still has its row, with None means and 0 rated, so a gap in the history shows as a gap.
    """
    sql = f"""
        SELECT s.session_id, s.started_at, t.test, t.posture, {_PER_POSTURE_MEANS}
        FROM subjects sub
        JOIN sessions s ON s.subject_id = sub.subject_id
        JOIN trials t ON t.session_id = s.session_id
        WHERE sub.code = ?
        GROUP BY s.started_at, s.session_id, t.test, t.posture
        ORDER BY s.started_at, s.session_id, t.test, t.posture"""
    return [
        (r[0], r[1], r[2], r[3], _float(r[4]), _float(r[5]), int(r[6]))
        for r in store._rows(sql, (subject,))
    ]


def session_posture_means(
    store: Store, session_id: str
) -> list[tuple[str, str, float | None, float | None, int]]:
    """(test, posture, mean subject_ease, mean tester_stability, rated trials) of one session.

    One row per test and posture planned in the session, ordered by test, posture; None means
    and 0 rated where no trial of it was rated. No rows for an unknown session.
    """
    sql = f"""
        SELECT t.test, t.posture, {_PER_POSTURE_MEANS}
        FROM trials t
        WHERE t.session_id = ?
        GROUP BY t.test, t.posture
        ORDER BY t.test, t.posture"""
    return [
        (r[0], r[1], _float(r[2]), _float(r[3]), int(r[4])) for r in store._rows(sql, (session_id,))
    ]


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


__all__ = [
    "POSTURES",
    "RATINGS",
    "TESTS",
    "best_posture_agreement",
    "order_effect",
    "rating_grid",
    "rating_position_grid",
    "session_posture_means",
    "subject_history",
    "subject_posture_means",
    "subject_posture_table",
]
