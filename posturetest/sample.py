"""A synthetic study: realistic-looking data for the notebook, the docs and trying things out.

Nothing here comes from real people. Every number is drawn from one seeded `random.Random`,
with no wall-clock time, so the same subjects and seed always give the same rows, and the
export built from them is byte-identical (`data/sample/` is checked against it by a test).

The model follows the protocol and what testers report: most people hold the skeleton posture
best and the ligament posture worst, but not everyone; ratings drift with practice and fatigue
across a session; subject and tester agree only roughly, and each tester has a bias; a few trials
are stopped, and now and then a whole session ends early.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from posturetest.domain import (
    PROTOCOL_VERSION,
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
    plan_session,
)
from posturetest.domain.interchange import (
    RANKING_COLUMNS,
    SESSION_COLUMNS,
    SESSION_LEVEL_TRIAL_COLUMNS,
    TRIAL_COLUMNS,
)

Row = dict[str, object]

TITLE = "SYNTHETIC sample study (not real data)"
FIRST_DAY = date(2026, 1, 5)
LAST_DAY = date(2026, 3, 27)
TESTS = (StressTest.VERTICAL, StressTest.ANTERIOR)
"""What every synthetic session sets up; the balanced scheme flips the order run."""

STABILITY = {Posture.LIGAMENT: 4.2, Posture.MUSCLE: 5.5, Posture.SKELETON: 7.3}
"""Population mean of how stable each posture really is, on the 0-10 scale."""
ANTERIOR_SHIFT = {Posture.LIGAMENT: -0.6, Posture.MUSCLE: -0.2, Posture.SKELETON: -0.1}
"""Pressing the palms folds a slumped trunk more easily than pressing the shoulders."""
STANDING_SHIFT = {Posture.LIGAMENT: -0.3, Posture.MUSCLE: 0.2, Posture.SKELETON: 0.1}
FEELS = {Posture.LIGAMENT: -0.2, Posture.MUSCLE: -0.7, Posture.SKELETON: 0.3}
"""How much easier (or harder) a posture feels to the subject than it looks to the tester:
holding the muscle posture is effort even when it does not move."""
DISCOMFORT_BASE = {Posture.LIGAMENT: 2.5, Posture.MUSCLE: 3.0, Posture.SKELETON: 0.8}
STOP_CHANCE = {Posture.LIGAMENT: 0.03, Posture.MUSCLE: 0.025, Posture.SKELETON: 0.008}
STOP_REASONS: dict[Posture, tuple[tuple[StopReason, ...], tuple[float, ...]]] = {
    Posture.LIGAMENT: (
        (StopReason.PAIN, StopReason.DISCOMFORT, StopReason.COULD_NOT_HOLD),
        (0.5, 0.4, 0.1),
    ),
    Posture.MUSCLE: (
        (StopReason.COULD_NOT_HOLD, StopReason.DISCOMFORT, StopReason.PAIN),
        (0.45, 0.35, 0.2),
    ),
    Posture.SKELETON: (
        (StopReason.DISCOMFORT, StopReason.COULD_NOT_HOLD, StopReason.PAIN),
        (0.5, 0.3, 0.2),
    ),
}
STOP_NOTES = {
    StopReason.PAIN: "twinge in the lower back",
    StopReason.DISCOMFORT: "uncomfortable under the pressure",
    StopReason.COULD_NOT_HOLD: "could not keep the posture",
}


@dataclass(frozen=True)
class Tester:
    code: str
    bias: float
    """Added to every stability rating: some testers see more stability than others."""
    noise: float
    effort: float
    """How hard this tester usually presses, 0-10."""
    home_station: str


TESTERS = (
    Tester("T1", bias=0.5, noise=0.6, effort=6.0, home_station="station-a"),
    Tester("T2", bias=-0.4, noise=0.7, effort=5.0, home_station="station-b"),
    Tester("T3", bias=0.0, noise=0.9, effort=7.0, home_station=""),
)


@dataclass(frozen=True)
class Person:
    """A synthetic subject's latent traits: what their ratings are drawn from."""

    code: str
    enrolment_index: int
    stability: dict[Posture, float]
    generosity: float
    """Offset of the subject's own ratings: some people rate everything high."""
    insight: float
    """How closely the subject's feeling follows how stable they really were."""
    sensitivity: float
    """Offset of discomfort."""
    fatigue: float
    """Loss of stability per trial as the session goes on."""
    position: Position
    tester: Tester


@dataclass
class SampleStudy:
    """The rows of a synthetic study, keyed by the interchange column names."""

    subjects: int
    seed: int
    sessions: list[Row] = field(default_factory=list)
    trials: list[Row] = field(default_factory=list)
    rankings: list[Row] = field(default_factory=list)
    safety_answers: list[Row] = field(default_factory=list)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _scale(value: float) -> int:
    """A whole number on the 0-10 scale, rounding halves up as people do."""
    return min(10, max(0, math.floor(value + 0.5)))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _clinic_time(rng: random.Random, day: date) -> datetime:
    """A start between 08:00 and 17:00 UTC, on the quarter hour."""
    minutes = 8 * 60 + 15 * rng.randrange(0, 37)
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(minutes=minutes)


def _weekday(rng: random.Random) -> date:
    days = (LAST_DAY - FIRST_DAY).days + 1
    while True:
        day = FIRST_DAY + timedelta(days=rng.randrange(days))
        if day.weekday() < 5:
            return day


def _people(rng: random.Random, subjects: int) -> list[tuple[Person, datetime]]:
    """Subjects with their first visit, coded and enrolled in the order they first came."""
    visits = sorted(_clinic_time(rng, _weekday(rng)) for _ in range(subjects))
    width = max(3, len(str(subjects)))
    people = []
    for index, first_visit in enumerate(visits):
        ability = rng.gauss(0, 0.9)
        people.append(
            (
                Person(
                    code=f"SYN-{index + 1:0{width}d}",
                    enrolment_index=index,
                    stability={p: STABILITY[p] + ability + rng.gauss(0, 0.9) for p in Posture},
                    generosity=rng.gauss(0, 0.8),
                    insight=rng.uniform(0.5, 1.0),
                    sensitivity=rng.gauss(0, 1.0),
                    fatigue=rng.uniform(0.0, 0.12),
                    position=Position.SITTING if rng.random() < 0.55 else Position.STANDING,
                    tester=rng.choices(TESTERS, weights=(0.4, 0.35, 0.25))[0],
                ),
                first_visit,
            )
        )
    return people


def _follow_up(rng: random.Random, first_visit: datetime) -> datetime | None:
    """A second visit three to six weeks later, when the study is still running."""
    day = first_visit.date() + timedelta(days=rng.randint(21, 42))
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return _clinic_time(rng, day) if day <= LAST_DAY else None


def _session(
    rng: random.Random,
    study: SampleStudy,
    person: Person,
    started: datetime,
    ends_early: bool,
) -> None:
    """One visit: the plan the app would make, each trial drawn from the person's traits."""
    tester = person.tester if rng.random() < 0.85 else rng.choice(TESTERS)
    station = tester.home_station or ("station-a" if started.weekday() < 3 else "station-b")
    repetitions = 1 if rng.random() < 0.55 else 2
    blind = rng.random() < 0.6
    record_effort = rng.random() < 0.35
    record_discomfort = rng.random() < 0.85
    plan = plan_session(
        tests=TESTS,
        repetitions=repetitions,
        scheme=OrderScheme.BALANCED,
        enrolment_index=person.enrolment_index,
    )
    stop_at = rng.randint(2, len(plan) - 1) if ends_early else None
    session_id = _uuid(rng)
    clock = started + timedelta(seconds=rng.randint(120, 260))  # safety check, instructions
    trials: list[Row] = []
    ended = False
    for planned in plan:
        trial: Row = {
            "trial_id": _uuid(rng),
            "test": planned.test.value,
            "posture": planned.posture.value,
            "rep": planned.rep,
            "seq": planned.seq,
            "outcome": Outcome.SKIPPED.value,
            "stop_reason": None,
            "tester_stability": None,
            "subject_ease": None,
            "discomfort": None,
            "tester_effort": None,
            "rated_at": None,
            "note": None,
        }
        trials.append(trial)
        if ended:
            continue
        if planned.seq > 1 and planned.test.value != trials[-2]["test"]:
            clock += timedelta(seconds=rng.randint(60, 150))  # both ranked the last test
        clock += timedelta(seconds=rng.randint(45, 110))
        trial["rated_at"] = _stamp(clock)
        posture = planned.posture
        practice = 0.4 * (1 - math.exp(-(planned.seq - 1) / 2))
        true = (
            person.stability[posture]
            + (ANTERIOR_SHIFT[posture] if planned.test is StressTest.ANTERIOR else 0.0)
            + (STANDING_SHIFT[posture] if person.position is Position.STANDING else 0.0)
            + practice
            - person.fatigue * (planned.seq - 1)
            + rng.gauss(0, 0.5)
        )
        chance = STOP_CHANCE[posture] + (0.03 if true < 3 else 0.0)
        if planned.seq == stop_at or rng.random() < chance:
            reasons, weights = STOP_REASONS[posture]
            reason = StopReason.PAIN if planned.seq == stop_at else rng.choices(reasons, weights)[0]
            trial["outcome"] = Outcome.STOPPED.value
            trial["stop_reason"] = reason.value
            if planned.seq == stop_at or rng.random() < 0.5:
                trial["note"] = STOP_NOTES[reason]
            ended = planned.seq == stop_at
            continue
        seen = true + tester.bias + rng.gauss(0, tester.noise)
        felt = (
            5.7
            + person.insight * (true - 5.7)
            + person.generosity
            + FEELS[posture]
            + rng.gauss(0, 1.0)
        )
        if not blind:
            felt = 0.75 * felt + 0.25 * seen  # each sees the other's number: they drift together
        trial["outcome"] = Outcome.RATED.value
        trial["tester_stability"] = _scale(seen)
        trial["subject_ease"] = _scale(felt)
        if record_discomfort:
            trial["discomfort"] = _scale(
                DISCOMFORT_BASE[posture] + person.sensitivity + 0.3 * (6 - true) + rng.gauss(0, 0.9)
            )
        if record_effort:
            trial["tester_effort"] = _scale(tester.effort + 0.25 * (true - 5.5) + rng.gauss(0, 0.7))

    status = SessionStatus.STOPPED if ended else SessionStatus.COMPLETE
    clock += timedelta(seconds=rng.randint(10, 40) if ended else rng.randint(60, 150))
    session: Row = {
        "session_id": session_id,
        "subject": person.code,
        "tester": tester.code,
        "station": station,
        "position": person.position.value,
        "order_scheme": OrderScheme.BALANCED.value,
        "order_seed": None,
        "tests": ",".join(t.value for t in TESTS),
        "repetitions": repetitions,
        "blind": int(blind),
        "record_effort": int(record_effort),
        "record_discomfort": int(record_discomfort),
        "protocol_version": PROTOCOL_VERSION,
        "started_at": _stamp(started),
        "ended_at": _stamp(clock),
        "status": status.value,
        "safety_passed": 1,
        "cleared_by": None,
        "end_reason": None,
    }
    shared = {
        "session_id": session_id,
        "subject": person.code,
        "tester": tester.code,
        "station": station,
        "position": person.position.value,
        "order_scheme": OrderScheme.BALANCED.value,
        "session_started_at": session["started_at"],
        "session_status": status.value,
        "protocol_version": PROTOCOL_VERSION,
    }
    assert tuple(shared) == SESSION_LEVEL_TRIAL_COLUMNS
    study.sessions.append({c: session[c] for c in SESSION_COLUMNS})
    study.trials.extend({c: {**t, **shared}[c] for c in TRIAL_COLUMNS} for t in trials)
    answered = _stamp(started + timedelta(seconds=60))  # no draw: the rows above stay as they were
    study.safety_answers.extend(
        {"session_id": session_id, "question": key, "answer": 0, "answered_at": answered}
        for key in SAFETY_KEYS
    )
    _rankings(rng, study, session_id, trials)


def _rankings(rng: random.Random, study: SampleStudy, session_id: str, trials: list[Row]) -> None:
    """Each finished test ranked by both, mostly as their own ratings say, with some noise."""
    for test in dict.fromkeys(str(t["test"]) for t in trials):
        block = [t for t in trials if t["test"] == test]
        if any(t["outcome"] == Outcome.SKIPPED.value for t in block):
            continue  # the session ended before this test was finished
        rated = [t for t in block if t["outcome"] == Outcome.RATED.value]
        postures = [p for p in Posture if any(t["posture"] == p.value for t in rated)]
        if len(postures) < 2:
            continue
        last = max(str(t["rated_at"]) for t in block if t["rated_at"])
        ranked_at = _stamp(datetime.fromisoformat(last) + timedelta(seconds=40))
        for role, column in ((Role.TESTER, "tester_stability"), (Role.SUBJECT, "subject_ease")):
            scores = {}
            for p in postures:
                values = [int(str(t[column])) for t in rated if t["posture"] == p.value]
                scores[p] = sum(values) / len(values) + rng.gauss(0, 0.6)
            for rank, posture in enumerate(sorted(scores, key=lambda p: -scores[p]), start=1):
                row: Row = {
                    "session_id": session_id,
                    "test": test,
                    "role": role.value,
                    "posture": posture.value,
                    "rank": rank,
                    "ranked_at": ranked_at,
                }
                study.rankings.append({c: row[c] for c in RANKING_COLUMNS})


def generate(subjects: int, seed: int) -> SampleStudy:
    """The rows of a synthetic study of `subjects` people: the same seed, the same rows."""
    if subjects < 1:
        raise ValueError("a study needs at least one subject")
    rng = random.Random(seed)
    visits: list[tuple[datetime, int, Person]] = []
    for person, first_visit in _people(rng, subjects):
        visits.append((first_visit, person.enrolment_index, person))
        if rng.random() < 0.15:
            again = _follow_up(rng, first_visit)
            if again is not None:
                visits.append((again, person.enrolment_index, person))
    visits.sort(key=lambda v: (v[0], v[1]))
    early = min(2, len(visits) // 5)
    ends_early = set(rng.sample(range(len(visits)), early))
    study = SampleStudy(subjects=subjects, seed=seed)
    for number, (started, _, person) in enumerate(visits):
        _session(rng, study, person, started, number in ends_early)
    return study


def describe(subjects: int, seed: int) -> str:
    """The package's description: whoever opens only datapackage.json still sees it is made up."""
    return (
        "SYNTHETIC DATA, not from real people: generated by "
        f"`posturetest sample --subjects {subjects} --seed {seed}` (posturetest/sample.py) for "
        "trying the tools, the notebook and the docs. Do not use it as evidence about postures. "
        "Otherwise shaped exactly like an export: one row per trial in trials.csv; each "
        "person's ranking of the postures per test in rankings.csv; one row per session in "
        "sessions.csv."
    )


def write_sample(out_dir: Path, subjects: int, seed: int) -> SampleStudy:
    """Write the study as an export data package, through the store and the exporter.

    The rows go into an in-memory database by the import's own writer and come out by the
    export's own code, so the sample is exactly what a real study would look like.
    """
    from posturetest.export import datapackage_descriptor, write_datapackage
    from posturetest.store import Store
    from posturetest.store.import_writer import ImportWriter
    from posturetest.store.selection import Selection

    study = generate(subjects, seed)
    sessions = {str(s["session_id"]): s for s in study.sessions}
    with Store(":memory:") as store:
        writer = ImportWriter(store)
        with store.write():
            writer.add_trials(study.trials, sessions)
            writer.add_rankings(study.rankings)
            writer.add_safety_answers(study.safety_answers)
            writer.finish()
        descriptor = datapackage_descriptor(Selection())
        descriptor["title"] = TITLE
        descriptor["description"] = describe(subjects, seed)
        # every file appears at once, owner-only, in a folder made 0700
        write_datapackage(store, Selection(), out_dir, descriptor=descriptor)
    return study
