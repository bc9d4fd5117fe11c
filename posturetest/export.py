"""Exports: CSV, JSON, a Frictionless data package and a Markdown codebook.

Everything is built from `posturetest.domain.interchange`, so the files, their table schemas
and the codebook cannot disagree. Nothing here knows about the TUI.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from posturetest import __version__
from posturetest.domain import NOTE_MAX_LENGTH, NOTE_RULE, PROTOCOL_VERSION, SCALES
from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    CORRECTION_FIELDS,
    DEIDENTIFIED,
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SAFETY_ANSWER_COLUMNS,
    SAFETY_ANSWER_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
    Field,
)
from posturetest.domain.protocol import NOTE_PATTERN
from posturetest.store import Store
from posturetest.store.export_sql import (
    correction_lines,
    count_trials,
    ranking_lines,
    safety_lines,
    session_lines,
    trial_lines,
)
from posturetest.store.selection import Selection

Progress = Callable[[int], None]
"""Called with the number of rows just written."""

FORMATS = ("csv", "json", "datapackage", "codebook")


def _write_lines(
    out: TextIO,
    header: Iterable[str],
    batches: Iterator[list[str]],
    progress: Progress | None,
    line: Callable[[str], str] | None = None,
) -> int:
    """The header and the lines, each ended by a newline; `line` rewrites each line first."""
    out.write(",".join(header) + "\n")
    written = 0
    for batch in batches:
        out.write("\n".join(batch if line is None else map(line, batch)))
        out.write("\n")
        written += len(batch)
        if progress:
            progress(len(batch))
    return written


def write_csv(
    store: Store,
    selection: Selection,
    out: TextIO,
    progress: Progress | None = None,
    *,
    spreadsheet: bool = False,
) -> int:
    """The trials as tidy long CSV: one row per trial, the interchange columns in order.

    Exact by default (for R, pandas and the import). `spreadsheet` is for Excel and LibreOffice:
    a byte order mark first, and every cell that would start a formula begins with an
    apostrophe (see `outputs.spreadsheet_line`).
    """
    batches = trial_lines(store, selection, fmt="csv")
    if not spreadsheet:
        return _write_lines(out, TRIAL_COLUMNS, batches, progress)
    from posturetest.outputs import SPREADSHEET_BOM, spreadsheet_line

    out.write(SPREADSHEET_BOM)
    return _write_lines(out, TRIAL_COLUMNS, batches, progress, spreadsheet_line)


def write_json(
    store: Store, selection: Selection, out: TextIO, progress: Progress | None = None
) -> int:
    """The trials as a JSON array of objects (missing values are null)."""
    out.write("[")
    written = 0
    for batch in trial_lines(store, selection, fmt="json"):
        out.write(",\n" if written else "\n")
        out.write(",\n".join(batch))
        written += len(batch)
        if progress:
            progress(len(batch))
    out.write("\n]\n" if written else "]\n")
    return written


def count(store: Store, selection: Selection) -> int:
    return count_trials(store, selection)


# -- Frictionless data package ---------------------------------------------------------------


def field_schema(f: Field) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "name": f.name,
        "title": f.title,
        "type": f.type,
        "description": f.description,
    }
    constraints: dict[str, Any] = {}
    if f.required:
        constraints["required"] = True
    if f.enum:
        constraints["enum"] = list(f.enum)
    if f.minimum is not None:
        constraints["minimum"] = f.minimum
    if f.maximum is not None:
        constraints["maximum"] = f.maximum
    if f.pattern:
        constraints["pattern"] = f.pattern
    if f.note_rule:
        constraints["maxLength"] = NOTE_MAX_LENGTH
        constraints["pattern"] = NOTE_PATTERN
    if constraints:
        schema["constraints"] = constraints
    if f.scale is not None:
        schema["scale"] = {
            "name": f.scale.name,
            "version": f.scale.version,
            "question": f.scale.question,
            "minimum": {"value": f.scale.minimum, "label": f.scale.low_word},
            "maximum": {"value": f.scale.maximum, "label": f.scale.high_word},
        }
    return schema


def _resource(
    name: str,
    description: str,
    fields: tuple[Field, ...],
    primary_key: list[str],
    foreign_keys: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "fields": [field_schema(f) for f in fields],
        "primaryKey": primary_key,
        "missingValues": [""],
    }
    if foreign_keys:
        schema["foreignKeys"] = foreign_keys
    return {
        "name": name,
        "path": f"{name}.csv",
        "profile": "tabular-data-resource",
        "description": description,
        "format": "csv",
        "mediatype": "text/csv",
        "encoding": "utf-8",
        "schema": schema,
    }


def _to_sessions(column: str) -> dict[str, Any]:
    return {"fields": [column], "reference": {"resource": "sessions", "fields": ["session_id"]}}


def datapackage_descriptor(selection: Selection) -> dict[str, Any]:
    return {
        "profile": "tabular-data-package",
        "name": "posturetest-export",
        "title": "Posture stress tests",
        "description": (
            "Ratings of posture stress tests (vertical and anterior) in three posture types "
            "(ligament, muscle, skeleton), recorded with posturetest. One row per trial in "
            "trials.csv; each person's ranking of the postures per test in rankings.csv; "
            "one row per session in sessions.csv; the safety check's answers in "
            "safety_answers.csv; every change to a saved rating (the audit trail) in "
            "corrections.csv."
            + (
                " De-identified: subject codes replaced by study ids, free text and names removed."
                if selection.deidentify
                else ""
            )
        ),
        "version": PROTOCOL_VERSION,
        "posturetest": {
            "version": __version__,
            "protocol_version": PROTOCOL_VERSION,
            "scales": {n: s.version for n, s in SCALES.items()},
            "deidentified": selection.deidentify,
        },
        "resources": [
            _resource(
                "trials",
                "One row per trial: the interchange format.",
                TRIAL_FIELDS,
                ["trial_id"],
                [_to_sessions("session_id")],
            ),
            _resource(
                "rankings",
                "One row per person, test and posture.",
                RANKING_FIELDS,
                ["session_id", "test", "role", "posture"],
                [_to_sessions("session_id")],
            ),
            _resource("sessions", "One row per session.", SESSION_FIELDS, ["session_id"]),
            _resource(
                "safety_answers",
                "One row per session and safety question, as answered before any pressure.",
                SAFETY_ANSWER_FIELDS,
                ["session_id", "question"],
                [_to_sessions("session_id")],
            ),
            _resource(
                "corrections",
                "The audit trail: one row per change to a saved rating, including ratings "
                "withdrawn when a trial or session was stopped.",
                CORRECTION_FIELDS,
                ["correction_id"],
                [
                    {
                        "fields": ["trial_id"],
                        "reference": {"resource": "trials", "fields": ["trial_id"]},
                    }
                ],
            ),
        ],
    }


DATAPACKAGE_MEMBERS = (
    "sessions.csv",
    "rankings.csv",
    "trials.csv",
    "safety_answers.csv",
    "corrections.csv",
    "datapackage.json",
)
"""The files a data package folder holds."""


def write_datapackage(
    store: Store,
    selection: Selection,
    out_dir: Path,
    progress: Progress | None = None,
    *,
    descriptor: dict[str, Any] | None = None,
) -> int:
    """Every file of `DATAPACKAGE_MEMBERS` in `out_dir`: the tables and a datapackage.json
    describing them (`descriptor`, else the export's own). They appear together or not at all,
    each readable by its owner only, in a folder made 0700 (see `outputs.atomic_folder`)."""
    from posturetest.outputs import atomic_folder, private_text

    tables: dict[str, tuple[tuple[str, ...], Callable[[Store, Selection], Iterator[list[str]]]]]
    tables = {  # each table but trials.csv: its columns and the lines of its rows
        "sessions.csv": (SESSION_COLUMNS, session_lines),
        "rankings.csv": (RANKING_COLUMNS, ranking_lines),
        "safety_answers.csv": (SAFETY_ANSWER_COLUMNS, safety_lines),
        "corrections.csv": (CORRECTION_COLUMNS, correction_lines),
    }
    if descriptor is None:
        descriptor = datapackage_descriptor(selection)
    written = 0
    with atomic_folder(out_dir, DATAPACKAGE_MEMBERS) as folder:
        for name in DATAPACKAGE_MEMBERS:
            with private_text(folder / name) as out:
                if name == "trials.csv":
                    written = write_csv(store, selection, out, progress)
                elif name == "datapackage.json":
                    out.write(json.dumps(descriptor, indent=2) + "\n")
                else:
                    columns, lines = tables[name]
                    _write_lines(out, columns, lines(store, selection), None)
    return written


# -- codebook ----------------------------------------------------------------------------------


def _allowed(f: Field) -> str:
    if f.note_rule:
        return f"text: {NOTE_RULE}"
    if f.enum:
        return ", ".join(f"`{v}`" for v in f.enum)
    if f.scale is not None:
        s = f.scale
        return f"{s.minimum}-{s.maximum} ({s.minimum} = {s.low_word}, {s.maximum} = {s.high_word})"
    if f.minimum is not None or f.maximum is not None:
        low = "" if f.minimum is None else str(f.minimum)
        high = "" if f.maximum is None else str(f.maximum)
        return f"{low}-{high}" if high else f"{low} or more"
    if f.type == "datetime":
        return "ISO 8601 UTC, e.g. `2026-11-24T09:15:00Z`"
    if f.pattern:
        return f"pattern `{f.pattern}`"
    return "text"


def codebook_markdown() -> str:
    lines = [
        "# posturetest codebook",
        "",
        f"Protocol version {PROTOCOL_VERSION}; posturetest {__version__}. Times are UTC. A missing "
        "value is empty in CSV and null in JSON. Columns marked *identifying* are blanked by "
        "`--deidentify`.",
        "",
        "## De-identified exports",
        "",
        DEIDENTIFIED,
        "",
        "## Scales",
        "",
        "| scale | asked | 0 means | 10 means | version |",
        "| --- | --- | --- | --- | --- |",
    ]
    for s in SCALES.values():
        lines.append(f"| `{s.name}` | {s.question} | {s.low_word} | {s.high_word} | {s.version} |")
    for title, fields in (
        ("trials.csv (and the CSV and JSON exports)", TRIAL_FIELDS),
        ("rankings.csv", RANKING_FIELDS),
        ("sessions.csv", SESSION_FIELDS),
        ("safety_answers.csv", SAFETY_ANSWER_FIELDS),
        ("corrections.csv", CORRECTION_FIELDS),
    ):
        lines += [
            "",
            f"## {title}",
            "",
            "| column | type | required | allowed values | meaning |",
            "| --- | --- | --- | --- | --- |",
        ]
        for f in fields:
            meaning = f.description + (" *Identifying.*" if f.identifying else "")
            lines.append(
                f"| `{f.name}` | {f.type} | {'yes' if f.required else 'no'} | {_allowed(f)} | "
                f"{meaning} |"
            )
    return "\n".join(lines) + "\n"
