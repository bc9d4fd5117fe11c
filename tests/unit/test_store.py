"""Unit tests of the SQLite store: opening and refusing files, the schema, and every write."""

from __future__ import annotations

import os
import random
import re
import sqlite3
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import posturetest.store.opening as opening
import posturetest.store.schema as schema
from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Posture,
    Ranking,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
    SummaryStep,
    next_step,
    plan_session,
)
from posturetest.store import (
    INTERCHANGE_COLUMNS,
    SCHEMA_VERSION,
    RecordError,
    Store,
    StoreError,
    open_store,
)

BOTH = (StressTest.VERTICAL, StressTest.ANTERIOR)
L, M, S = Posture.LIGAMENT, Posture.MUSCLE, Posture.SKELETON
V, A = StressTest.VERTICAL, StressTest.ANTERIOR
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
ALL_NO = {k: False for k in SAFETY_KEYS}


# -- fixtures and helpers ---------------------------------------------------------------------


@pytest.fixture
def fresh_store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "t.db"


@pytest.fixture
def file_store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def query(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the file through an independent connection (not the store's)."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def dump(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refused write changed nothing."""
    tables = ["subjects", "sessions", "safety_answers", "trials", "rankings", "corrections"]
    return {
        t: sorted(store.conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables
    }


def start(store: Store, subject: str = "S-001", **setup: Any) -> str:
    """A session past the safety screen."""
    session = store.create_session(SessionSetup(subject=subject, **setup))
    assert store.record_safety(session.session_id, ALL_NO) is True
    return session.session_id


def rate_fully(store: Store, trial_id: str, value: int = 5) -> None:
    trial = store.trial(trial_id)
    for scale in store.session(trial.session_id).scales:
        store.record_rating(trial_id, scale.name, value)


def snapshot(path: Path) -> tuple[bytes, int]:
    return path.read_bytes(), os.stat(path).st_mtime_ns


# -- a new file -------------------------------------------------------------------------------


def test_new_file_is_owner_only(db_path: Path) -> None:
    old = os.umask(0)  # even with a permissive umask the file must not be world-readable
    try:
        store = Store(db_path)
        store.create_session(SessionSetup(subject="S-1"))
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
        for sidecar in (Path(f"{db_path}-wal"), Path(f"{db_path}-shm")):
            if sidecar.exists():
                assert stat.S_IMODE(os.stat(sidecar).st_mode) == 0o600
    finally:
        store.close()


def test_file_db_uses_wal_foreign_keys_and_a_busy_timeout(file_store: Store, db_path: Path) -> None:
    conn = file_store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: durable commits
    # WAL is a property of the file: an independent connection sees it too
    assert query(db_path, "PRAGMA journal_mode")[0][0].lower() == "wal"


def test_foreign_keys_are_enforced(fresh_store: Store) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        fresh_store.conn.execute(
            "INSERT INTO trials (trial_id, session_id, seq, test, posture, rep, outcome) "
            "VALUES (?, ?, 1, 'vertical', 'muscle', 1, 'pending')",
            ("1" * 36, "no-such-session-000000000000000000000"[:36]),
        )
    fresh_store.conn.rollback()
    assert fresh_store.count("trials") == 0


def test_schema_version_is_stored(file_store: Store, db_path: Path) -> None:
    assert SCHEMA_VERSION >= 1
    assert query(db_path, "PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert query(db_path, "PRAGMA application_id")[0][0] == schema.APPLICATION_ID != 0


def test_reopening_keeps_the_data(db_path: Path) -> None:
    with Store(db_path) as store:
        sid = start(store)
        rate_fully(store, store.trials(sid)[0].trial_id, 6)
    with Store(db_path) as again:
        assert again.session(sid).safety_passed is True
        assert again.trials(sid)[0].outcome is Outcome.RATED
        assert again.trials(sid)[0].rating("subject_ease") == 6


def test_two_stores_on_one_file_take_turns(db_path: Path) -> None:
    with Store(db_path) as one, Store(db_path) as two:
        sid = start(one)
        trials = two.trials(sid)
        two.record_rating(trials[0].trial_id, "tester_stability", 4)
        one.record_rating(trials[0].trial_id, "subject_ease", 5)
        assert two.trial(trials[0].trial_id).ratings["subject_ease"] == 5


# -- sessions and plans -----------------------------------------------------------------------


def test_create_session_stores_pending_trials_following_the_plan(fresh_store: Store) -> None:
    for index, code in enumerate(["S-1", "S-2", "S-3"]):
        session = fresh_store.create_session(
            SessionSetup(subject=code, tests=BOTH, repetitions=2, scheme=OrderScheme.BALANCED)
        )
        plan = plan_session(
            tests=BOTH, repetitions=2, scheme=OrderScheme.BALANCED, enrolment_index=index
        )
        trials = fresh_store.trials(session.session_id)
        assert [(t.seq, t.test, t.posture, t.rep) for t in trials] == [
            (p.seq, p.test, p.posture, p.rep) for p in plan
        ]
        assert {t.outcome for t in trials} == {Outcome.PENDING}
        assert all(v is None for t in trials for v in t.ratings.values())
        assert session.status is SessionStatus.IN_PROGRESS
        assert session.safety_passed is False
        assert session.order_seed is None
    rows = fresh_store.conn.execute(
        "SELECT count(*), count(DISTINCT trial_id), count(DISTINCT session_id) FROM trials"
    ).fetchone()
    assert rows == (36, 36, 3)


def test_create_session_random_stores_its_seed(fresh_store: Store) -> None:
    session = fresh_store.create_session(
        SessionSetup(subject="S-1", scheme=OrderScheme.RANDOM, repetitions=3)
    )
    assert session.order_seed is not None
    plan = plan_session(
        tests=session.tests, repetitions=3, scheme=OrderScheme.RANDOM, seed=session.order_seed
    )
    trials = fresh_store.trials(session.session_id)
    assert [(t.test, t.posture, t.rep) for t in trials] == [
        (p.test, p.posture, p.rep) for p in plan
    ]
    seeded = fresh_store.create_session(
        SessionSetup(subject="S-2", scheme=OrderScheme.RANDOM, seed=42)
    )
    assert seeded.order_seed == 42
    assert fresh_store.conn.execute(
        "SELECT order_seed FROM sessions WHERE session_id = ?", (seeded.session_id,)
    ).fetchone() == (42,)


@pytest.mark.parametrize(
    "setup",
    [
        {"repetitions": 0},
        {"repetitions": 4},
        {"tests": ()},
        {"tests": (V, V)},
    ],
)
def test_create_session_refuses_a_bad_setup_and_stores_nothing(
    fresh_store: Store, setup: dict[str, Any]
) -> None:
    with pytest.raises(RecordError):
        fresh_store.create_session(SessionSetup(subject="S-1", **setup))
    for table in ("subjects", "sessions", "trials"):
        assert fresh_store.count(table) == 0


def test_create_session_refuses_a_bad_subject_code(fresh_store: Store) -> None:
    with pytest.raises(RecordError):
        fresh_store.create_session(SessionSetup(subject="S 1"))
    assert fresh_store.count("subjects") == 0


# -- ratings ----------------------------------------------------------------------------------


def test_record_rating_is_committed_before_it_returns(file_store: Store, db_path: Path) -> None:
    sid = start(file_store)
    trial = file_store.trials(sid)[0]
    returned = file_store.record_rating(trial.trial_id, "tester_stability", 8)
    assert returned.rating("tester_stability") == 8
    # an independent connection, as after a crash or on another station, sees it at once
    rows = query(
        db_path, "SELECT tester_stability FROM trials WHERE trial_id = ?", (trial.trial_id,)
    )
    assert rows == [(8,)]
    file_store.record_rating(trial.trial_id, "subject_ease", 3)
    rows = query(
        db_path,
        "SELECT tester_stability, subject_ease, outcome FROM trials WHERE trial_id = ?",
        (trial.trial_id,),
    )
    assert rows == [(8, 3, "pending")]  # discomfort is still to come


@pytest.mark.parametrize(
    ("effort", "discomfort", "names"),
    [
        (False, False, ["tester_stability", "subject_ease"]),
        (False, True, ["tester_stability", "subject_ease", "discomfort"]),
        (True, True, ["tester_stability", "tester_effort", "subject_ease", "discomfort"]),
    ],
)
def test_trial_is_rated_only_when_every_scale_of_the_session_is_in(
    fresh_store: Store, effort: bool, discomfort: bool, names: list[str]
) -> None:
    sid = start(fresh_store, record_effort=effort, record_discomfort=discomfort)
    assert [s.name for s in fresh_store.session(sid).scales] == names
    trial_id = fresh_store.trials(sid)[0].trial_id
    for i, name in enumerate(names):
        trial = fresh_store.record_rating(trial_id, name, i)
        last = i == len(names) - 1
        assert trial.outcome is (Outcome.RATED if last else Outcome.PENDING)
        assert (trial.rated_at is not None) is last
    stored = fresh_store.trial(trial_id)
    assert stored.outcome is Outcome.RATED
    assert ISO_UTC.fullmatch(stored.rated_at or "")
    assert [stored.rating(n) for n in names] == list(range(len(names)))


def test_rating_order_does_not_matter(fresh_store: Store) -> None:
    sid = start(fresh_store, record_discomfort=False)
    trial_id = fresh_store.trials(sid)[0].trial_id
    assert fresh_store.record_rating(trial_id, "subject_ease", 0).outcome is Outcome.PENDING
    assert fresh_store.record_rating(trial_id, "tester_stability", 10).outcome is Outcome.RATED


def _refusals() -> list[tuple[str, Callable[[Store, str], Any]]]:
    return [
        ("eleven", lambda s, t: s.record_rating(t, "tester_stability", 11)),
        ("minus one", lambda s, t: s.record_rating(t, "subject_ease", -1)),
        ("fraction", lambda s, t: s.record_rating(t, "subject_ease", 3.5)),
        ("bool", lambda s, t: s.record_rating(t, "subject_ease", True)),
        ("text", lambda s, t: s.record_rating(t, "subject_ease", "5")),
        ("unknown scale", lambda s, t: s.record_rating(t, "banana", 5)),
        ("scale not asked", lambda s, t: s.record_rating(t, "tester_effort", 5)),
        ("already recorded", lambda s, t: s.record_rating(t, "tester_stability", 2)),
        ("unknown trial", lambda s, t: s.record_rating("0" * 36, "subject_ease", 5)),
    ]


@pytest.mark.parametrize(("case", "action"), _refusals(), ids=[c for c, _ in _refusals()])
def test_bad_rating_is_refused_and_changes_nothing(
    fresh_store: Store, case: str, action: Callable[[Store, str], Any]
) -> None:
    sid = start(fresh_store)  # no tester_effort in this session
    trial_id = fresh_store.trials(sid)[0].trial_id
    fresh_store.record_rating(trial_id, "tester_stability", 7)
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        action(fresh_store, trial_id)
    assert dump(fresh_store) == before
    assert not fresh_store.conn.in_transaction


def test_rating_a_stopped_trial_is_refused_and_changes_nothing(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[0].trial_id
    fresh_store.stop_trial(trial_id, StopReason.COULD_NOT_HOLD)
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.record_rating(trial_id, "tester_stability", 5)
    with pytest.raises(RecordError):
        fresh_store.stop_trial(trial_id, StopReason.PAIN)
    assert dump(fresh_store) == before
    assert fresh_store.trial(trial_id).outcome is Outcome.STOPPED


def test_rating_in_an_ended_session_is_refused(fresh_store: Store) -> None:
    sid = start(fresh_store)
    fresh_store.end_session(sid, SessionStatus.STOPPED)
    trial_id = fresh_store.trials(sid)[0].trial_id
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.record_rating(trial_id, "tester_stability", 5)
    assert dump(fresh_store) == before


# -- CHECK constraints ------------------------------------------------------------------------


@pytest.fixture
def raw(file_store: Store, db_path: Path) -> Iterator[tuple[sqlite3.Connection, str, str]]:
    """An independent autocommit connection to a file with one session: (conn, session, trial)."""
    sid = start(file_store)
    trial_id = file_store.trials(sid)[0].trial_id
    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys = ON")
    yield conn, sid, trial_id
    conn.close()


def _insert_trial(conn: sqlite3.Connection, sid: str, **values: Any) -> None:
    row = {
        "trial_id": "a" * 36,
        "session_id": sid,
        "seq": 99,
        "test": "vertical",
        "posture": "muscle",
        "rep": 1,
        "outcome": "pending",
    }
    row.update(values)
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    conn.execute(f"INSERT INTO trials ({columns}) VALUES ({marks})", tuple(row.values()))


def test_raw_insert_of_a_valid_trial_works(raw: tuple[sqlite3.Connection, str, str]) -> None:
    conn, sid, _ = raw
    _insert_trial(conn, sid)  # the control case: the failures below are the CHECKs
    assert conn.execute("SELECT count(*) FROM trials WHERE seq = 99").fetchone() == (1,)


@pytest.mark.parametrize(
    "values",
    [
        {"posture": "banana"},
        {"test": "sideways"},
        {"outcome": "done"},
        {"rep": 4},
        {"seq": 0},
        {"subject_ease": 11},
        {"tester_stability": -1},
        {"discomfort": 5.5},
        {"outcome": "rated"},
        {"outcome": "rated", "tester_stability": 5},
        {"outcome": "stopped"},
        {"stop_reason": "pain"},
        {"outcome": "stopped", "stop_reason": "bored"},
        {"outcome": "skipped", "subject_ease": 5},
        {"trial_id": "short"},
        {"session_id": "b" * 36},
    ],
    ids=repr,
)
def test_raw_sql_breaking_a_constraint_fails(
    raw: tuple[sqlite3.Connection, str, str], values: dict[str, Any]
) -> None:
    conn, sid, _ = raw
    with pytest.raises(sqlite3.IntegrityError):
        _insert_trial(conn, sid, **values)
    assert conn.execute("SELECT count(*) FROM trials WHERE seq = 99").fetchone() == (0,)


@pytest.mark.parametrize(
    "assignment",
    [
        "posture = 'banana'",
        "subject_ease = 11",
        "outcome = 'rated'",
        "outcome = 'stopped'",
        "stop_reason = 'pain'",
    ],
)
def test_raw_update_breaking_a_constraint_fails(
    raw: tuple[sqlite3.Connection, str, str], assignment: str
) -> None:
    conn, _, trial_id = raw
    before = conn.execute("SELECT * FROM trials WHERE trial_id = ?", (trial_id,)).fetchall()
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(f"UPDATE trials SET {assignment} WHERE trial_id = ?", (trial_id,))
    after = conn.execute("SELECT * FROM trials WHERE trial_id = ?", (trial_id,)).fetchall()
    assert after == before


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE sessions SET position = 'lying'", ()),
        ("UPDATE sessions SET status = 'paused'", ()),
        ("UPDATE sessions SET repetitions = 4", ()),
        ("UPDATE sessions SET blind = 2", ()),
        ("UPDATE subjects SET code = 'bad code'", ()),
        ("INSERT INTO rankings VALUES (?, 'vertical', 'tester', 'banana', 1, 'x')", None),
        ("INSERT INTO rankings VALUES (?, 'vertical', 'tester', 'muscle', 4, 'x')", None),
        ("INSERT INTO rankings VALUES (?, 'vertical', 'coach', 'muscle', 1, 'x')", None),
        ("INSERT INTO safety_answers VALUES (?, 'mood', 0, 'x')", None),
    ],
)
def test_raw_sql_on_other_tables_checks_enums_and_ranges(
    raw: tuple[sqlite3.Connection, str, str], sql: str, params: tuple[Any, ...] | None
) -> None:
    conn, sid, _ = raw
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(sql, (sid,) if params is None else params)


def test_subject_codes_are_unique_regardless_of_case_in_sql(
    raw: tuple[sqlite3.Connection, str, str],
) -> None:
    conn, _, _ = raw
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO subjects VALUES (?, 's-001', 5, '2026-01-01T00:00:00Z')", ("c" * 36,)
        )


# -- stopping and correcting ------------------------------------------------------------------


def test_stop_trial_records_the_reason_and_audits_partial_ratings(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[1].trial_id
    fresh_store.record_rating(trial_id, "tester_stability", 7)
    fresh_store.record_rating(trial_id, "subject_ease", 2)
    trial = fresh_store.stop_trial(trial_id, StopReason.PAIN, note="sharp pain")
    assert trial.outcome is Outcome.STOPPED
    assert trial.stop_reason is StopReason.PAIN
    assert trial.note == "sharp pain"
    assert all(v is None for v in trial.ratings.values())
    stored = fresh_store.conn.execute(
        "SELECT outcome, stop_reason, tester_stability, subject_ease, note FROM trials "
        "WHERE trial_id = ?",
        (trial_id,),
    ).fetchone()
    assert stored == ("stopped", "pain", None, None, "sharp pain")
    audit = {(c.field, c.old_value, c.new_value) for c in fresh_store.corrections(trial_id)}
    assert audit == {("tester_stability", 7, None), ("subject_ease", 2, None)}
    assert fresh_store.count("corrections") == 2
    # the rest of the session is untouched
    others = [t for t in fresh_store.trials(sid) if t.trial_id != trial_id]
    assert {t.outcome for t in others} == {Outcome.PENDING}


def test_stop_trial_without_ratings_writes_no_audit(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[0].trial_id
    trial = fresh_store.stop_trial(trial_id, StopReason.OTHER)
    assert trial.stop_reason is StopReason.OTHER
    assert trial.note is None
    assert fresh_store.count("corrections") == 0


def test_correct_rating_keeps_old_new_and_when(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[0].trial_id
    rate_fully(fresh_store, trial_id, 5)
    trial = fresh_store.correct_rating(trial_id, "subject_ease", 7, reason="typo")
    assert trial.rating("subject_ease") == 7
    assert trial.outcome is Outcome.RATED
    fresh_store.correct_rating(trial_id, "subject_ease", 6)
    corrections = fresh_store.corrections(trial_id)
    assert [(c.field, c.old_value, c.new_value, c.reason) for c in corrections] == [
        ("subject_ease", 5, 7, "typo"),
        ("subject_ease", 7, 6, ""),
    ]
    assert all(ISO_UTC.fullmatch(c.corrected_at) for c in corrections)
    assert fresh_store.conn.execute(
        "SELECT subject_ease FROM trials WHERE trial_id = ?", (trial_id,)
    ).fetchone() == (6,)


def test_a_no_op_correction_writes_nothing(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[0].trial_id
    rate_fully(fresh_store, trial_id, 5)
    before = dump(fresh_store)
    trial = fresh_store.correct_rating(trial_id, "tester_stability", 5, reason="same")
    assert trial.rating("tester_stability") == 5
    assert dump(fresh_store) == before
    assert fresh_store.corrections(trial_id) == []


@pytest.mark.parametrize(
    ("scale", "value"),
    [("subject_ease", 11), ("subject_ease", -1), ("banana", 3), ("tester_effort", 3)],
)
def test_bad_correction_is_refused(fresh_store: Store, scale: str, value: int) -> None:
    sid = start(fresh_store)
    trial_id = fresh_store.trials(sid)[0].trial_id
    rate_fully(fresh_store, trial_id, 5)  # tester_effort is not asked: nothing to correct
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.correct_rating(trial_id, scale, value)
    assert dump(fresh_store) == before


# -- safety -----------------------------------------------------------------------------------


def test_safety_yes_without_clearance_stops_the_session(fresh_store: Store) -> None:
    session = fresh_store.create_session(SessionSetup(subject="S-1"))
    sid = session.session_id
    answers = {**ALL_NO, "pregnancy": True}
    assert fresh_store.record_safety(sid, answers) is False
    stopped = fresh_store.session(sid)
    assert stopped.status is SessionStatus.STOPPED
    assert stopped.safety_passed is False
    assert ISO_UTC.fullmatch(stopped.ended_at or "")
    assert {t.outcome for t in fresh_store.trials(sid)} == {Outcome.SKIPPED}
    assert fresh_store.safety_answers(sid) == answers
    assert next_step(stopped, fresh_store.trials(sid), []) == SummaryStep()


@pytest.mark.parametrize("cleared_by", [None, "", "   "])
def test_blank_clearance_does_not_clear(fresh_store: Store, cleared_by: str | None) -> None:
    sid = fresh_store.create_session(SessionSetup(subject="S-1")).session_id
    assert (
        fresh_store.record_safety(sid, {**ALL_NO, "severe_pain": True}, cleared_by=cleared_by)
        is False
    )
    assert fresh_store.session(sid).status is SessionStatus.STOPPED


def test_safety_yes_cleared_by_a_clinician_passes(fresh_store: Store) -> None:
    sid = fresh_store.create_session(SessionSetup(subject="S-1")).session_id
    answers = {**ALL_NO, "osteoporosis": True}
    assert fresh_store.record_safety(sid, answers, cleared_by="Dr Lee") is True
    session = fresh_store.session(sid)
    assert session.status is SessionStatus.IN_PROGRESS
    assert session.safety_passed is True
    assert fresh_store.conn.execute(
        "SELECT cleared_by FROM sessions WHERE session_id = ?", (sid,)
    ).fetchone() == ("Dr Lee",)
    assert {t.outcome for t in fresh_store.trials(sid)} == {Outcome.PENDING}
    assert fresh_store.safety_answers(sid) == answers


def test_safety_all_no_passes(fresh_store: Store) -> None:
    sid = fresh_store.create_session(SessionSetup(subject="S-1")).session_id
    assert fresh_store.session(sid).safety_passed is False
    assert fresh_store.record_safety(sid, ALL_NO, cleared_by="Dr Lee") is True
    assert fresh_store.session(sid).safety_passed is True
    assert fresh_store.conn.execute(
        "SELECT cleared_by FROM sessions WHERE session_id = ?", (sid,)
    ).fetchone() == (None,)


def test_safety_of_an_ended_session_cannot_be_rewritten(fresh_store: Store) -> None:
    sid = fresh_store.create_session(SessionSetup(subject="S-1")).session_id
    stopping = {**ALL_NO, "spine_injury": True}
    assert fresh_store.record_safety(sid, stopping) is False
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.record_safety(sid, ALL_NO)
    assert dump(fresh_store) == before
    assert fresh_store.safety_answers(sid) == stopping


def test_safety_with_a_missing_answer_is_refused(fresh_store: Store) -> None:
    sid = fresh_store.create_session(SessionSetup(subject="S-1")).session_id
    answers = dict(ALL_NO)
    del answers["pregnancy"]
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.record_safety(sid, answers)
    assert dump(fresh_store) == before


# -- rankings and ending ----------------------------------------------------------------------


def test_record_ranking_replaces_a_previous_one(fresh_store: Store) -> None:
    sid = start(fresh_store)
    fresh_store.record_ranking(sid, V, Role.TESTER, (S, M, L))
    fresh_store.record_ranking(sid, V, Role.SUBJECT, (M, S, L))
    fresh_store.record_ranking(sid, V, Role.TESTER, (L, S, M))
    rankings = {(r.test, r.role): r for r in fresh_store.rankings(sid)}
    assert rankings == {
        (V, Role.TESTER): Ranking(V, Role.TESTER, (L, S, M)),
        (V, Role.SUBJECT): Ranking(V, Role.SUBJECT, (M, S, L)),
    }
    rows = fresh_store.conn.execute(
        "SELECT posture, rank FROM rankings WHERE session_id = ? AND test = 'vertical' "
        "AND role = 'tester' ORDER BY rank",
        (sid,),
    ).fetchall()
    assert rows == [("ligament", 1), ("skeleton", 2), ("muscle", 3)]
    assert fresh_store.count("rankings") == 6


@pytest.mark.parametrize("order", [(S,), (S, S, M), ()])
def test_bad_ranking_is_refused(fresh_store: Store, order: tuple[Posture, ...]) -> None:
    sid = start(fresh_store)
    fresh_store.record_ranking(sid, V, Role.TESTER, (S, M, L))
    with pytest.raises(RecordError):
        fresh_store.record_ranking(sid, V, Role.TESTER, order)
    assert fresh_store.rankings(sid) == [Ranking(V, Role.TESTER, (S, M, L))]


def test_end_session_complete_refuses_while_trials_are_pending(fresh_store: Store) -> None:
    sid = start(fresh_store)
    trials = fresh_store.trials(sid)
    for trial in trials[:-1]:
        rate_fully(fresh_store, trial.trial_id)
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.end_session(sid, SessionStatus.COMPLETE)
    assert dump(fresh_store) == before
    assert fresh_store.session(sid).status is SessionStatus.IN_PROGRESS
    fresh_store.stop_trial(trials[-1].trial_id, StopReason.DISCOMFORT)
    fresh_store.end_session(sid, SessionStatus.COMPLETE)
    done = fresh_store.session(sid)
    assert done.status is SessionStatus.COMPLETE
    assert ISO_UTC.fullmatch(done.ended_at or "")


def test_end_session_in_progress_is_refused(fresh_store: Store) -> None:
    sid = start(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.end_session(sid, SessionStatus.IN_PROGRESS)


def test_an_ended_session_cannot_be_ended_again(fresh_store: Store) -> None:
    sid = start(fresh_store, tests=(V,))
    for trial in fresh_store.trials(sid):
        rate_fully(fresh_store, trial.trial_id)
    fresh_store.end_session(sid, SessionStatus.COMPLETE)
    before = dump(fresh_store)
    with pytest.raises(RecordError):
        fresh_store.end_session(sid, SessionStatus.STOPPED)
    assert dump(fresh_store) == before
    assert fresh_store.session(sid).status is SessionStatus.COMPLETE


def test_stopping_a_session_skips_the_rest_and_audits_partial_ratings(
    fresh_store: Store,
) -> None:
    sid = start(fresh_store)
    trials = fresh_store.trials(sid)
    rate_fully(fresh_store, trials[0].trial_id, 4)
    fresh_store.record_rating(trials[1].trial_id, "tester_stability", 9)
    fresh_store.end_session(sid, SessionStatus.STOPPED)
    outcomes = [t.outcome for t in fresh_store.trials(sid)]
    assert outcomes == [Outcome.RATED] + [Outcome.SKIPPED] * (len(trials) - 1)
    assert fresh_store.trial(trials[0].trial_id).rating("subject_ease") == 4
    assert fresh_store.trial(trials[1].trial_id).rating("tester_stability") is None
    audit = fresh_store.corrections(trials[1].trial_id)
    assert [(c.field, c.old_value, c.new_value) for c in audit] == [("tester_stability", 9, None)]


# -- the home screen list ---------------------------------------------------------------------


def _make_sessions(store: Store) -> list[str]:
    """Ten sessions, several starting in the same second (ties broken by session id)."""
    starts = [
        "2026-01-01T09:00:00Z",
        "2026-01-02T09:00:00Z",
        "2026-01-02T09:00:00Z",
        "2026-01-02T09:00:00Z",
        "2026-01-03T09:00:00Z",
        "2026-01-03T09:00:00Z",
        "2026-01-04T09:00:00Z",
        "2026-01-05T09:00:00Z",
        "2026-01-05T09:00:00Z",
        "2026-01-06T09:00:00Z",
    ]
    codes = ["ABC-1", "abd-2", "X-1", "ABC-1", "x_2", "xa2", "Q-9", "abc-1", "Y-1", "X-1"]
    ids = []
    for code, started in zip(codes, starts, strict=True):
        ids.append(store.create_session(SessionSetup(subject=code), started_at=started).session_id)
    return ids


def _pages(store: Store, limit: int, **filters: Any) -> list[list[Any]]:
    pages, before = [], None
    while True:
        page = store.recent_sessions(limit=limit, before=before, **filters)
        if not page:
            return pages
        assert len(page) <= limit
        pages.append(page)
        before = page[-1].cursor
        assert len(pages) < 100, "paging does not end"


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 10, 50])
def test_recent_sessions_pages_cover_every_session_once_newest_first(
    fresh_store: Store, limit: int
) -> None:
    ids = _make_sessions(fresh_store)
    rows = [r for page in _pages(fresh_store, limit) for r in page]
    assert sorted(r.session_id for r in rows) == sorted(ids)
    assert len(rows) == len(ids)
    keys = [(r.started_at, r.session_id) for r in rows]
    assert keys == sorted(keys, reverse=True)
    assert rows[0].started_at == "2026-01-06T09:00:00Z"
    assert rows[-1].started_at == "2026-01-01T09:00:00Z"


def test_recent_sessions_rows_show_progress(fresh_store: Store) -> None:
    sid = start(fresh_store, subject="P-1", tests=(V,))
    rate_fully(fresh_store, fresh_store.trials(sid)[0].trial_id)
    fresh_store.stop_trial(fresh_store.trials(sid)[1].trial_id, StopReason.PAIN)
    (row,) = fresh_store.recent_sessions()
    assert (row.session_id, row.subject, row.done, row.total) == (sid, "P-1", 2, 3)
    assert row.status is SessionStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("ab", {"ABC-1", "abd-2"}),
        ("AB", {"ABC-1", "abd-2"}),
        ("abc", {"ABC-1"}),
        ("x", {"X-1", "x_2", "xa2"}),
        ("x_", {"x_2"}),  # '_' is a literal, not a LIKE wildcard
        ("X-", {"X-1"}),
        ("zzz", set()),
    ],
)
def test_recent_sessions_subject_prefix_filter(
    fresh_store: Store, prefix: str, expected: set[str]
) -> None:
    _make_sessions(fresh_store)
    rows = [r for page in _pages(fresh_store, 2, subject_prefix=prefix) for r in page]
    assert {r.subject for r in rows} == expected
    everything = fresh_store.recent_sessions(limit=100)
    matching = [r for r in everything if r.subject in expected]
    assert [r.session_id for r in rows] == [r.session_id for r in matching]


def test_recent_sessions_unfinished_only(fresh_store: Store) -> None:
    ids = _make_sessions(fresh_store)
    fresh_store.end_session(ids[0], SessionStatus.STOPPED)
    fresh_store.end_session(ids[5], SessionStatus.STOPPED)
    rows = fresh_store.recent_sessions(limit=100, unfinished_only=True)
    assert {r.session_id for r in rows} == set(ids) - {ids[0], ids[5]}


# -- subjects ---------------------------------------------------------------------------------


def test_subject_codes_are_unique_case_insensitively(fresh_store: Store) -> None:
    first = fresh_store.ensure_subject("S-1")
    assert first[1] == 0
    assert fresh_store.ensure_subject("s-1") == first
    assert fresh_store.ensure_subject("S-1") == first
    assert fresh_store.ensure_subject("S-2")[1] == 1
    assert fresh_store.ensure_subject("S-3")[1] == 2
    assert fresh_store.ensure_subject("s-2")[1] == 1
    assert fresh_store.count("subjects") == 3
    indexes = fresh_store.conn.execute(
        "SELECT code, enrolment_index FROM subjects ORDER BY enrolment_index"
    ).fetchall()
    assert indexes == [("S-1", 0), ("S-2", 1), ("S-3", 2)]


def test_sessions_of_one_subject_in_any_case_share_the_subject(fresh_store: Store) -> None:
    a = fresh_store.create_session(SessionSetup(subject="S-1"))
    b = fresh_store.create_session(SessionSetup(subject="s-1"))
    assert fresh_store.count("subjects") == 1
    assert a.subject == b.subject == "S-1"
    # the same enrolment index gives the same balanced order
    assert [t.posture for t in fresh_store.trials(a.session_id)] == [
        t.posture for t in fresh_store.trials(b.session_id)
    ]


@pytest.mark.parametrize("code", ["", "S 1", "x" * 33, "S.1"])
def test_ensure_subject_refuses_bad_codes(fresh_store: Store, code: str) -> None:
    with pytest.raises(RecordError):
        fresh_store.ensure_subject(code)
    assert fresh_store.count("subjects") == 0


def test_subject_codes_suggestions(fresh_store: Store) -> None:
    for code in ["S-2", "s-1", "T-1", "S_3", "Sx3", "ab"]:
        fresh_store.ensure_subject(code)
    assert fresh_store.subject_codes("s") == ["s-1", "S-2", "S_3", "Sx3"]
    assert fresh_store.subject_codes("S-") == ["s-1", "S-2"]
    assert fresh_store.subject_codes("s_") == ["S_3"]
    assert fresh_store.subject_codes("s", limit=2) == ["s-1", "S-2"]
    assert fresh_store.subject_codes("zz") == []
    assert len(fresh_store.subject_codes()) == 6
    assert fresh_store.subject_codes("%") == []


# -- the trial_results view -------------------------------------------------------------------


def test_trial_results_view_has_the_interchange_columns_in_order(fresh_store: Store) -> None:
    sid = start(fresh_store, subject="S-9", tester="Ann", tests=(A,))
    first = fresh_store.trials(sid)[0]
    rate_fully(fresh_store, first.trial_id, 6)
    cursor = fresh_store.conn.execute("SELECT * FROM trial_results ORDER BY seq")
    names = tuple(d[0] for d in cursor.description)
    assert names == INTERCHANGE_COLUMNS
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    assert len(rows) == 3
    row = rows[0]
    assert row["trial_id"] == first.trial_id
    assert row["session_id"] == sid
    assert (row["subject"], row["tester"], row["position"]) == ("S-9", "Ann", "sitting")
    assert (row["test"], row["posture"], row["seq"], row["rep"]) == (
        "anterior",
        first.posture.value,
        1,
        1,
    )
    assert (row["outcome"], row["tester_stability"], row["subject_ease"]) == ("rated", 6, 6)
    assert row["session_status"] == "in_progress"
    assert row["order_scheme"] == "balanced"
    assert [r["outcome"] for r in rows[1:]] == ["pending", "pending"]


# -- files that are refused -------------------------------------------------------------------


def _text_file(tmp_path: Path) -> Path:
    p = tmp_path / "notes.db"
    p.write_text("subject,rating\nS-1,5\n")
    return p


def _short_text_file(tmp_path: Path) -> Path:
    p = tmp_path / "short.db"
    p.write_text("hi")
    return p


def _random_bytes(tmp_path: Path) -> Path:
    p = tmp_path / "noise.db"
    p.write_bytes(random.Random(7).randbytes(8192))
    return p


def _sqlite_header_then_noise(tmp_path: Path) -> Path:
    p = tmp_path / "truncated.db"
    p.write_bytes(b"SQLite format 3\x00" + random.Random(3).randbytes(600))
    return p


def _foreign_sqlite(tmp_path: Path) -> Path:
    p = tmp_path / "other.db"
    conn = sqlite3.connect(p)
    conn.execute("CREATE TABLE foo (x)")
    conn.execute("INSERT INTO foo VALUES (1)")
    conn.commit()
    conn.close()
    return p


def _newer_version(tmp_path: Path) -> Path:
    p = tmp_path / "newer.db"
    Store(p).close()
    conn = sqlite3.connect(p)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    return p


def _damaged(tmp_path: Path) -> Path:
    p = tmp_path / "damaged.db"
    with Store(p) as store:
        start(store)
    conn = sqlite3.connect(p)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"
    conn.close()
    assert not Path(f"{p}-wal").exists()
    data = bytearray(p.read_bytes())
    assert len(data) > 4096 and data[:16] == b"SQLite format 3\x00"
    data[100:4096] = bytes([0xA5]) * (4096 - 100)  # page 1's b-tree, after the file header
    p.write_bytes(bytes(data))
    return p


REFUSED_FILES = {
    "text": _text_file,
    "short text": _short_text_file,
    "random bytes": _random_bytes,
    "sqlite header then noise": _sqlite_header_then_noise,
    "another application's sqlite": _foreign_sqlite,
    "newer schema": _newer_version,
    "damaged": _damaged,
}


@pytest.mark.parametrize("make", REFUSED_FILES.values(), ids=REFUSED_FILES.keys())
@pytest.mark.parametrize("opener", [Store, open_store], ids=["Store", "open_store"])
def test_unusable_file_is_refused_and_left_untouched(
    tmp_path: Path, make: Callable[[Path], Path], opener: Callable[[Path], Store]
) -> None:
    path = make(tmp_path)
    before = snapshot(path)
    siblings = sorted(tmp_path.iterdir())
    with pytest.raises(StoreError) as info:
        opener(path)
    message = str(info.value)
    assert message.strip() and "\n" not in message
    assert path.name in message
    assert snapshot(path) == before
    assert sorted(tmp_path.iterdir()) == siblings  # no -wal, -shm or journal left behind


def test_refusal_messages_say_why(tmp_path: Path) -> None:
    def refusal(make: Callable[[Path], Path]) -> str:
        with pytest.raises(StoreError) as info:
            Store(make(tmp_path))
        return str(info.value).lower()

    assert "not a sqlite" in refusal(_text_file)
    assert "not a posturetest" in refusal(_foreign_sqlite)
    assert "newer" in refusal(_newer_version)
    assert "damaged" in refusal(_damaged)


def test_a_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    mtime = os.stat(folder).st_mtime_ns
    with pytest.raises(StoreError) as info:
        Store(folder)
    assert "\n" not in str(info.value) and "folder" in str(info.value)
    assert list(folder.iterdir()) == []
    assert os.stat(folder).st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-folder"]


def test_a_path_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "t.db"
    with pytest.raises(StoreError) as info:
        Store(path)
    assert "\n" not in str(info.value) and "missing" in str(info.value)
    assert not path.parent.exists()
    assert list(tmp_path.iterdir()) == []


# -- migrations -------------------------------------------------------------------------------


def test_an_empty_file_is_initialised_to_the_current_schema(db_path: Path) -> None:
    db_path.write_bytes(b"")
    with Store(db_path) as store:
        start(store)
        assert store.count("trials") == 6
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    names = {r[0] for r in query(db_path, "SELECT name FROM sqlite_master")}
    assert {
        "subjects",
        "sessions",
        "safety_answers",
        "trials",
        "rankings",
        "corrections",
        "trial_results",
    } <= names


@pytest.mark.parametrize("error", [sqlite3.OperationalError, RuntimeError])
def test_a_failing_migration_leaves_the_file_empty(
    db_path: Path, monkeypatch: pytest.MonkeyPatch, error: type[Exception]
) -> None:
    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO half_done VALUES (1)")
        raise error("migration broke")

    monkeypatch.setattr(schema, "MIGRATIONS", (half_done,))
    monkeypatch.setattr(opening, "MIGRATIONS", (half_done,))
    expected = StoreError if issubclass(error, sqlite3.Error) else error
    with pytest.raises(expected):
        Store(db_path)
    assert query(db_path, "PRAGMA user_version") == [(0,)]
    assert query(db_path, "SELECT name FROM sqlite_master") == []
    # and once the migration is fixed, the same file opens normally
    monkeypatch.undo()
    with Store(db_path) as store:
        assert store.count("sessions") == 0
    assert query(db_path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]


def test_nothing_is_rated_ranked_or_stopped_before_the_safety_check(fresh_store: Store) -> None:
    session = fresh_store.create_session(SessionSetup(subject="S-SAFE"))
    trial = fresh_store.trials(session.session_id)[0]
    with pytest.raises(RecordError, match="safety check"):
        fresh_store.record_rating(trial.trial_id, "tester_stability", 5)
    with pytest.raises(RecordError, match="safety check"):
        fresh_store.stop_trial(trial.trial_id, StopReason.PAIN)
    with pytest.raises(RecordError, match="safety check"):
        fresh_store.record_ranking(
            session.session_id, StressTest.VERTICAL, Role.TESTER, list(Posture)
        )
    assert fresh_store.trials(session.session_id)[0].outcome is Outcome.PENDING
    assert fresh_store.rankings(session.session_id) == []


def test_unknown_session_is_a_record_error(fresh_store: Store) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    with pytest.raises(RecordError, match="no session"):
        fresh_store.record_safety(unknown, {k: False for k in SAFETY_KEYS})
    with pytest.raises(RecordError, match="no session"):
        fresh_store.record_ranking(unknown, StressTest.VERTICAL, Role.TESTER, list(Posture))
    with pytest.raises(RecordError, match="no session"):
        fresh_store.end_session(unknown, SessionStatus.STOPPED)
