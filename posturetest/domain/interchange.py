"""The interchange format: every exported column with its type, allowed values and meaning.

One definition drives the `trial_results` view's column order, the CSV header, the Frictionless
table schemas, the Markdown codebook, import validation and the Datasette metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from posturetest.domain.plan import MAX_REPETITIONS
from posturetest.domain.protocol import (
    NOTE_RULE,
    SUBJECT_CODE_REGEX,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.safety import SAFETY_KEYS, SAFETY_QUESTIONS
from posturetest.domain.scales import (
    DISCOMFORT,
    SUBJECT_EASE,
    TESTER_EFFORT,
    TESTER_STABILITY,
    Scale,
)
from posturetest.domain.session import EndReason

UUID_PATTERN = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
DATETIME_PATTERN = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"
SUBJECT_PATTERN = SUBJECT_CODE_REGEX


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    """Frictionless type: string, integer or datetime."""
    description: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    minimum: int | None = None
    maximum: int | None = None
    pattern: str | None = None
    scale: Scale | None = None
    note_rule: bool = False
    """Free text under NOTE_RULE (length and characters)."""
    identifying: bool = False
    """Blanked by a de-identified export (free text and quasi-identifiers)."""

    @property
    def title(self) -> str:
        return self.name.replace("_", " ").capitalize()


def _enum(enum: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in enum)


def _uuid(name: str, description: str) -> Field:
    return Field(name, "string", description, required=True, pattern=UUID_PATTERN)


def _rating(scale: Scale, when: str) -> Field:
    return Field(
        scale.name,
        "integer",
        f"{scale.description} {scale.minimum} = {scale.low_word}, {scale.maximum} = "
        f"{scale.high_word} (scale {scale.name} v{scale.version}). {when}",
        minimum=scale.minimum,
        maximum=scale.maximum,
        scale=scale,
    )


SUBJECT = Field(
    "subject",
    "string",
    "Pseudonymous subject code (never a name). In a de-identified export, a study id that "
    "cannot be traced back without the database.",
    required=True,
    pattern=SUBJECT_PATTERN,
)

TRIAL_FIELDS: tuple[Field, ...] = (
    _uuid("trial_id", "Unique id of the trial."),
    _uuid("session_id", "Unique id of the session the trial belongs to."),
    SUBJECT,
    Field("tester", "string", "Who applied the tests; may be empty.", identifying=True),
    Field(
        "station", "string", "Which machine recorded the session; may be empty.", identifying=True
    ),
    Field(
        "position",
        "string",
        "Whether the subject sat or stood.",
        required=True,
        enum=_enum(Position),
    ),
    Field(
        "order_scheme",
        "string",
        "How the posture order was chosen: balanced (Latin square across subjects), "
        "random (seeded) or fixed.",
        required=True,
        enum=_enum(OrderScheme),
    ),
    Field("session_started_at", "datetime", "When the session started (UTC).", required=True),
    Field(
        "session_status",
        "string",
        "Whether the session is in progress, complete or stopped.",
        required=True,
        enum=_enum(SessionStatus),
    ),
    Field(
        "protocol_version",
        "string",
        "Version of the protocol (wording, scales, plan rules).",
        required=True,
    ),
    Field(
        "test",
        "string",
        "Stress test: vertical (shoulders pressed down from behind) or "
        "anterior (upturned palms pressed down).",
        required=True,
        enum=_enum(StressTest),
    ),
    Field(
        "posture",
        "string",
        "Posture type: ligament (slumped), muscle (hollow back, held by "
        "effort) or skeleton (stacked, neutral).",
        required=True,
        enum=_enum(Posture),
    ),
    Field(
        "rep",
        "integer",
        "Repetition of this posture within the test.",
        required=True,
        minimum=1,
        maximum=MAX_REPETITIONS,
    ),
    Field(
        "seq",
        "integer",
        "1-based position of the trial in its session (the order actually used).",
        required=True,
        minimum=1,
    ),
    Field(
        "outcome",
        "string",
        "pending (not done yet), rated, stopped (ended early) or "
        "skipped (the session ended first).",
        required=True,
        enum=_enum(Outcome),
    ),
    Field(
        "stop_reason",
        "string",
        "Why the trial was stopped; only when outcome is stopped.",
        enum=_enum(StopReason),
    ),
    _rating(TESTER_STABILITY, "Only when outcome is rated."),
    _rating(SUBJECT_EASE, "Only when outcome is rated."),
    _rating(DISCOMFORT, "Optional."),
    _rating(TESTER_EFFORT, "Optional."),
    Field("rated_at", "datetime", "When the trial was rated or stopped (UTC)."),
    Field(
        "note",
        "string",
        f"Free-text note; may be empty; {NOTE_RULE}.",
        identifying=True,
        note_rule=True,
    ),
)
_TRIAL_FIELD: dict[str, Field] = {f.name: f for f in TRIAL_FIELDS}
RATING_COLUMNS: tuple[str, ...] = tuple(f.name for f in TRIAL_FIELDS if f.scale is not None)
"""The ratings' columns, in the order of a trial row."""

RANKING_FIELDS: tuple[Field, ...] = (
    _uuid("session_id", "Unique id of the session."),
    Field(
        "test",
        "string",
        "The stress test whose postures were ranked.",
        required=True,
        enum=_enum(StressTest),
    ),
    Field(
        "role",
        "string",
        "Who ranked: the subject (easiest first) or the tester (most stable first).",
        required=True,
        enum=_enum(Role),
    ),
    Field("posture", "string", "The posture ranked.", required=True, enum=_enum(Posture)),
    Field(
        "rank",
        "integer",
        "1 = easiest for the subject, most stable for the tester.",
        required=True,
        minimum=1,
        maximum=len(Posture),
    ),
    Field("ranked_at", "datetime", "When the ranking was saved (UTC).", required=True),
)
RANKING_OPTIONAL: frozenset[str] = frozenset({"ranked_at"})
"""Columns a rankings file written before they existed may lack (the import stamps its time)."""

SAFETY_ANSWER_FIELDS: tuple[Field, ...] = (
    _uuid("session_id", "Unique id of the session whose safety check this answers."),
    Field(
        "question",
        "string",
        "Which safety question: " + "; ".join(f"{q.key} ({q.text})" for q in SAFETY_QUESTIONS),
        required=True,
        enum=SAFETY_KEYS,
    ),
    Field(
        "answer",
        "integer",
        "1 = yes (a reason not to apply pressure), 0 = no.",
        required=True,
        minimum=0,
        maximum=1,
    ),
    Field("answered_at", "datetime", "When the safety check was answered (UTC).", required=True),
)

CORRECTION_FIELDS: tuple[Field, ...] = (
    _uuid("correction_id", "Unique id of the correction."),
    _uuid("trial_id", "The trial whose rating was changed or withdrawn."),
    Field(
        "field",
        "string",
        "Which rating changed.",
        required=True,
        enum=RATING_COLUMNS,
    ),
    Field(
        "old_value",
        "integer",
        "The value before the change (0-10).",
        minimum=0,
        maximum=10,
    ),
    Field(
        "new_value",
        "integer",
        "The value after the change (0-10); empty when the rating was withdrawn because the "
        "trial or the session was stopped.",
        minimum=0,
        maximum=10,
    ),
    Field(
        "reason",
        "string",
        "Why: typed by the tester, or 'trial stopped' / 'session stopped' / "
        "'session discarded'; may be empty.",
        identifying=True,
    ),
    Field("corrected_at", "datetime", "When the change was made (UTC).", required=True),
)

SESSION_FIELDS: tuple[Field, ...] = (
    _uuid("session_id", "Unique id of the session."),
    SUBJECT,
    _TRIAL_FIELD["tester"],
    _TRIAL_FIELD["station"],
    _TRIAL_FIELD["position"],
    _TRIAL_FIELD["order_scheme"],
    Field("order_seed", "integer", "Seed of the random posture order; only for random."),
    Field(
        "tests",
        "string",
        "The tests of the session, comma-separated, in the order run.",
        required=True,
        pattern="(vertical|anterior)(,(vertical|anterior))?",
    ),
    Field(
        "repetitions",
        "integer",
        "Repetitions of each posture per test.",
        required=True,
        minimum=1,
        maximum=MAX_REPETITIONS,
    ),
    Field(
        "blind",
        "integer",
        "1 when each rating was hidden from the other person until both were in.",
        required=True,
        minimum=0,
        maximum=1,
    ),
    Field(
        "record_effort",
        "integer",
        "1 when the tester rated how hard they pressed.",
        required=True,
        minimum=0,
        maximum=1,
    ),
    Field(
        "record_discomfort",
        "integer",
        "1 when the subject rated discomfort.",
        required=True,
        minimum=0,
        maximum=1,
    ),
    _TRIAL_FIELD["protocol_version"],
    Field("started_at", "datetime", "When the session started (UTC).", required=True),
    Field("ended_at", "datetime", "When the session ended (UTC); empty while in progress."),
    Field(
        "status",
        "string",
        "Whether the session is in progress, complete or stopped.",
        required=True,
        enum=_enum(SessionStatus),
    ),
    Field(
        "safety_passed",
        "integer",
        "1 when the safety check allowed pressure.",
        required=True,
        minimum=0,
        maximum=1,
    ),
    Field(
        "cleared_by",
        "string",
        "Clinician who cleared the subject despite a yes on the safety check; empty otherwise.",
        identifying=True,
    ),
    Field(
        "end_reason",
        "string",
        "Why a stopped session ended, when it was not an ordinary stop: discarded (started "
        "by mistake, e.g. a mistyped subject code, and discarded unfinished; kept, never "
        "resumed). Only when status is stopped; empty otherwise.",
        enum=_enum(EndReason),
    ),
)
SESSION_OPTIONAL: frozenset[str] = frozenset({"end_reason"})
"""Columns a sessions file written before they existed may lack (its rows then have none)."""

TRIAL_COLUMNS: tuple[str, ...] = tuple(f.name for f in TRIAL_FIELDS)
RANKING_COLUMNS: tuple[str, ...] = tuple(f.name for f in RANKING_FIELDS)
SESSION_COLUMNS: tuple[str, ...] = tuple(f.name for f in SESSION_FIELDS)
SAFETY_ANSWER_COLUMNS: tuple[str, ...] = tuple(f.name for f in SAFETY_ANSWER_FIELDS)
CORRECTION_COLUMNS: tuple[str, ...] = tuple(f.name for f in CORRECTION_FIELDS)
SESSION_LEVEL_TRIAL_COLUMNS: tuple[str, ...] = (
    "session_id",
    "subject",
    "tester",
    "station",
    "position",
    "order_scheme",
    "session_started_at",
    "session_status",
    "protocol_version",
)
"""The columns of a trial row that describe its session: equal on every row of one session."""
TRIAL_TABLE_COLUMNS: tuple[str, ...] = tuple(
    c for c in TRIAL_COLUMNS if c == "session_id" or c not in SESSION_LEVEL_TRIAL_COLUMNS
)
"""The columns of a trial row stored in the trials table itself."""

DEIDENTIFIED = (
    "A de-identified export (--deidentify) replaces subject codes by study ids and every trial, "
    "session and correction id by new ids (keyed hashes with this database's own secret: the "
    "same in every export of one database, not traceable without it); cuts every time to the "
    "day (shown as midnight UTC; the order within a session stays in seq); and leaves out the "
    "tester, the station, notes, the clinician's clearance name and the text of corrections. "
    "It does not make the data anonymous: in small groups a person can still be recognised "
    "from the day, the position and the ratings."
)
"""What --deidentify changes, said once for the help, the codebook and the README."""
