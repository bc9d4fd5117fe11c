"""Reading sessions back: the home screen's list, one session with its trials, rankings, safety
answers and audit trail, and whole-file facts. Nothing here writes."""

from __future__ import annotations

import dataclasses
import sqlite3
from dataclasses import dataclass
from functools import cached_property

from posturetest.domain import (
    Outcome,
    Position,
    Ranking,
    Session,
    SessionStatus,
    Trial,
)
from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    RANKING_COLUMNS,
    SAFETY_ANSWER_COLUMNS,
    SESSION_COLUMNS,
    TRIAL_TABLE_COLUMNS,
)
from posturetest.domain.rows import (
    rankings_from_rows,
    safety_answers_from_rows,
    session_from_row,
    trial_from_row,
)
from posturetest.domain.session import EndReason
from posturetest.store.columns import SESSIONS_WITH_SUBJECTS, column_list, session_columns
from posturetest.store.errors import RecordError, StoreError
from posturetest.store.schema import end_reason_sql
from posturetest.store.transactions import Transactions


@dataclass(frozen=True)
class SessionRow:
    """One line of the home screen's list: the session and how far its trials got."""

    session_id: str
    subject: str
    started_at: str
    position: Position
    status: SessionStatus
    rated: int
    """Trials rated (the ones that count as done)."""
    stopped: int
    """Trials stopped early (pain, discomfort, could not hold, other)."""
    skipped: int
    """Trials never done because the session ended first."""
    total: int
    """Trials in the plan (pending ones too)."""
    end_reason: EndReason | None = None
    """Set only on a stopped session that was discarded."""

    @property
    def done(self) -> int:
        """Trials no longer pending: rated, stopped or skipped."""
        return self.rated + self.stopped + self.skipped

    @property
    def pending(self) -> int:
        return self.total - self.done

    @property
    def cursor(self) -> tuple[str, str]:
        return (self.started_at, self.session_id)


@dataclass(frozen=True)
class Correction:
    trial_id: str
    field: str
    old_value: int | None
    new_value: int | None
    reason: str
    corrected_at: str


_CORRECTION_READ = tuple(f.name for f in dataclasses.fields(Correction))
if not set(_CORRECTION_READ) <= set(CORRECTION_COLUMNS):
    raise RuntimeError("a Correction field is not a column of corrections.csv")

_COUNTED = (Outcome.RATED, Outcome.STOPPED, Outcome.SKIPPED)
"""The outcomes a home row counts apart; then the trials of the plan."""
_COUNT_BITS = 16
"""Each count's share of the packed integer (a session has at most 18 trials)."""


def _trial_counts_sql() -> str:
    """One pass over a session's trials (by trials_by_position), every count at once, packed
    into one integer (`_unpacked_counts`): a scalar subquery gives one value, and one such
    subquery per count would walk the trials once per count."""
    terms = [f"(sum(t.outcome = '{o.value}') << {i * _COUNT_BITS})" for i, o in enumerate(_COUNTED)]
    terms.append(f"(count(*) << {len(_COUNTED) * _COUNT_BITS})")
    return (
        f"coalesce((SELECT {' | '.join(terms)} FROM trials t WHERE t.session_id = s.session_id), 0)"
    )


def _unpacked_counts(packed: int) -> tuple[int, int, int, int]:
    """The counts of `_trial_counts_sql`: rated, stopped, skipped, total."""
    mask = (1 << _COUNT_BITS) - 1
    rated, stopped, skipped, total = (
        (packed >> (i * _COUNT_BITS)) & mask for i in range(len(_COUNTED) + 1)
    )
    return rated, stopped, skipped, total


_SESSION_ROW_COLUMNS = tuple(
    f.name for f in dataclasses.fields(SessionRow) if f.name in SESSION_COLUMNS
)
"""The columns of a home row the sessions give; the counts follow them."""
_TRIALS = f"SELECT {column_list(TRIAL_TABLE_COLUMNS)} FROM trials"


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching text that starts with `prefix` literally."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class Reads(Transactions):
    """Every query of the store's sessions, each row folded into a record of the domain."""

    def study_secret(self) -> str:
        """The database's secret for de-identified study ids (schema 2 and later)."""
        try:
            return str(self._rows("SELECT value FROM meta WHERE key = 'study_secret'")[0][0])
        except sqlite3.OperationalError:
            raise StoreError(
                f"{self.path} was written by an older posturetest, without the secret that "
                "de-identified exports need: open it once with this version (posturetest --db "
                "FILE) to upgrade it"
            ) from None

    def subject_codes(self, prefix: str = "", limit: int = 20) -> list[str]:
        """Existing codes starting with `prefix` (any case), for suggestions while typing."""
        escaped = _like_prefix(prefix)
        rows = self._rows(
            "SELECT code FROM subjects WHERE code LIKE ? ESCAPE '\\' ORDER BY code LIMIT ?",
            (escaped, limit),
        )
        return [r[0] for r in rows]

    @cached_property
    def _end_reason_sql(self) -> str:
        """The sessions' end_reason in a query (NULL in an older file opened only to read)."""
        with self._lock:
            return end_reason_sql(self.conn)

    def session(self, session_id: str) -> Session:
        rows = self._rows(
            f"SELECT {session_columns(self._end_reason_sql)} {SESSIONS_WITH_SUBJECTS} "
            "WHERE s.session_id = ?",
            (session_id,),
        )
        if not rows:
            raise RecordError(f"no session {session_id}")
        return session_from_row(rows[0])

    def recent_sessions(
        self,
        *,
        limit: int = 20,
        before: tuple[str, str] | None = None,
        subject_prefix: str = "",
        unfinished_only: bool = False,
    ) -> list[SessionRow]:
        """Newest first, one page at a time (keyset paging: as fast on page 5,000 as on page 1)."""
        where: list[str] = []
        params: list[str | int] = []
        if before is not None:
            where.append("(s.started_at, s.session_id) < (?, ?)")
            params.extend(before)
        if subject_prefix:
            escaped = _like_prefix(subject_prefix)
            where.append(
                "s.subject_id IN (SELECT subject_id FROM subjects WHERE code LIKE ? ESCAPE '\\')"
            )
            params.append(escaped)
        if unfinished_only:
            where.append(f"s.status = '{SessionStatus.IN_PROGRESS.value}'")
        sql = (
            f"SELECT {session_columns(self._end_reason_sql, _SESSION_ROW_COLUMNS)}, "
            f"{_trial_counts_sql()} {SESSIONS_WITH_SUBJECTS}"
        )
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.started_at DESC, s.session_id DESC LIMIT ?"
        params.append(limit)
        rows = []
        for r in self._rows(sql, params):
            values = dict(zip(_SESSION_ROW_COLUMNS, r[:-1], strict=True))
            rated, stopped, skipped, total = _unpacked_counts(r[-1])
            end_reason = values["end_reason"]
            rows.append(
                SessionRow(
                    session_id=values["session_id"],
                    subject=values["subject"],
                    started_at=values["started_at"],
                    position=Position(values["position"]),
                    status=SessionStatus(values["status"]),
                    rated=rated,
                    stopped=stopped,
                    skipped=skipped,
                    total=total,
                    end_reason=EndReason(end_reason) if end_reason else None,
                )
            )
        return rows

    def trials(self, session_id: str) -> list[Trial]:
        rows = self._rows(f"{_TRIALS} WHERE session_id = ? ORDER BY seq", (session_id,))
        return [trial_from_row(r) for r in rows]

    def trial(self, trial_id: str) -> Trial:
        rows = self._rows(f"{_TRIALS} WHERE trial_id = ?", (trial_id,))
        if not rows:
            raise RecordError(f"no trial {trial_id}")
        return trial_from_row(rows[0])

    def rankings(self, session_id: str) -> list[Ranking]:
        rows = self._rows(
            f"SELECT {column_list(RANKING_COLUMNS)} FROM rankings WHERE session_id = ? "
            "ORDER BY test, role, rank",
            (session_id,),
        )
        return rankings_from_rows(rows)

    def safety_answers(self, session_id: str) -> dict[str, bool]:
        rows = self._rows(
            f"SELECT {column_list(SAFETY_ANSWER_COLUMNS)} FROM safety_answers WHERE session_id = ?",
            (session_id,),
        )
        return safety_answers_from_rows(rows)

    def corrections(self, trial_id: str) -> list[Correction]:
        rows = self._rows(
            f"SELECT {column_list(_CORRECTION_READ)} FROM corrections WHERE trial_id = ? "
            "ORDER BY corrected_at, rowid",
            (trial_id,),
        )
        return [Correction(**dict(zip(_CORRECTION_READ, r, strict=True))) for r in rows]

    # -- whole-file facts ---------------------------------------------------------------------

    _TABLES = frozenset({"subjects", "sessions", "trials", "rankings", "corrections"})

    def count(self, table: str) -> int:
        if table not in self._TABLES:
            raise ValueError(table)
        return int(self._rows(f"SELECT count(*) FROM {table}")[0][0])

    def empty(self, table: str) -> bool:
        """No row in the table (without counting them all)."""
        if table not in self._TABLES:
            raise ValueError(table)
        return not self._rows(f"SELECT EXISTS (SELECT 1 FROM {table})")[0][0]

    def integrity_ok(self) -> bool:
        return bool(self._rows("PRAGMA quick_check(1)")[0][0] == "ok")
