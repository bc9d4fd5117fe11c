"""Rules beyond a single cell: those within a row (`Presence` rules of the domain, checked for a
whole batch at once) and those across rows (unique ids and positions, one set of facts per
session, rows that name a session of the file, each answer or rank once)."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable

from posturetest.domain.interchange import SESSION_LEVEL_TRIAL_COLUMNS
from posturetest.domain.row_rules import Presence, row_problems
from posturetest.importing.cells import Columns, records
from posturetest.importing.problems import Checked
from posturetest.store.import_writer import AuditRow

Batches = Iterable[tuple[list[int], Columns]]
"""Checked rows a batch at a time: the line each starts on, and their typed columns."""


def rules_hold(rules: tuple[Presence, ...], columns: Columns) -> bool:
    """`row_problems` for a whole batch: the rules look only at their keys' values and at which
    of their columns are empty, so one example of each such pattern settles it."""
    if not rules:
        return True
    keys = tuple(dict.fromkeys(r.key for r in rules))
    optional = tuple(dict.fromkeys(c for r in rules for c in r.columns))
    patterns = set(
        zip(
            *(columns[k] for k in keys),
            *(map(operator.is_, columns[c], itertools.repeat(None)) for c in optional),
            strict=True,
        )
    )
    split = len(keys)
    for pattern in patterns:
        example: dict[str, object] = dict(zip(keys, pattern[:split], strict=True))
        empty = pattern[split:]
        example.update((c, None if e else 0) for c, e in zip(optional, empty, strict=True))
        if row_problems(rules, example):
            return False
    return True


def check_trials(checked: Checked, where: str, lines: list[int], columns: Columns) -> Columns:
    """Checks across rows for a batch at once (set operations); row by row if anything is off:
    unique ids and positions, one set of session facts per session."""
    ids = set(columns["trial_id"])
    seqs = set(zip(columns["session_id"], columns["seq"], strict=True))
    session_ids = set(columns["session_id"])
    levels = set(zip(*(columns[c] for c in SESSION_LEVEL_TRIAL_COLUMNS), strict=True))
    rows = len(lines)
    clean = (
        len(ids) == rows
        and len(seqs) == rows
        and len(levels) == len(session_ids)  # one set of facts per session
        and checked.trial_ids.isdisjoint(ids)
        and checked.seqs.isdisjoint(seqs)
    )
    new: list[tuple[str, tuple[object, ...]]] = []
    for level in levels if clean else ():
        session_id = str(level[0])
        folded = (level[0], str(level[1]).casefold(), *level[2:])
        known = checked.sessions.get(session_id)
        if known is None:
            new.append((session_id, folded))
        elif known != folded:
            clean = False
            break
    if not clean:
        kept = [
            values
            for line, values in zip(lines, records(columns), strict=True)
            if _check_trial(checked, where, line, values)
        ]
        return {c: [v[c] for v in kept] for c in columns}
    if new:
        first_lines = dict(zip(reversed(columns["session_id"]), reversed(lines), strict=True))
        for session_id, folded in new:
            checked.sessions[session_id] = folded
            checked.session_lines[session_id] = first_lines[session_id]
    checked.trial_ids |= ids  # type: ignore[arg-type]
    checked.seqs |= seqs  # type: ignore[arg-type]
    return columns


def _check_trial(checked: Checked, where: str, line: int, values: dict[str, object]) -> bool:
    """Checks across rows: unique ids and positions, one set of session facts per session."""
    trial_id, session_id = str(values["trial_id"]), str(values["session_id"])
    if trial_id in checked.trial_ids:
        checked.add(where, line, "trial_id", "this trial appears twice in the file")
        return False
    checked.trial_ids.add(trial_id)
    key = (session_id, int(values["seq"]))  # type: ignore[call-overload]
    if key in checked.seqs:
        checked.add(where, line, "seq", f"session {session_id} has two trials at seq {key[1]}")
        return False
    checked.seqs.add(key)
    session_level = tuple(
        str(values["subject"]).casefold() if c == "subject" else values[c]
        for c in SESSION_LEVEL_TRIAL_COLUMNS
    )
    known = checked.sessions.setdefault(session_id, session_level)
    if known != session_level:
        column = next(
            c
            for c, a, b in zip(SESSION_LEVEL_TRIAL_COLUMNS, known, session_level, strict=True)
            if a != b
        )
        first = checked.session_lines[session_id]
        checked.add(where, line, column, f"differs from line {first} of the same session")
        return False
    checked.session_lines.setdefault(session_id, line)
    return True


def checked_rankings(where: str, batches: Batches, checked: Checked) -> list[dict[str, object]]:
    """Rankings of sessions in the file, each person ranking each posture once."""
    rankings = []
    ranked: set[tuple[object, ...]] = set()
    for lines, columns in batches:
        for line, values in zip(lines, records(columns), strict=True):
            if str(values["session_id"]) not in checked.sessions:
                checked.add(where, line, "session_id", "no trial of this session")
            person = (values["session_id"], values["test"], values["role"])
            for column in ("posture", "rank"):
                key = (*person, column, values[column])
                if key in ranked:
                    checked.add(
                        where,
                        line,
                        column,
                        f"{values[column]} appears twice in one person's ranking",
                    )
                ranked.add(key)
            rankings.append(values)
    return rankings


def checked_safety_answers(
    where: str, batches: Batches, checked: Checked
) -> list[dict[str, object]]:
    """Answers of sessions in the file, each question once per session."""
    answers: list[dict[str, object]] = []
    seen: set[tuple[object, object]] = set()
    for lines, columns in batches:
        for line, values in zip(lines, records(columns), strict=True):
            if str(values["session_id"]) not in checked.sessions:
                checked.add(where, line, "session_id", "no trial of this session")
            key = (values["session_id"], values["question"])
            if key in seen:
                checked.add(where, line, "question", "answered twice for one session")
            seen.add(key)
            answers.append(values)
    return answers


def checked_corrections(where: str, batches: Batches, checked: Checked) -> list[AuditRow]:
    """The audit trail's rows, each id once (its trials are looked up once they are written)."""
    rows: list[AuditRow] = []
    seen: set[object] = set()
    for lines, columns in batches:
        for line, values in zip(lines, records(columns), strict=True):
            if values["correction_id"] in seen:
                checked.add(where, line, "correction_id", "appears twice")
            seen.add(values["correction_id"])
            rows.append(AuditRow(where, line, values))
    return rows
