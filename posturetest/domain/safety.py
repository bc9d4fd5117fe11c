"""The safety screen asked before any pressure is applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SafetyQuestion:
    key: str
    """Stored in the database; never reworded."""
    text: str


SAFETY_QUESTIONS: tuple[SafetyQuestion, ...] = (
    SafetyQuestion(
        "osteoporosis", "Known osteoporosis, or a bone that broke from a minor fall or knock?"
    ),
    SafetyQuestion(
        "spine_injury", "An injury to the spine, or spinal surgery, in the last 12 months?"
    ),
    SafetyQuestion(
        "spinal_condition",
        "A diagnosed spinal condition: disc herniation, spinal stenosis or a spinal infection?",
    ),
    SafetyQuestion("severe_pain", "Severe pain anywhere right now?"),
    SafetyQuestion("pregnancy", "Pregnant, or could be?"),
)
SAFETY_KEYS: tuple[str, ...] = tuple(q.key for q in SAFETY_QUESTIONS)


def may_proceed(answers: Mapping[str, bool], *, cleared_by_clinician: bool) -> bool:
    """Every question must be answered; any yes stops the session unless a clinician cleared it."""
    if set(answers) != set(SAFETY_KEYS):
        return False
    return cleared_by_clinician or not any(answers.values())
