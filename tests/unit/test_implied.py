"""Unit tests of `posturetest.domain.implied`: the plan and end a session's trial rows imply.

`Tallies` takes trial rows a batch of columns at a time; `plan` must give the same answer
however a session's rows were ordered within a batch or spread over batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from posturetest.domain import Outcome, SessionStatus, StressTest
from posturetest.domain.implied import PLAN_FIELDS, Tallies
from posturetest.store import Store

S1 = "11111111-1111-4111-8111-111111111111"
S2 = "22222222-2222-4222-8222-222222222222"
S3 = "33333333-3333-4333-8333-333333333333"
V = StressTest.VERTICAL.value
A = StressTest.ANTERIOR.value
RATED = Outcome.RATED.value
PENDING = Outcome.PENDING.value
STOPPED_TRIAL = Outcome.STOPPED.value
SKIPPED = Outcome.SKIPPED.value
IN_PROGRESS = SessionStatus.IN_PROGRESS.value
COMPLETE = SessionStatus.COMPLETE.value
STOPPED = SessionStatus.STOPPED.value


class Row(NamedTuple):
    """One trial row, in the order of `Tallies.add`'s columns."""

    session_id: str
    test: str
    seq: int
    rep: int
    outcome: str = RATED
    effort: int | None = None
    discomfort: int | None = None
    rated_at: str | None = None


def tallied(*batches: Sequence[Row]) -> Tallies:
    """A `Tallies` fed each batch in turn, as columns."""
    tallies = Tallies()
    for batch in batches:
        columns: list[list[object]] = [[] for _ in Row._fields]
        for row in batch:
            for column, value in zip(columns, row, strict=True):
                column.append(value)
        tallies.add(*columns)
    return tallies


def planned(tallies: Tallies, session_id: str, status: str = COMPLETE) -> dict[str, object]:
    """`plan` by field name (and exactly one value per field of `PLAN_FIELDS`)."""
    return dict(zip(PLAN_FIELDS, tallies.plan(session_id, status), strict=True))


def at(minute: int) -> str:
    return f"2026-11-24T09:{minute:02d}:00Z"


# -- tests: which, in which order --------------------------------------------------------------


def test_plan_fields_are_the_sessions_columns_it_fills() -> None:
    with Store(":memory:") as store:
        columns = [r[1] for r in store.conn.execute("PRAGMA table_info(sessions)")]
    assert set(PLAN_FIELDS) <= set(columns)
    assert len(set(PLAN_FIELDS)) == len(PLAN_FIELDS) == 6


@pytest.mark.parametrize("test", [V, A])
def test_a_single_test_is_named_alone(test: str) -> None:
    tallies = tallied([Row(S1, test, 2, 1), Row(S1, test, 1, 1), Row(S1, test, 3, 1)])
    assert planned(tallies, S1)["tests"] == test


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([Row(S1, V, 1, 1), Row(S1, A, 4, 1), Row(S1, V, 2, 1)], "vertical,anterior"),
        ([Row(S1, A, 1, 1), Row(S1, V, 4, 1), Row(S1, A, 2, 1)], "anterior,vertical"),
        # listed out of order: the lowest seq decides, not the first row seen
        ([Row(S1, V, 5, 1), Row(S1, A, 3, 1), Row(S1, V, 1, 1)], "vertical,anterior"),
        (
            [Row(S1, V, 2, 1), Row(S1, V, 6, 1), Row(S1, A, 4, 1), Row(S1, A, 1, 1)],
            "anterior,vertical",
        ),
        (
            [Row(S1, A, 6, 2), Row(S1, V, 5, 2), Row(S1, A, 4, 1), Row(S1, V, 3, 1)],
            "vertical,anterior",
        ),
    ],
)
def test_tests_are_in_the_order_of_their_first_seq_within_a_batch(
    rows: list[Row], expected: str
) -> None:
    assert planned(tallied(rows), S1)["tests"] == expected


@pytest.mark.parametrize(
    ("batches", "expected"),
    [
        # the later batch holds the lower seq of both tests
        (
            [[Row(S1, V, 4, 1), Row(S1, A, 3, 1)], [Row(S1, A, 2, 1), Row(S1, V, 1, 1)]],
            "vertical,anterior",
        ),
        (
            [[Row(S1, V, 4, 1), Row(S1, A, 3, 1)], [Row(S1, V, 2, 1), Row(S1, A, 1, 1)]],
            "anterior,vertical",
        ),
        # each test only in one batch, the later batch first in the plan
        (
            [[Row(S1, V, 3, 1), Row(S1, V, 4, 1)], [Row(S1, A, 2, 1), Row(S1, A, 1, 1)]],
            "anterior,vertical",
        ),
        # a later batch with higher seqs changes nothing
        (
            [[Row(S1, A, 2, 1), Row(S1, V, 1, 1)], [Row(S1, V, 3, 1), Row(S1, A, 4, 1)]],
            "vertical,anterior",
        ),
        # three batches, the lowest seq of anterior in the middle one
        (
            [[Row(S1, V, 5, 1)], [Row(S1, A, 1, 1)], [Row(S1, V, 2, 1), Row(S1, A, 6, 1)]],
            "anterior,vertical",
        ),
        (
            [[Row(S1, A, 5, 1)], [Row(S1, V, 3, 1)], [Row(S1, A, 4, 1)], [Row(S1, V, 6, 1)]],
            "vertical,anterior",
        ),
    ],
)
def test_tests_are_in_the_order_of_their_first_seq_across_batches(
    batches: list[list[Row]], expected: str
) -> None:
    assert planned(tallied(*batches), S1)["tests"] == expected


def test_one_test_split_over_batches_is_still_named_once() -> None:
    tallies = tallied([Row(S1, A, 3, 2)], [Row(S1, A, 1, 1)], [Row(S1, A, 2, 1)])
    assert planned(tallies, S1)["tests"] == "anterior"


# -- repetitions ------------------------------------------------------------------------------


def test_repetitions_are_the_highest_rep_within_a_batch() -> None:
    rows = [Row(S1, V, 1, 1), Row(S1, V, 4, 3), Row(S1, V, 2, 2), Row(S1, V, 3, 1)]
    assert planned(tallied(rows), S1)["repetitions"] == 3


@pytest.mark.parametrize(
    "batches",
    [
        [[Row(S1, V, 1, 1)], [Row(S1, V, 2, 4)], [Row(S1, V, 3, 2)]],
        [[Row(S1, V, 2, 4)], [Row(S1, V, 1, 1)], [Row(S1, V, 3, 2)]],
        [[Row(S1, V, 3, 2)], [Row(S1, V, 1, 1)], [Row(S1, V, 2, 4)]],
    ],
)
def test_repetitions_are_the_highest_rep_across_batches(batches: list[list[Row]]) -> None:
    assert planned(tallied(*batches), S1)["repetitions"] == 4


# -- optional scales --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batches", "effort", "discomfort"),
    [
        ([[Row(S1, V, 1, 1), Row(S1, V, 2, 1)]], 0, 0),
        ([[Row(S1, V, 1, 1, effort=5), Row(S1, V, 2, 1)]], 1, 0),
        ([[Row(S1, V, 1, 1), Row(S1, V, 2, 1, discomfort=3)]], 0, 1),
        ([[Row(S1, V, 1, 1, effort=7, discomfort=2)]], 1, 1),
        # zero is a value: only None means "not recorded"
        ([[Row(S1, V, 1, 1, effort=0, discomfort=0)]], 1, 1),
        # found in a later batch
        ([[Row(S1, V, 1, 1)], [Row(S1, V, 2, 1, discomfort=4)]], 0, 1),
        ([[Row(S1, V, 1, 1, effort=2)], [Row(S1, V, 2, 1)]], 1, 0),
    ],
)
def test_effort_and_discomfort_are_recorded_when_any_row_has_them(
    batches: list[list[Row]], effort: int, discomfort: int
) -> None:
    plan = planned(tallied(*batches), S1)
    assert (plan["record_effort"], plan["record_discomfort"]) == (effort, discomfort)


# -- the end ----------------------------------------------------------------------------------


def test_ended_at_is_the_latest_rated_at_within_a_batch() -> None:
    rows = [
        Row(S1, V, 1, 1, rated_at=at(20)),
        Row(S1, V, 2, 1, rated_at=at(45)),
        Row(S1, V, 3, 1, rated_at=None),
        Row(S1, V, 4, 1, rated_at=at(30)),
    ]
    assert planned(tallied(rows), S1)["ended_at"] == at(45)


@pytest.mark.parametrize(
    "batches",
    [
        [[Row(S1, V, 1, 1, rated_at=at(50))], [Row(S1, V, 2, 1, rated_at=at(10))]],
        [[Row(S1, V, 2, 1, rated_at=at(10))], [Row(S1, V, 1, 1, rated_at=at(50))]],
        [[Row(S1, V, 1, 1, rated_at=at(50))], [Row(S1, V, 2, 1, rated_at=None)]],
        [
            [Row(S1, V, 3, 1, rated_at=None)],
            [Row(S1, V, 1, 1, rated_at=at(50)), Row(S1, V, 4, 1, rated_at=None)],
            [Row(S1, V, 2, 1, rated_at=at(49))],
        ],
    ],
)
def test_ended_at_is_the_latest_rated_at_across_batches(batches: list[list[Row]]) -> None:
    assert planned(tallied(*batches), S1)["ended_at"] == at(50)


@pytest.mark.parametrize("status", [COMPLETE, STOPPED])
def test_an_ended_session_without_any_rated_at_has_no_end(status: str) -> None:
    tallies = tallied([Row(S1, V, 1, 1, SKIPPED)], [Row(S1, V, 2, 1, SKIPPED)])
    assert planned(tallies, S1, status)["ended_at"] is None


def test_a_session_in_progress_has_not_ended() -> None:
    tallies = tallied([Row(S1, V, 1, 1, rated_at=at(20))], [Row(S1, V, 2, 1, PENDING)])
    assert planned(tallies, S1, IN_PROGRESS)["ended_at"] is None
    # the same rows of an ended session do give an end
    assert planned(tallies, S1, COMPLETE)["ended_at"] == at(20)


# -- the safety check -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "outcomes", "passed"),
    [
        # stopped before any trial was done: it ended at the safety check
        (STOPPED, [PENDING], 0),
        (STOPPED, [SKIPPED, SKIPPED], 0),
        (STOPPED, [PENDING, SKIPPED], 0),
        (STOPPED, [SKIPPED, RATED, SKIPPED], 1),
        (STOPPED, [STOPPED_TRIAL, SKIPPED], 1),
        (COMPLETE, [RATED, RATED], 1),
        (COMPLETE, [SKIPPED], 1),
        (IN_PROGRESS, [PENDING, PENDING], 1),
    ],
)
def test_safety_passed(status: str, outcomes: list[str], passed: int) -> None:
    rows = [Row(S1, V, seq, 1, outcome) for seq, outcome in enumerate(outcomes, start=1)]
    assert planned(tallied(rows), S1, status)["safety_passed"] == passed


def test_a_done_trial_in_any_batch_passes_the_safety_check() -> None:
    tallies = tallied(
        [Row(S1, V, 1, 1, SKIPPED)], [Row(S1, V, 2, 1, RATED)], [Row(S1, V, 3, 1, SKIPPED)]
    )
    assert planned(tallies, S1, STOPPED)["safety_passed"] == 1


# -- several sessions -------------------------------------------------------------------------


def test_sessions_interleaved_in_one_batch_do_not_mix() -> None:
    rows = [
        Row(S1, V, 1, 1, RATED, effort=4, rated_at=at(10)),
        Row(S2, A, 1, 1, SKIPPED),
        Row(S3, A, 2, 1, RATED, discomfort=1, rated_at=at(59)),
        Row(S1, A, 2, 3, RATED, effort=5, rated_at=at(12)),
        Row(S2, V, 2, 1, SKIPPED),
        Row(S3, V, 1, 2, PENDING),
        Row(S2, A, 3, 2, PENDING),
    ]
    tallies = tallied(rows)
    assert planned(tallies, S1, COMPLETE) == {
        "tests": "vertical,anterior",
        "repetitions": 3,
        "record_effort": 1,
        "record_discomfort": 0,
        "ended_at": at(12),
        "safety_passed": 1,
    }
    assert planned(tallies, S2, STOPPED) == {
        "tests": "anterior,vertical",
        "repetitions": 2,
        "record_effort": 0,
        "record_discomfort": 0,
        "ended_at": None,
        "safety_passed": 0,
    }
    assert planned(tallies, S3, STOPPED) == {
        "tests": "vertical,anterior",
        "repetitions": 2,
        "record_effort": 0,
        "record_discomfort": 1,
        "ended_at": at(59),
        "safety_passed": 1,
    }


def test_sessions_interleaved_across_batches_do_not_mix() -> None:
    tallies = tallied(
        [Row(S1, A, 3, 1, RATED, rated_at=at(30)), Row(S2, V, 1, 2, SKIPPED)],
        [Row(S2, A, 2, 1, SKIPPED, discomfort=None), Row(S1, V, 1, 1, RATED, rated_at=at(5))],
        [Row(S2, V, 3, 1, SKIPPED), Row(S1, V, 2, 4, PENDING, effort=1)],
    )
    assert planned(tallies, S1, IN_PROGRESS) == {
        "tests": "vertical,anterior",
        "repetitions": 4,
        "record_effort": 1,
        "record_discomfort": 0,
        "ended_at": None,
        "safety_passed": 1,
    }
    assert planned(tallies, S2, STOPPED) == {
        "tests": "vertical,anterior",
        "repetitions": 2,
        "record_effort": 0,
        "record_discomfort": 0,
        "ended_at": None,
        "safety_passed": 0,
    }


def test_an_empty_batch_changes_nothing() -> None:
    rows = [Row(S1, A, 1, 2, RATED, effort=3, rated_at=at(1)), Row(S1, V, 2, 1, STOPPED_TRIAL)]
    expected = planned(tallied(rows), S1, STOPPED)
    assert planned(tallied([], rows, []), S1, STOPPED) == expected


# -- any rows, any batches --------------------------------------------------------------------


def reference_plan(rows: Iterable[Row], status: str) -> dict[str, object]:
    """The plan worked out plainly, from all of a session's rows at once."""
    rows = list(rows)
    first_seq: dict[str, int] = {}
    for row in rows:
        if row.test not in first_seq or row.seq < first_seq[row.test]:
            first_seq[row.test] = row.seq
    rated_ats = [row.rated_at for row in rows if row.rated_at is not None]
    done = any(row.outcome in (RATED, STOPPED_TRIAL) for row in rows)
    return {
        "tests": ",".join(sorted(first_seq, key=lambda test: first_seq[test])),
        "repetitions": max(row.rep for row in rows),
        "record_effort": 1 if any(row.effort is not None for row in rows) else 0,
        "record_discomfort": 1 if any(row.discomfort is not None for row in rows) else 0,
        "ended_at": None if status == IN_PROGRESS or not rated_ats else max(rated_ats),
        "safety_passed": 0 if status == STOPPED and not done else 1,
    }


TIMES = st.integers(min_value=0, max_value=3 * 24 * 60 - 1).map(
    lambda m: f"2026-11-{24 + m // 1440}T{m // 60 % 24:02d}:{m % 60:02d}:00Z"
)


@st.composite
def session_rows(draw: st.DrawFn, session_id: str) -> list[Row]:
    """A session's rows: distinct seqs (as in a real session), anything else at random."""
    seqs = draw(st.lists(st.integers(1, 40), min_size=1, max_size=8, unique=True))
    return [
        Row(
            session_id,
            draw(st.sampled_from([V, A])),
            seq,
            draw(st.integers(1, 5)),
            draw(st.sampled_from([o.value for o in Outcome])),
            draw(st.none() | st.integers(0, 10)),
            draw(st.none() | st.integers(0, 10)),
            draw(st.none() | TIMES),
        )
        for seq in seqs
    ]


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_batches_give_the_plan_of_all_rows_at_once(data: st.DataObject) -> None:
    sessions = data.draw(st.lists(st.sampled_from([S1, S2, S3]), min_size=1, unique=True))
    statuses = {s: data.draw(st.sampled_from([s.value for s in SessionStatus])) for s in sessions}
    rows = [row for s in sessions for row in data.draw(session_rows(s))]
    shuffled = data.draw(st.permutations(rows))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(shuffled)), max_size=5)))
    bounds = [0, *cuts, len(shuffled)]
    batches = [shuffled[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]

    tallies = tallied(*batches)

    for s in sessions:
        expected = reference_plan((r for r in rows if r.session_id == s), statuses[s])
        assert planned(tallies, s, statuses[s]) == expected
