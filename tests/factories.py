"""Builders of what the tests need in a store: sessions past the safety check, ratings, and the
studies the export, import and package tests read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.store import Store


def started_session(store: Store, **setup: object) -> str:
    """A session past the safety check, ready for its first trial."""
    options: dict[str, object] = {"subject": "S-001"}
    options.update(setup)
    session = store.create_session(SessionSetup(**options), started_at="2026-11-24T09:15:00Z")  # type: ignore[arg-type]
    store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
    return session.session_id


def rate_trials(store: Store, session_id: str, upto: int | None = None) -> None:
    """Rate pending trials in order (values differ by posture), optionally up to a seq."""
    base = {"ligament": 3, "muscle": 5, "skeleton": 8}
    session = store.session(session_id)
    for trial in store.trials(session_id):
        if upto is not None and trial.seq > upto:
            break
        if trial.outcome is not Outcome.PENDING:
            continue
        value = base[trial.posture.value]
        for scale in session.scales:
            offset = -1 if scale.name == "subject_ease" else 0
            rating = 10 - value if scale.name == "discomfort" else value + offset
            store.record_rating(trial.trial_id, scale.name, rating)


def new_session(
    store: Store,
    subject: str,
    *,
    started_at: str,
    station: str = "",
    safety_yes: bool | None = None,
    cleared_by: str | None = None,
    **setup: object,
) -> str:
    """A session with its safety check answered: all no, or a yes when `safety_yes` is given
    (or, by default, when a clinician `cleared_by` it). A yes without clearance stops it."""
    session = store.create_session(
        SessionSetup(subject=subject, **setup),  # type: ignore[arg-type]
        station=station,
        started_at=started_at,
    )
    yes = bool(cleared_by) if safety_yes is None else safety_yes
    answers = {k: False for k in SAFETY_KEYS}
    if yes:
        answers[SAFETY_KEYS[0]] = True
    proceeds = store.record_safety(session.session_id, answers, cleared_by=cleared_by)
    assert proceeds == (not yes or bool(cleared_by))
    return session.session_id


Rankings = tuple[tuple[Role, tuple[Posture, ...]], ...]
"""The order each role ranks the postures in, recorded in this order."""


def rank_every_test(store: Store, session_id: str, rankings: Rankings) -> None:
    """Record the same rankings for every test of the session."""
    for test in store.session(session_id).tests:
        for role, order in rankings:
            store.record_ranking(session_id, test, role, list(order))


# -- the export study (test_export) -----------------------------------------------------------

TESTER = 'Ann, "AK"\nKay'
"""A tester name with a comma, a double quote and a line break."""
STATION = 'desk 3, room "B"\r\nnorth'
NOTE = 'stopped, "sharp"\npain'
"""A stop note with `,"` and a line break."""
CLEARED_BY = 'Dr Smith, "MD"'

EXPORT_RANKINGS: Rankings = (
    (Role.TESTER, (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)),
    (Role.SUBJECT, (Posture.MUSCLE, Posture.SKELETON, Posture.LIGAMENT)),
)


def rate_all(store: Store, session_id: str, upto: int | None = None) -> None:
    """Rate pending trials (every scale the session asks for; values by seq), optionally up to
    a seq."""
    session = store.session(session_id)
    for trial in store.trials(session_id):
        if upto is not None and trial.seq > upto:
            break
        if trial.outcome is not Outcome.PENDING:
            continue
        for i, scale in enumerate(session.scales):
            store.record_rating(trial.trial_id, scale.name, (trial.seq + i) % 11)


def complete_session(store: Store, subject: str, *, started_at: str, **setup: Any) -> str:
    """A session rated (`rate_all`), ranked (`EXPORT_RANKINGS`) and complete."""
    session_id = new_session(store, subject, started_at=started_at, **setup)
    rate_all(store, session_id)
    rank_every_test(store, session_id, EXPORT_RANKINGS)
    store.end_session(session_id, SessionStatus.COMPLETE)
    return session_id


@dataclass(frozen=True)
class ExportStudy:
    path: Path
    sessions: dict[str, str]
    """Label -> session id."""


def export_study(path: Path) -> ExportStudy:
    """Every outcome, every scheme, tricky free text, a clearance and an unfinished session."""
    with Store(path) as store:
        sessions: dict[str, str] = {}
        # Tricky text, two rated trials, one stopped with a note, the rest skipped.
        tricky = new_session(
            store, "S-001", started_at="2026-11-20T09:00:00Z", tester=TESTER, station=STATION
        )
        rate_all(store, tricky, upto=2)
        third = store.trials(tricky)[2]
        store.stop_trial(third.trial_id, StopReason.PAIN, note=NOTE)
        store.end_session(tricky, SessionStatus.STOPPED)
        sessions["tricky"] = tricky
        # Random order, every optional scale, two repetitions, ranked, complete.
        sessions["random"] = complete_session(
            store,
            "S-002",
            started_at="2026-11-21T10:30:00Z",
            scheme=OrderScheme.RANDOM,
            seed=7,
            repetitions=2,
            record_effort=True,
            tester="Bo",
            station="lab-2",
        )
        # Cleared by a clinician despite a yes; one test only; fixed order; standing.
        sessions["cleared"] = complete_session(
            store,
            "S-003",
            started_at="2026-11-22T08:00:00Z",
            scheme=OrderScheme.FIXED,
            tests=(StressTest.ANTERIOR,),
            record_discomfort=False,
            cleared_by=CLEARED_BY,
        )
        # Still in progress: pending trials.
        unfinished = new_session(store, "S-004", started_at="2026-11-23T07:00:00Z", tester="Cy")
        rate_all(store, unfinished, upto=1)
        sessions["unfinished"] = unfinished
    return ExportStudy(path, sessions)


# -- the import study (test_import, test_import_bulk, test_merge) ----------------------------

TRICKY_TESTER = 'Dr. O\'Neil, "Bo"\nsecond line'
TRICKY_NOTE = 'sharp pain, "left side"\r\nstopped; café ✓'
PLAIN_TESTER = 'Zoë "Z", physio'
PLAIN_NOTE = 'pain, "left" side, café'

IMPORT_RANKINGS: Rankings = (
    (Role.SUBJECT, (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)),
    (Role.TESTER, (Posture.SKELETON, Posture.LIGAMENT, Posture.MUSCLE)),
)


def import_study(db: Path, *, tricky: bool) -> None:
    """Five sessions covering every outcome: 33 trials, 4 subjects, 14 rankings.

    1. complete, ranked, tester effort recorded (S-001)
    2. stopped: one rated trial, one stopped with a note, the rest skipped; random order (s-002)
    3. in progress, anterior only: two rated, one pending with a partial rating (S-003)
    4. stopped at the safety check: every trial skipped (S-004)
    5. cleared by a clinician, complete, no discomfort scale (s-001: the same subject as 1)
    """
    tester = TRICKY_TESTER if tricky else PLAIN_TESTER
    note = TRICKY_NOTE if tricky else PLAIN_NOTE
    with Store(db) as store:
        first = new_session(
            store,
            "S-001",
            started_at="2026-11-20T09:00:00Z",
            station="desk, 1",
            tester=tester,
            record_effort=True,
        )
        rate_trials(store, first)
        rank_every_test(store, first, IMPORT_RANKINGS)
        store.end_session(first, SessionStatus.COMPLETE)

        second = new_session(
            store,
            "s-002",
            started_at="2026-11-20T10:00:00Z",
            position=Position.STANDING,
            scheme=OrderScheme.RANDOM,
            seed=7,
            repetitions=2,
            blind=True,
        )
        rate_trials(store, second, upto=1)
        store.stop_trial(store.trials(second)[1].trial_id, StopReason.PAIN, note=note)
        store.end_session(second, SessionStatus.STOPPED)

        third = new_session(
            store,
            "S-003",
            started_at="2026-11-21T08:30:00Z",
            scheme=OrderScheme.FIXED,
            tests=(StressTest.ANTERIOR,),
            tester=tester,
        )
        rate_trials(store, third, upto=2)
        store.record_rating(store.trials(third)[2].trial_id, "tester_stability", 6)
        store.record_ranking(
            third, StressTest.ANTERIOR, Role.TESTER, [Posture.MUSCLE, Posture.SKELETON]
        )

        new_session(store, "S-004", started_at="2026-11-21T09:00:00Z", safety_yes=True)

        fifth = new_session(
            store,
            "s-001",
            started_at="2026-11-22T09:00:00Z",
            safety_yes=True,
            cleared_by="Dr. Who",
            record_discomfort=False,
        )
        rate_trials(store, fifth)
        store.end_session(fifth, SessionStatus.COMPLETE)


# -- the whole-package study (test_package_whole, test_deidentify) ---------------------------


def whole_study(db: Path) -> None:
    """Three sessions: complete with corrections, cleared by a clinician, and stopped."""
    with Store(db) as store:
        plain = store.create_session(SessionSetup(subject="W-001", tester="AK"))
        store.record_safety(plain.session_id, {k: False for k in SAFETY_KEYS})
        trials = store.trials(plain.session_id)
        for i, trial in enumerate(trials):
            for scale in plain.scales:
                store.record_rating(trial.trial_id, scale.name, (i + 3) % 11)
        store.correct_rating(trials[0].trial_id, "tester_stability", 9, "typed 3 for 9")
        store.correct_rating(trials[0].trial_id, "tester_stability", 8, "second thoughts")
        for test in (StressTest.VERTICAL, StressTest.ANTERIOR):
            store.record_ranking(plain.session_id, test, Role.TESTER, list(Posture))
            store.record_ranking(plain.session_id, test, Role.SUBJECT, list(reversed(Posture)))
        store.end_session(plain.session_id, SessionStatus.COMPLETE)

        cleared = store.create_session(SessionSetup(subject="W-002", tests=(StressTest.VERTICAL,)))
        answers = {k: k == "severe_pain" for k in SAFETY_KEYS}
        store.record_safety(cleared.session_id, answers, cleared_by="Dr. Ng, GP")
        first = store.trials(cleared.session_id)[0]
        store.record_rating(first.trial_id, "tester_stability", 6)
        store.stop_trial(first.trial_id, StopReason.PAIN, note='sharp, "left side"\nstopped')

        stopped = store.create_session(SessionSetup(subject="W-003", tests=(StressTest.ANTERIOR,)))
        store.record_safety(stopped.session_id, {k: False for k in SAFETY_KEYS})
        store.end_session(stopped.session_id, SessionStatus.STOPPED)


# -- a corrected session and a stopped one (test_output_files) ------------------------------


def corrected_and_stopped_study(db: Path) -> str:
    """A complete, ranked session with a corrected rating, and a stopped one with a note."""
    with Store(db) as store:
        session = store.create_session(
            SessionSetup(subject="S-014", tester="AK"), started_at="2026-11-24T09:15:00Z"
        )
        store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
        rate_trials(store, session.session_id)
        first = store.trials(session.session_id)[0]
        store.correct_rating(first.trial_id, "tester_stability", 9, "typed 3 for 9")
        for test in session.tests:
            for role in Role:
                store.record_ranking(session.session_id, test, role, list(Posture))
        other = store.create_session(SessionSetup(subject="S-015"))
        store.record_safety(other.session_id, {k: False for k in SAFETY_KEYS})
        store.stop_trial(store.trials(other.session_id)[0].trial_id, StopReason.PAIN, "sharp")
    return session.session_id


# -- sessions in every state (test_migration_v3) -------------------------------------------


def sessions_in_every_state(path: Path) -> dict[str, str]:
    """Sessions in every state, recorded through the app on a current database."""
    ids: dict[str, str] = {}
    with Store(path) as store:
        complete = store.create_session(
            SessionSetup(subject="S-001", tester="Ann", repetitions=2, record_effort=True),
            station="desk-1",
            started_at="2026-11-24T09:15:00Z",
        ).session_id
        store.record_safety(complete, {k: False for k in SAFETY_KEYS})
        rate_trials(store, complete)
        for test in (StressTest.VERTICAL, StressTest.ANTERIOR):
            store.record_ranking(complete, test, Role.TESTER, [Posture.SKELETON, Posture.MUSCLE])
            store.record_ranking(complete, test, Role.SUBJECT, list(Posture))
        # a second ranking replaces the first (its rows are deleted: the table has gaps)
        store.record_ranking(complete, StressTest.VERTICAL, Role.SUBJECT, list(Posture)[::-1])
        first = store.trials(complete)[0].trial_id
        store.correct_rating(first, "tester_stability", 2, "typed the wrong key")
        store.correct_rating(first, "tester_stability", 3, "and again")
        store.end_session(complete, SessionStatus.COMPLETE)
        ids["complete"] = complete
        ids["corrected_trial"] = first

        stopped = store.create_session(
            SessionSetup(subject="S-002", tests=(StressTest.ANTERIOR,), record_effort=True),
            started_at="2026-11-24T10:00:00Z",
        ).session_id
        answers = {k: False for k in SAFETY_KEYS}
        answers[SAFETY_KEYS[0]] = True
        store.record_safety(stopped, answers, cleared_by="Dr Who")
        rate_trials(store, stopped, upto=1)
        second = store.trials(stopped)[1]
        store.record_rating(second.trial_id, "tester_stability", 4)
        store.record_rating(second.trial_id, "subject_ease", 6)
        store.stop_trial(second.trial_id, StopReason.PAIN, note="sharp pain, left shoulder")
        store.end_session(stopped, SessionStatus.STOPPED)
        ids["stopped"] = stopped
        ids["stopped_trial"] = second.trial_id

        going = store.create_session(
            SessionSetup(subject="S-001", position=Position.STANDING),
            started_at="2026-11-25T08:00:00Z",
        ).session_id
        store.record_safety(going, {k: False for k in SAFETY_KEYS})
        rate_trials(store, going, upto=2)
        half = store.trials(going)[2]
        store.record_rating(half.trial_id, "tester_stability", 7)
        ids["in_progress"] = going
        ids["pending_trial"] = half.trial_id
        ids["rated_trial"] = store.trials(going)[0].trial_id

        refused = store.create_session(
            SessionSetup(subject="S-003"), started_at="2026-11-25T08:30:00Z"
        ).session_id
        store.record_safety(refused, {k: True for k in SAFETY_KEYS})
        ids["refused"] = refused
    return ids


# -- complete sessions of returning subjects (test_plots) -----------------------------------


BASE = {Posture.LIGAMENT: 3, Posture.MUSCLE: 5, Posture.SKELETON: 8}
"""The rating of each posture in `recorded_session`, before its shift."""


def recorded_session(
    store: Store,
    subject: str,
    started_at: str,
    shift: int = 0,
    *,
    tester: str = "Robin",
    stop_anterior_ligament: bool = False,
) -> str:
    """A complete session: every trial rated (skeleton best), both ranked the postures."""
    session = store.create_session(
        SessionSetup(subject=subject, tester=tester), started_at=started_at
    )
    session_id = session.session_id
    store.record_safety(session_id, {k: False for k in SAFETY_KEYS})
    for trial in store.trials(session_id):
        if stop_anterior_ligament and (trial.test, trial.posture) == (
            StressTest.ANTERIOR,
            Posture.LIGAMENT,
        ):
            store.stop_trial(trial.trial_id, StopReason.DISCOMFORT)
            continue
        value = BASE[trial.posture] + shift
        for scale in session.scales:
            rating = {"subject_ease": value - 1, "discomfort": 10 - value}.get(scale.name, value)
            store.record_rating(trial.trial_id, scale.name, max(0, min(10, rating)))
    best_first = (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)
    for test in session.tests:
        store.record_ranking(session_id, test, Role.SUBJECT, best_first)
        store.record_ranking(
            session_id, test, Role.TESTER, (Posture.SKELETON, Posture.LIGAMENT, Posture.MUSCLE)
        )
    store.end_session(session_id, SessionStatus.COMPLETE)
    return session_id


def returning_subjects_study(path: Path) -> list[str]:
    """Three subjects; S-001 came back twice. The session ids."""
    with Store(path) as store:
        ids = [
            recorded_session(store, "S-001", "2026-03-02T09:00:00Z", 0),
            recorded_session(store, "S-002", "2026-03-03T09:00:00Z", 1),
            recorded_session(store, "S-003", "2026-03-04T09:00:00Z", -1),
            recorded_session(store, "S-001", "2026-04-02T09:00:00Z", 1),
            recorded_session(
                store, "S-001", "2026-05-02T09:00:00Z", 2, stop_anterior_ligament=True
            ),
        ]
    return ids


# -- free text in every field (test_spreadsheet) ---------------------------------------------


def one_session_per_text(
    path: Path, texts: Sequence[str], subjects: Sequence[str]
) -> dict[str, str]:
    """One session per text, subjects taken in turn: the text is the tester, the station and
    the note of its stopped second trial (after one rated trial). Session id -> its text."""
    by_session: dict[str, str] = {}
    with Store(path) as store:
        for i, text in enumerate(texts):
            session = store.create_session(
                SessionSetup(subject=subjects[i % len(subjects)], tester=text),
                station=text,
                started_at=f"2026-11-{1 + i:02d}T09:00:00Z",
            )
            store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
            rate_trials(store, session.session_id, upto=1)
            second = store.trials(session.session_id)[1]
            store.stop_trial(second.trial_id, StopReason.OTHER, note=text or None)
            by_session[session.session_id] = text
    return by_session
