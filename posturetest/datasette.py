"""Datasette metadata: titles, column descriptions, units and scale wording for the database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from posturetest.domain import PROTOCOL_VERSION, REQUIRED_SCALES
from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_FIELDS,
    SAFETY_ANSWER_FIELDS,
    SESSION_FIELDS,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    Field,
)

_UNITS = {
    f.scale.name: f"points ({f.scale.minimum}-{f.scale.maximum})"
    for f in TRIAL_FIELDS
    if f.scale is not None
}
"""Every rating column's unit and range, in the trial table's column order."""
_RANGE = f"{min(s.minimum for s in REQUIRED_SCALES)}-{max(s.maximum for s in REQUIRED_SCALES)}"
"""The range of the ratings every rated trial has, for the database's description."""


def _columns(fields: tuple[Field, ...]) -> dict[str, str]:
    return {f.name: f.description for f in fields}


def metadata(db_path: Path) -> dict[str, Any]:
    """Metadata for `datasette DB --metadata FILE`, keyed by the database's file stem."""
    session_columns = _columns(SESSION_FIELDS)
    session_columns.pop("subject")
    session_columns["subject_id"] = "Id of the subject (see the subjects table)."
    return {
        "title": "posturetest",
        "description": (
            "Posture stress tests: the vertical and anterior tests in the ligament, muscle and "
            f"skeleton posture types, rated {_RANGE} by subject and tester. "
            f"Protocol {PROTOCOL_VERSION}."
        ),
        "databases": {
            db_path.stem: {
                "tables": {
                    "trial_results": {
                        "title": "Trial results (one row per trial)",
                        "description": "The interchange format: what exports and charts read.",
                        "columns": _columns(TRIAL_FIELDS),
                        "units": dict(_UNITS),
                        "sort": "session_started_at",
                    },
                    "rankings": {
                        "title": "Rankings of the postures",
                        "description": "One row per person, test and posture.",
                        "columns": _columns(RANKING_FIELDS),
                    },
                    "sessions": {
                        "title": "Sessions",
                        "description": "One row per session; the subject is a pseudonymous code.",
                        "columns": session_columns,
                    },
                    "trials": {
                        "title": "Trials (raw)",
                        "description": "The stored trials; trial_results adds session columns.",
                        "columns": {
                            f.name: f.description
                            for f in TRIAL_FIELDS
                            if f.name in TRIAL_TABLE_COLUMNS
                        },
                        "units": dict(_UNITS),
                    },
                    "corrections": {
                        "title": "Corrections (audit trail)",
                        "description": "Every change to a confirmed rating: old, new, when, why.",
                        "columns": _columns(CORRECTION_FIELDS),
                    },
                    "subjects": {
                        "title": "Subjects",
                        "description": "Pseudonymous codes in order of enrolment.",
                    },
                    "safety_answers": {
                        "title": "Safety check answers",
                        "description": "1 = yes. Any yes stops a session unless a clinician "
                        "cleared the subject.",
                        "columns": _columns(SAFETY_ANSWER_FIELDS),
                    },
                    "meta": {"hidden": True},
                }
            }
        },
    }
