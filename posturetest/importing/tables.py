"""The kinds of file an export holds, each with its fields' checks and its rules built once;
any of them read as checked, typed batches, and the trials file as batches ready to write."""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from posturetest.domain.implied import Tallies
from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_FIELDS,
    RANKING_OPTIONAL,
    SAFETY_ANSWER_FIELDS,
    SESSION_FIELDS,
    SESSION_OPTIONAL,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    Field,
)
from posturetest.domain.row_rules import SESSION_RULES, TRIAL_RULES, Presence, row_problems
from posturetest.domain.rows import STATUS_AT, TALLIED_COLUMNS, session_facts, with_plans
from posturetest.importing.cells import Columns, FieldCheck, check_row, field_checks, typed_columns
from posturetest.importing.problems import Checked
from posturetest.importing.reading import csv_batches
from posturetest.importing.rules import check_trials, rules_hold
from posturetest.store import utc_now


@dataclass(frozen=True)
class Table:
    """One kind of file: its fields, the rules across a row's cells, and the columns an older
    file may lack; its columns and its fields' checks follow from those."""

    fields: tuple[Field, ...]
    rules: tuple[Presence, ...] = ()
    optional: frozenset[str] = frozenset()
    """Columns an older file may lack; each row then gets the time of the import."""
    optional_empty: frozenset[str] = frozenset()
    """Columns an older file may lack; each row then has them empty."""
    columns: tuple[str, ...] = field(init=False)
    checks: tuple[FieldCheck, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(f.name for f in self.fields))
        object.__setattr__(self, "checks", field_checks(self.fields))


TRIALS = Table(TRIAL_FIELDS, TRIAL_RULES)
SESSIONS = Table(SESSION_FIELDS, SESSION_RULES, optional_empty=SESSION_OPTIONAL)
RANKINGS = Table(RANKING_FIELDS, optional=RANKING_OPTIONAL)
SAFETY_ANSWERS = Table(SAFETY_ANSWER_FIELDS)
CORRECTIONS = Table(CORRECTION_FIELDS)


def typed_batches(
    path: Path, table: Table, checked: Checked
) -> Iterator[tuple[list[int], Columns]]:
    """Checked rows a batch at a time, as typed columns; problems go to `checked`.

    A batch is checked column by column (one regular expression or one set operation per
    column instead of a function call per cell); a batch with any problem is checked again row
    by row, so every problem is reported with its own line and words.
    """
    names = table.columns
    now = utc_now()
    defaults = {c: now for c in table.optional} | {c: "" for c in table.optional_empty}
    for lines, rows in csv_batches(path, table.columns, checked, defaults):
        typed = typed_columns(table.checks, rows)
        if typed is not None:
            columns = dict(zip(names, typed, strict=True))
            if rules_hold(table.rules, columns):
                yield lines, columns
                continue
        kept_lines, kept = [], []
        for line, row in zip(lines, rows, strict=True):
            values, problems = check_row(table.checks, row)
            if not problems:
                problems = row_problems(table.rules, values)
            for column, problem in problems:
                checked.add(str(path), line, column, problem)
            if not problems:
                kept_lines.append(line)
                kept.append(values)
        if kept:
            yield kept_lines, {n: [v[n] for v in kept] for n in names}


@dataclass
class TrialBatch:
    """Checked trials ready for the writer."""

    columns: list[Sequence[object]] = field(default_factory=list)
    """The trials table's columns (`TRIAL_TABLE_COLUMNS`): cheaper to send than rows."""
    sessions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """The sessions first met in these rows: their facts (see `session_facts`), and once
    planned, their plans (see `with_plans`)."""
    plans: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """At the end: the plans of sessions whose rows came in more than one batch."""

    @property
    def rows(self) -> list[tuple[object, ...]]:
        return list(zip(*self.columns, strict=True))


def trial_batches(path: Path, checked: Checked) -> Generator[TrialBatch, None, None]:
    """The trials file checked, a batch at a time, with the sessions first met in each."""
    met: set[str] = set()
    for lines, columns in typed_batches(path, TRIALS, checked):
        good = check_trials(checked, str(path), lines, columns)
        if good["trial_id"]:
            new = session_facts(good, met)
            met.update(new)
            yield TrialBatch([good[c] for c in TRIAL_TABLE_COLUMNS], new)


def planned(batches: Iterator[TrialBatch]) -> Generator[TrialBatch, None, None]:
    """The batches with their new sessions' plans, as far as their rows so far tell; last, a
    batch with the plans of sessions whose rows came in more than one batch."""
    tallies = Tallies()
    statuses: dict[str, object] = {}
    spread: set[str] = set()
    for batch in batches:
        columns = dict(zip(TRIAL_TABLE_COLUMNS, batch.columns, strict=True))
        spread.update(statuses.keys() & set(columns["session_id"]))
        statuses.update((sid, facts[STATUS_AT]) for sid, facts in batch.sessions.items())
        tallies.add(*(columns[c] for c in TALLIED_COLUMNS))
        yield TrialBatch(batch.columns, with_plans(batch.sessions, tallies))
    yield TrialBatch(plans={s: tallies.plan(s, str(statuses[s])) for s in spread})
