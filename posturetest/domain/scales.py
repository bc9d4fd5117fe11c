"""Every rating scale, defined once: range, question, and the words at both ends."""

from __future__ import annotations

from dataclasses import dataclass

from posturetest.domain.protocol import Role


@dataclass(frozen=True)
class Scale:
    name: str
    """Column name in the database and in every export."""
    role: Role
    """Who gives this rating."""
    question: str
    low_word: str
    high_word: str
    description: str
    minimum: int = 0
    maximum: int = 10
    version: str = "1"
    """Changes whenever the wording or the range changes, so old numbers stay interpretable."""

    def is_valid(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.minimum <= value <= self.maximum
        )

    @property
    def values(self) -> range:
        return range(self.minimum, self.maximum + 1)


TESTER_STABILITY = Scale(
    name="tester_stability",
    role=Role.TESTER,
    question="Tester: how stable and motionless did the subject stay?",
    low_word="collapsed",
    high_word="rock steady",
    description=(
        "How stable and motionless the subject stayed under the pressure, rated by the tester."
    ),
)
TESTER_EFFORT = Scale(
    name="tester_effort",
    role=Role.TESTER,
    question="Tester: how hard did you press?",
    low_word="barely touching",
    high_word="as hard as safe",
    description="How hard the tester pressed, so stability can be read against the load.",
)
SUBJECT_EASE = Scale(
    name="subject_ease",
    role=Role.SUBJECT,
    question="Subject: how easily did you keep your position?",
    low_word="could not hold it",
    high_word="effortless",
    description=(
        "How easily the subject stayed in the original position instead of feeling compressed, "
        "rated by the subject."
    ),
)
DISCOMFORT = Scale(
    name="discomfort",
    role=Role.SUBJECT,
    question="Subject: how much discomfort did you feel?",
    low_word="none",
    high_word="severe",
    description="Discomfort the subject felt during the trial, rated by the subject.",
)

SCALES: dict[str, Scale] = {
    s.name: s for s in (TESTER_STABILITY, TESTER_EFFORT, SUBJECT_EASE, DISCOMFORT)
}
REQUIRED_SCALES: tuple[Scale, ...] = (TESTER_STABILITY, SUBJECT_EASE)
"""A trial is rated once these are in (plus whichever optional scales the session asks for)."""


def scales_for_session(*, record_effort: bool, record_discomfort: bool) -> tuple[Scale, ...]:
    """The scales asked after each trial, in asking order: tester first, then subject."""
    asked = [TESTER_STABILITY]
    if record_effort:
        asked.append(TESTER_EFFORT)
    asked.append(SUBJECT_EASE)
    if record_discomfort:
        asked.append(DISCOMFORT)
    return tuple(asked)


SESSION_CHART_BARS: tuple[Scale, ...] = (SUBJECT_EASE, TESTER_STABILITY)
"""A session's chart, in every medium (PNG, PDF, the terminal): per posture, the subject's mean
ease first (left, solid), then the tester's mean stability (right, pale and hatched)."""
SESSION_CHART_LABELS: dict[str, str] = {
    SUBJECT_EASE.name: "Subject: ease",
    TESTER_STABILITY.name: "Tester: stability",
}
"""The key's words for those bars, by scale name: the PNG's legend starts with them (then the
question), the terminal's key is them; short enough for the terminal at 80 columns."""
