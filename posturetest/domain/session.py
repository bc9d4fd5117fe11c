"""A session as the domain sees it: its setup, its trials, and what comes next.

The next step is always worked out from what is stored, never from what a screen remembers,
so quitting, a crash or a resume on another day all land on the same step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

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
from posturetest.domain.scales import Scale, scales_for_session


@dataclass(frozen=True)
class SessionSetup:
    subject: str
    tester: str = ""
    position: Position = Position.SITTING
    tests: tuple[StressTest, ...] = (StressTest.VERTICAL, StressTest.ANTERIOR)
    repetitions: int = 1
    scheme: OrderScheme = OrderScheme.BALANCED
    blind: bool = False
    record_effort: bool = False
    record_discomfort: bool = True
    seed: int | None = None
    """Only for the random scheme."""


class EndReason(StrEnum):
    """Why a stopped session ended, when it was not an ordinary stop (schema 5 and later)."""

    DISCARDED = "discarded"
    """Started by mistake (a typo in the subject code, say) and discarded before it was done:
    kept, stopped, never offered for resume."""


@dataclass(frozen=True)
class Session:
    session_id: str
    subject: str
    tester: str
    station: str
    position: Position
    order_scheme: OrderScheme
    order_seed: int | None
    tests: tuple[StressTest, ...]
    repetitions: int
    blind: bool
    record_effort: bool
    record_discomfort: bool
    protocol_version: str
    started_at: str
    ended_at: str | None
    status: SessionStatus
    safety_passed: bool
    """The safety screen was answered and allowed the session to go on."""
    end_reason: EndReason | None = None
    """Set only on a stopped session that was discarded (see `EndReason`)."""

    @property
    def scales(self) -> tuple[Scale, ...]:
        return scales_for_session(
            record_effort=self.record_effort, record_discomfort=self.record_discomfort
        )


@dataclass(frozen=True)
class Trial:
    trial_id: str
    session_id: str
    seq: int
    test: StressTest
    posture: Posture
    rep: int
    outcome: Outcome
    stop_reason: StopReason | None = None
    ratings: dict[str, int | None] = field(default_factory=dict)
    rated_at: str | None = None
    note: str | None = None

    def rating(self, scale: Scale | str) -> int | None:
        name = scale if isinstance(scale, str) else scale.name
        return self.ratings.get(name)


@dataclass(frozen=True)
class Ranking:
    test: StressTest
    role: Role
    order: tuple[Posture, ...]
    """Best first: easiest for the subject, most stable for the tester."""


@dataclass(frozen=True)
class SafetyStep:
    pass


@dataclass(frozen=True)
class TrialStep:
    trial: Trial


@dataclass(frozen=True)
class RankingStep:
    test: StressTest
    roles: tuple[Role, ...]
    """Who still has to rank, in the order they are asked."""


@dataclass(frozen=True)
class FinishStep:
    """Every trial and ranking is in: the session can be marked complete."""


@dataclass(frozen=True)
class SummaryStep:
    """The session has ended (complete or stopped)."""


Step = SafetyStep | TrialStep | RankingStep | FinishStep | SummaryStep

RANKING_ROLES: tuple[Role, ...] = (Role.TESTER, Role.SUBJECT)


def test_blocks(trials: Sequence[Trial]) -> list[tuple[StressTest, list[Trial]]]:
    """Trials grouped by test, in the order the tests are run."""
    blocks: dict[StressTest, list[Trial]] = {}
    for trial in sorted(trials, key=lambda t: t.seq):
        blocks.setdefault(trial.test, []).append(trial)
    return list(blocks.items())


def rankable_postures(block: Iterable[Trial]) -> list[Posture]:
    """Postures with at least one rated trial: only these can be ranked."""
    rated = {t.posture for t in block if t.outcome is Outcome.RATED}
    return [p for p in Posture if p in rated]


def next_step(session: Session, trials: Sequence[Trial], rankings: Iterable[Ranking]) -> Step:
    if session.status is not SessionStatus.IN_PROGRESS:
        return SummaryStep()
    if not session.safety_passed:
        return SafetyStep()
    ranked = {(r.test, r.role) for r in rankings}
    for test, block in test_blocks(trials):
        pending = [t for t in block if t.outcome is Outcome.PENDING]
        if pending:
            return TrialStep(pending[0])
        if len(rankable_postures(block)) >= 2:
            missing = tuple(role for role in RANKING_ROLES if (test, role) not in ranked)
            if missing:
                return RankingStep(test, missing)
    return FinishStep()


def progress(trials: Sequence[Trial]) -> tuple[int, int]:
    """(trials done, trials in the plan)."""
    done = sum(1 for t in trials if t.outcome is not Outcome.PENDING)
    return done, len(trials)


@dataclass(frozen=True)
class PostureSummary:
    posture: Posture
    n_rated: int
    means: dict[str, float | None]
    """Mean of each scale over the rated trials of this posture in this test."""


@dataclass(frozen=True)
class StressTestSummary:
    test: StressTest
    postures: list[PostureSummary]
    rankings: dict[Role, tuple[Posture, ...]]

    def best_by_rank(self, role: Role) -> Posture | None:
        order = self.rankings.get(role)
        return order[0] if order else None

    @property
    def agree_on_best(self) -> bool | None:
        """Whether subject and tester ranked the same posture first (None until both ranked)."""
        subject, tester = self.best_by_rank(Role.SUBJECT), self.best_by_rank(Role.TESTER)
        if subject is None or tester is None:
            return None
        return subject is tester


def summarise(
    trials: Sequence[Trial], rankings: Iterable[Ranking], scales: Sequence[Scale]
) -> list[StressTestSummary]:
    by_test: dict[StressTest, dict[Role, tuple[Posture, ...]]] = {}
    for r in rankings:
        by_test.setdefault(r.test, {})[r.role] = r.order
    summaries = []
    for test, block in test_blocks(trials):
        postures = []
        for posture in Posture:
            rated = [t for t in block if t.posture is posture and t.outcome is Outcome.RATED]
            means: dict[str, float | None] = {}
            for scale in scales:
                values = [v for t in rated if (v := t.rating(scale)) is not None]
                means[scale.name] = sum(values) / len(values) if values else None
            postures.append(PostureSummary(posture, len(rated), means))
        summaries.append(StressTestSummary(test, postures, by_test.get(test, {})))
    return summaries
