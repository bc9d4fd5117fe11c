"""The protocol: postures, stress tests, positions and the words that guide the pair.

Pure data. The TUI's cards, the database CHECK constraints and (later) the export's table
schema are all built from these definitions, so a posture cannot exist in one place only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

PROTOCOL_VERSION = "1.0"
"""Bumped whenever wording, scales or the plan rules change; stored with every session."""

SUBJECT_CODE_MAX_LENGTH = 32
SUBJECT_CODE_CHARACTERS = "A-Za-z0-9_-"
"""The characters of a subject code, as a character class (a regex's and SQLite GLOB's alike)."""
SUBJECT_CODE_REGEX = rf"[{SUBJECT_CODE_CHARACTERS}]{{1,{SUBJECT_CODE_MAX_LENGTH}}}"
"""A subject code, as a regular expression: the one definition the app, the database's CHECK,
the import and the data package's schema all keep."""
SUBJECT_CODE_PATTERN = re.compile(SUBJECT_CODE_REGEX)
SUBJECT_CODE_RULE = f"1-{SUBJECT_CODE_MAX_LENGTH} letters, digits, '-' or '_'"

NOTE_MAX_LENGTH = 2000
"""The longest note, in characters."""
NOTE_CONTROL_CODES: tuple[int, ...] = (*range(0, 9), 11, 12, *range(14, 32), 127)
"""The characters a note may not hold: control characters other than tab, line feed and
carriage return (a NUL cut notes short in CSV; the others are invisible or move the cursor)."""
NOTE_RULE = (
    f"at most {NOTE_MAX_LENGTH:,} characters, with no control characters other than tab and "
    "line breaks"
)
_CONTROL_CLASS = "".join(re.escape(chr(c)) for c in NOTE_CONTROL_CODES)
NOTE_FORBIDDEN = re.compile(f"[{_CONTROL_CLASS}]")
NOTE_PATTERN = f"[^{_CONTROL_CLASS}]*"
"""The characters of NOTE_RULE as a pattern a whole note matches (for table schemas)."""


def note_problem(note: str) -> str | None:
    """What is wrong with a note under NOTE_RULE, or None."""
    if len(note) > NOTE_MAX_LENGTH:
        return f"{len(note):,} characters, more than the {NOTE_MAX_LENGTH:,} a note may have"
    found = NOTE_FORBIDDEN.search(note)
    if found:
        code = ord(found.group())
        return (
            f"holds the control character U+{code:04X} at character {found.start() + 1}; "
            "a note may hold tab and line breaks, no other control characters"
        )
    return None


class Posture(StrEnum):
    LIGAMENT = "ligament"
    MUSCLE = "muscle"
    SKELETON = "skeleton"


class StressTest(StrEnum):
    VERTICAL = "vertical"
    ANTERIOR = "anterior"


class Position(StrEnum):
    SITTING = "sitting"
    STANDING = "standing"


class OrderScheme(StrEnum):
    BALANCED = "balanced"
    RANDOM = "random"
    FIXED = "fixed"


class Outcome(StrEnum):
    PENDING = "pending"
    RATED = "rated"
    STOPPED = "stopped"
    SKIPPED = "skipped"


class StopReason(StrEnum):
    PAIN = "pain"
    DISCOMFORT = "discomfort"
    COULD_NOT_HOLD = "could_not_hold"
    OTHER = "other"


class SessionStatus(StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETE = "complete"
    STOPPED = "stopped"


class Role(StrEnum):
    SUBJECT = "subject"
    TESTER = "tester"


@dataclass(frozen=True)
class PostureCard:
    label: str
    summary: str
    how_to: dict[Position, str]


@dataclass(frozen=True)
class StressTestCard:
    label: str
    tester_does: str
    subject_does: str


POSTURES: dict[Posture, PostureCard] = {
    Posture.LIGAMENT: PostureCard(
        label="Ligament type",
        summary="Slumped: the pelvis rolls back and ligaments and fascia take the weight.",
        how_to={
            Position.SITTING: (
                "Let yourself sink: roll the pelvis back onto the tailbone, let the lower back "
                "round and the chest drop. Relax into it and stay there."
            ),
            Position.STANDING: (
                "Let the hips drift forward and the upper back round, as if leaning on your own "
                "ligaments. Let the chest sag and stay there."
            ),
        },
    ),
    Posture.MUSCLE: PostureCard(
        label="Muscle type",
        summary="Held up by effort: hollow lower back, pelvis tipped forward, shoulders raised.",
        how_to={
            Position.SITTING: (
                "Sit up hard: tip the pelvis forward so the lower back hollows, push the chest up "
                "and let the shoulders rise a little. Hold it."
            ),
            Position.STANDING: (
                "Stand to attention: arch the lower back, tip the pelvis forward, lift the chest "
                "and hitch the shoulders up a little. Hold it."
            ),
        },
    ),
    Posture.SKELETON: PostureCard(
        label="Skeleton type",
        summary="Stacked: joints in line, spine neutral, the bones carry the load.",
        how_to={
            Position.SITTING: (
                "Sit on both sit bones with the pelvis upright, neither rolled back nor tipped "
                "forward. Stack ribs over pelvis and head over ribs; let the shoulders rest."
            ),
            Position.STANDING: (
                "Feet under the hips, knees soft. Stack pelvis, ribs and head over each other "
                "with the spine in its neutral curves; let the shoulders rest."
            ),
        },
    ),
}

TESTS: dict[StressTest, StressTestCard] = {
    StressTest.VERTICAL: StressTestCard(
        label="Vertical test",
        tester_does=(
            "Stand behind the subject. Rest both hands on top of the shoulders and press straight "
            "down, slowly and steadily. Feel whether the trunk stays still or gives way."
        ),
        subject_does=(
            "Keep the posture while the tester presses down on your shoulders. Notice whether you "
            "stay where you were or feel squashed."
        ),
    ),
    StressTest.ANTERIOR: StressTestCard(
        label="Anterior test",
        tester_does=(
            "Stand in front or beside. Press down on both upturned palms, slowly and evenly. Feel "
            "whether the body stays still or folds forward."
        ),
        subject_does=(
            "Hold both palms up at your sides, elbows bent, like carrying a tray. Keep the posture "
            "while the tester presses your palms down."
        ),
    ),
}

POSTURE_COLOURS: dict[Posture, str] = {
    Posture.LIGAMENT: "#E69F00",  # Okabe-Ito orange
    Posture.MUSCLE: "#56B4E9",  # Okabe-Ito sky blue
    Posture.SKELETON: "#009E73",  # Okabe-Ito bluish green
}
"""One colour per posture in every chart, terminal or image; safe for colour-blind readers."""

POSITION_LABELS: dict[Position, str] = {
    Position.SITTING: "Sitting",
    Position.STANDING: "Standing",
}

STOP_REASON_LABELS: dict[StopReason, str] = {
    StopReason.PAIN: "Pain",
    StopReason.DISCOMFORT: "Discomfort",
    StopReason.COULD_NOT_HOLD: "Could not hold the posture",
    StopReason.OTHER: "Other reason",
}

SESSION_STATUS_LABELS: dict[SessionStatus, str] = {
    SessionStatus.IN_PROGRESS: "in progress",
    SessionStatus.COMPLETE: "complete",
    SessionStatus.STOPPED: "stopped early",
}
"""A session's status as every screen and the report say it."""

ORDER_SCHEME_LABELS: dict[OrderScheme, str] = {
    OrderScheme.BALANCED: "Balanced (each posture order used equally across subjects)",
    OrderScheme.RANDOM: "Random (seeded; the seed is stored)",
    OrderScheme.FIXED: "Fixed (ligament, muscle, skeleton)",
}


def is_valid_subject_code(code: str) -> bool:
    return SUBJECT_CODE_PATTERN.fullmatch(code) is not None


def subject_code_problem(code: str) -> str | None:
    """What is wrong with a subject code, in a few words (None when it is fine)."""
    if not code:
        return "a subject code is needed"
    if any(c.isspace() for c in code):
        return "no spaces in a subject code"
    if len(code) > SUBJECT_CODE_MAX_LENGTH:
        return f"too long: {len(code)} characters, at most {SUBJECT_CODE_MAX_LENGTH}"
    bad = sorted({c for c in code if not SUBJECT_CODE_PATTERN.fullmatch(c)})
    if bad:
        listed = " ".join(repr(c) for c in bad[:3])
        return f"only letters A-Z, digits, '-' and '_' ({listed} not allowed)"
    return None


TESTER_MAX_LENGTH = 64
CLINICIAN_MAX_LENGTH = 80
CORRECTION_REASON_MAX_LENGTH = 200


def short_text_problem(text: str, limit: int) -> str | None:
    """A one-line field (tester, clinician, correction reason) that is too long or holds a line
    break or another control character."""
    if len(text) > limit:
        return f"too long: {len(text)} characters, at most {limit}"
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return "no line breaks or control characters"
    return None
