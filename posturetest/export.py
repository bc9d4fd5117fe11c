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
from posturetest.domain import PROTOCOL_VERSION, SCALES
from posturetest.domain.interchange import (
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
    Field,
)
from posturetest.store import Store
from posturetest.store.exchange import (
    Selection,
    count_trials,
    ranking_lines,
    session_lines,
    trial_lines,
)

Progress = Callable[[int], None]
"""Called with the number of rows just written."""

FORMATS = ("csv", "json", "datapackage", "codebook")


def _write_lines(
    out: TextIO, header: Iterable[str], batches: Iterator[list[str]], progress: Progress | None
) -> int:
    out.write(",".join(header) + "\n")
    written = 0
    for batch in batches:
        out.write("\n".join(batch))
        out.write("\n")
        written += len(batch)
        if progress:
            progress(len(batch))
    return written


def write_csv(
    store: Store, selection: Selection, out: TextIO, progress: Progress | None = None
) -> int:
    """The trials as tidy long CSV: one row per trial, the interchange columns in order."""
    return _write_lines(out, TRIAL_COLUMNS, trial_lines(store, selection, fmt="csv"), progress)


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
            "one row per session in sessions.csv."
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
        ],
    }


DATAPACKAGE_MEMBERS = ("sessions.csv", "rankings.csv", "trials.csv", "datapackage.json")
"""The files a data package folder holds."""


def write_datapackage(
    store: Store, selection: Selection, out_dir: Path, progress: Progress | None = None
) -> int:
    """trials.csv, rankings.csv, sessions.csv and a datapackage.json describing them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "sessions.csv").open("w", encoding="utf-8", newline="") as out:
        _write_lines(out, SESSION_COLUMNS, session_lines(store, selection), None)
    with (out_dir / "rankings.csv").open("w", encoding="utf-8", newline="") as out:
        _write_lines(out, RANKING_COLUMNS, ranking_lines(store, selection), None)
    with (out_dir / "trials.csv").open("w", encoding="utf-8", newline="") as out:
        written = write_csv(store, selection, out, progress)
    descriptor = datapackage_descriptor(selection)
    (out_dir / "datapackage.json").write_text(json.dumps(descriptor, indent=2) + "\n")
    return written


# -- codebook ----------------------------------------------------------------------------------


def _allowed(f: Field) -> str:
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
