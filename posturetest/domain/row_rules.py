"""The rules across a row's cells: which a trial or a session may or must fill, by its outcome
or status.

Defined once, as data: the database's CHECK constraints are written from these, and the import
checks its rows with them, so the two cannot drift apart. Every schema version since the first
writes them (tests/unit/test_rules_agree.py pins the text), so changing one takes a new migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from posturetest.domain.interchange import RATING_COLUMNS
from posturetest.domain.protocol import Outcome, SessionStatus
from posturetest.domain.scales import REQUIRED_SCALES


@dataclass(frozen=True)
class Presence:
    """When the row's `key` is one of `values`, each of `columns` must be filled (if
    `required`); when it is none of them, each must be empty (if `only`)."""

    key: str
    values: tuple[str, ...]
    columns: tuple[str, ...]
    required: bool = False
    only: bool = False
    missing: str = ""
    """The problem with a required cell left empty."""
    forbidden: str = ""
    """The problem with a cell filled where it may not be; {value} is the key's value."""

    def problems(self, row: Mapping[str, object]) -> list[tuple[str, str]]:
        """(column, problem) for each cell of `row` that breaks this rule; None is empty."""
        value = row[self.key]
        if value in self.values:
            if not self.required:
                return []
            return [(c, self.missing) for c in self.columns if row[c] is None]
        if not self.only:
            return []
        problem = self.forbidden.format(value=value)
        return [(c, problem) for c in self.columns if row[c] is not None]


def row_problems(rules: tuple[Presence, ...], row: Mapping[str, object]) -> list[tuple[str, str]]:
    """Every rule's problems with `row`, rule by rule."""
    return [problem for rule in rules for problem in rule.problems(row)]


TRIAL_RULES: tuple[Presence, ...] = (
    Presence(
        "outcome",
        (Outcome.STOPPED.value,),
        ("stop_reason",),
        required=True,
        only=True,
        missing="a stopped trial needs a reason",
        forbidden="only a stopped trial has a reason (outcome {value})",
    ),
    Presence(
        "outcome",
        (Outcome.RATED.value,),
        tuple(s.name for s in REQUIRED_SCALES),
        required=True,
        missing="a rated trial needs this rating",
    ),
    Presence(
        "outcome",
        (Outcome.RATED.value, Outcome.PENDING.value),
        RATING_COLUMNS,
        only=True,
        forbidden="a {value} trial has no ratings",
    ),
)
"""A stopped trial, and only a stopped one, has a reason; a rated trial has the required
ratings; a stopped or skipped one has none (a pending one may hold some already)."""

SESSION_RULES: tuple[Presence, ...] = (
    Presence(
        "status",
        (SessionStatus.STOPPED.value,),
        ("end_reason",),
        only=True,
        forbidden="only a stopped session has an end reason (status {value})",
    ),
)
