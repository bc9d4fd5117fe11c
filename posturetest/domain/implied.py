"""What a session's trial rows alone say about its plan and its end.

A CSV export repeats each session's facts on its trial rows, but not its plan (which tests in
which order, how many repetitions, which optional scales were recorded) nor when it ended. An
import works these out from the rows, a batch of rows at a time.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from posturetest.domain.protocol import Outcome, SessionStatus, StressTest

PLAN_FIELDS = (
    "tests",
    "repetitions",
    "record_effort",
    "record_discomfort",
    "ended_at",
    "safety_passed",
)
"""The sessions table's columns a plan gives, in the order `Tallies.plan` returns them."""

_DONE = frozenset({Outcome.RATED.value, Outcome.STOPPED.value})
_TESTS = tuple(t.value for t in StressTest)
_IN_PROGRESS = SessionStatus.IN_PROGRESS.value
_STOPPED = SessionStatus.STOPPED.value
_VALUE = operator.itemgetter(1)


def _present(values: Sequence[Any]) -> map[bool]:
    return map(operator.is_not, values, itertools.repeat(None))


@dataclass
class Tallies:
    """Trial rows summed up per session so far.

    Each batch is grouped with a few sorts and set operations instead of a step per row; only
    sessions met in an earlier batch as well need combining one by one.
    """

    first_seq: dict[tuple[Any, Any], Any] = field(default_factory=dict)
    """(session, test) -> the test's first position."""
    repetitions: dict[Any, Any] = field(default_factory=dict)
    last_rated: dict[Any, Any] = field(default_factory=dict)
    effort: set[Any] = field(default_factory=set)
    discomfort: set[Any] = field(default_factory=set)
    done: set[Any] = field(default_factory=set)
    """Sessions with a trial rated or stopped: one stopped before any ended at the safety check."""

    def add(
        self,
        session_ids: Sequence[Any],
        tests: Sequence[Any],
        seqs: Sequence[Any],
        reps: Sequence[Any],
        outcomes: Sequence[Any],
        efforts: Sequence[Any],
        discomforts: Sequence[Any],
        rated_ats: Sequence[Any],
    ) -> None:
        """Add a batch of trial rows, given as columns."""
        # A dict keeps the last value written for a key: sorted so that it is the one wanted.
        keys = zip(session_ids, tests, strict=True)
        first = dict(sorted(zip(keys, seqs, strict=True), key=_VALUE, reverse=True))
        most = dict(sorted(zip(session_ids, reps, strict=True), key=_VALUE))
        rated = list(_present(rated_ats))
        latest = dict(
            sorted(
                zip(
                    itertools.compress(session_ids, rated),
                    itertools.compress(rated_ats, rated),
                    strict=True,
                ),
                key=_VALUE,
            )
        )
        for mine, theirs, better in (
            (first, self.first_seq, min),
            (most, self.repetitions, max),
            (latest, self.last_rated, max),
        ):
            for key in mine.keys() & theirs.keys():
                mine[key] = better(mine[key], theirs[key])
            theirs.update(mine)
        self.effort.update(itertools.compress(session_ids, _present(efforts)))
        self.discomfort.update(itertools.compress(session_ids, _present(discomforts)))
        self.done.update(itertools.compress(session_ids, map(_DONE.__contains__, outcomes)))

    def plan(self, session_id: Any, status: str) -> tuple[object, ...]:
        """The session's plan and end, as the sessions table stores them (`PLAN_FIELDS`)."""
        get = self.first_seq.get
        firsts = [(s, t) for t in _TESTS if (s := get((session_id, t))) is not None]
        return (
            firsts[0][1] if len(firsts) == 1 else ",".join(t for _, t in sorted(firsts)),
            self.repetitions[session_id],
            int(session_id in self.effort),
            int(session_id in self.discomfort),
            None if status == _IN_PROGRESS else self.last_rated.get(session_id),
            0 if status == _STOPPED and session_id not in self.done else 1,
        )
