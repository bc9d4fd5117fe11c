"""Writing checked rows into the database by UUID, for an import, a merge or the sample study:
new rows are added, equal ones counted as present, changed ones reported as conflicts."""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from posturetest.domain.implied import PLAN_FIELDS, Tallies
from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    RANKING_COLUMNS,
    SAFETY_ANSWER_COLUMNS,
    TRIAL_COLUMNS,
    TRIAL_TABLE_COLUMNS,
)
from posturetest.domain.protocol import NOTE_RULE
from posturetest.domain.rows import (
    RANKING_KEY,
    SAFETY_ANSWER_KEY,
    SESSION_LEVEL,
    TALLIED_COLUMNS,
    differing,
    first_met,
    same,
    session_column,
)
from posturetest.store.columns import (
    SESSION_TABLE_COLUMNS,
    SESSIONS_WITH_SUBJECTS,
    column_list,
    insert_sql,
    key_match,
    session_columns,
)
from posturetest.store.import_report import ImportConflict, ImportReport
from posturetest.store.schema import indexes, note_rule_sql, note_triggers
from posturetest.store.store import Store
from posturetest.store.transactions import new_id, utc_now


@dataclass(frozen=True)
class AuditRow:
    """A row of corrections.csv and where it stands in its file."""

    where: str
    line: int
    values: dict[str, object]


_LEVELS = len(SESSION_LEVEL)
"""A session's facts come first in what `first_met` gives, its plan after them."""
_DESCRIBED_ONLY = ("order_seed", "blind", "cleared_by", "end_reason")
"""Session columns that only a data package's sessions.csv (or a merged database) gives."""
_STORED_SESSION = ("session_id", *map(session_column, SESSION_LEVEL), "end_reason")
"""What a stored session is compared by: its facts (`SESSION_LEVEL`), then its end_reason."""
_RANKING_KEY = operator.itemgetter(*RANKING_KEY)
_DEFERRABLE_INDEXES = {
    "sessions": ("sessions_by_start", "sessions_by_subject", "sessions_unfinished"),
    "trials": ("trials_by_id", "trials_by_position"),
}
"""Indexes a bulk import into an empty table builds at the end, from `indexes()`."""
_STORED_SESSION_SQL = session_columns("s.end_reason", _STORED_SESSION)
_STORED_EMPTY_AT = tuple(SESSION_LEVEL.index(c) for c in ("tester", "station"))
"""Facts the sessions table stores as '' when they are missing (NOT NULL DEFAULT '')."""
_SUBJECT_AT = SESSION_LEVEL.index("subject")
_NEW_SESSION_SOURCE = (
    "session_id",
    "subject_id",
    *map(session_column, SESSION_LEVEL),
    *PLAN_FIELDS,
    *_DESCRIBED_ONLY,
)
"""What `_sessions` makes a new session's row of, in this order."""
_new_session_row = operator.itemgetter(*map(_NEW_SESSION_SOURCE.index, SESSION_TABLE_COLUMNS))
"""A new session's row in the sessions table's columns, from `_NEW_SESSION_SOURCE`."""
_REASON_AT = CORRECTION_COLUMNS.index("reason")
"""A correction without a reason has '' (the corrections table's default), not none."""
_TRIAL_ID_AT = CORRECTION_COLUMNS.index("trial_id")


_INSERT_RANKING = insert_sql("rankings", RANKING_COLUMNS)
_STORED_RANK = f"SELECT rank FROM rankings WHERE {key_match(RANKING_KEY)}"
_INSERT_SAFETY_ANSWER = insert_sql("safety_answers", SAFETY_ANSWER_COLUMNS)
_STORED_SAFETY_ANSWER = (
    f"SELECT {column_list(SAFETY_ANSWER_COLUMNS)} FROM safety_answers "
    f"WHERE {key_match(SAFETY_ANSWER_KEY)}"
)
_INSERT_CORRECTION = insert_sql("corrections", CORRECTION_COLUMNS)
_STORED_CORRECTION = (
    f"SELECT {column_list(CORRECTION_COLUMNS)} FROM corrections WHERE correction_id = ?"
)


class ImportWriter:
    """Writes checked rows inside the caller's transaction, by UUID, reporting conflicts.

    With `bulk`, a table that starts empty gets its indexes built once, by sorting, in
    `finish()`, instead of row by row: several times faster for a large import. Only for
    writes that cannot repeat a key the checks already ruled out (a checked file).
    """

    def __init__(self, store: Store, *, bulk: bool = False) -> None:
        self.store = store
        self.conn = store.conn
        self.report = ImportReport()
        self.conflicts: list[str] = []
        self._known_sessions: set[str] = set()
        self._subjects: dict[str, str] | None = None
        self._new_subjects: list[tuple[str, str, int, str]] = []
        self._now = utc_now()
        self._next_enrolment = 0
        self._derived: set[str] = set()
        """Sessions created from trial rows alone, their plan implied by the rows."""
        self._started_empty = self.store.empty("trials")
        """Into an empty table only this writer's own rows can already be there, so only
        those need looking up (a large import skips 600,000 index lookups); in bulk, the
        checks already made every id unique, so none need looking up."""
        self._look_up_trials = not (bulk and self._started_empty)
        self._sessions_started_empty = self.store.empty("sessions")
        self._rankings_started_empty = bulk and self.store.empty("rankings")
        self._added_trials: set[str] = set()
        self._deferred: list[str] = []
        self._triggers_dropped = False
        if bulk:
            for table, names in _DEFERRABLE_INDEXES.items():
                if self.store.empty(table):
                    for name in names:
                        self.conn.execute(f"DROP INDEX {name}")
                        self._deferred.append(name)
            if "trials_by_id" in self._deferred:
                # A trigger on trials makes SQLite look for the key corrections refer to on
                # every insert, and that index is gone until the end.
                for name in note_triggers():
                    self.conn.execute(f"DROP TRIGGER IF EXISTS {name}")
                self._triggers_dropped = True

    def _conflict(self, message: str) -> None:
        self.conflicts.append(message)

    def _same_as_stored(
        self, what: str, columns: Sequence[str], old: Sequence[object], new: Sequence[object]
    ) -> bool:
        """A row whose id is stored already: True when equal, else its conflict is reported."""
        different = differing(columns, old, new)
        if different:
            self._conflict(f"{what}: {', '.join(different)} differ from the database")
        return not different

    def _subject_id(self, code: str) -> str:
        """The id of the subject with this code (any case), enrolling it if new."""
        if self._subjects is None:
            self._subjects = {
                c.casefold(): i
                for c, i in self.conn.execute("SELECT code, subject_id FROM subjects")
            }
            self._next_enrolment = self.conn.execute(
                "SELECT coalesce(max(enrolment_index) + 1, 0) FROM subjects"
            ).fetchone()[0]
        known = self._subjects.get(code.casefold())
        if known is not None:
            return known
        subject_id = new_id()
        self._new_subjects.append((subject_id, code, self._next_enrolment, self._now))
        self._next_enrolment += 1
        self._subjects[code.casefold()] = subject_id
        self.report.subjects_added += 1
        return subject_id

    def _stored_sessions(self, ids: list[str]) -> dict[str, tuple[object, ...]]:
        existing: dict[str, tuple[object, ...]] = {}
        if self._sessions_started_empty:
            return existing  # only this import's sessions, and those are known already
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self.conn.execute(
                f"SELECT {_STORED_SESSION_SQL} {SESSIONS_WITH_SUBJECTS} "
                f"WHERE s.session_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                existing[row[0]] = row[1:]
        return existing

    def _sessions(
        self, firsts: Mapping[str, Sequence[object]], full: dict[str, dict[str, object]]
    ) -> None:
        """Sessions first met in this batch: compare the stored ones, insert the new ones.

        `firsts` holds each session's facts as its trial rows give them, and the plan they
        imply (see `first_met`); `full` the sessions described apart (a data package's).
        """
        existing = self._stored_sessions(list(firsts))
        new_rows = []
        for session_id, facts in firsts.items():
            self._known_sessions.add(session_id)
            stored = existing.get(session_id)
            described = full.get(session_id)
            if stored is not None:
                self._compare_session(
                    session_id, facts, stored[:_LEVELS], "in the database", "in the file"
                )
                if described is not None and stored[_LEVELS] != described["end_reason"]:
                    self._conflict(
                        f"session {session_id}: end_reason is {stored[_LEVELS]!r} in the "
                        f"database but {described['end_reason']!r} in the file"
                    )
                self.report.sessions_present += 1
                continue
            if described is not None:
                theirs = [described[session_column(c)] for c in SESSION_LEVEL]
                self._compare_session(session_id, facts, theirs, "in sessions.csv", "in trials.csv")
                plan = [described[c] for c in PLAN_FIELDS]
                seed, blind, cleared_by, end_reason = (described[c] for c in _DESCRIBED_ONLY)
            else:
                plan = list(facts[_LEVELS:])
                seed, blind, cleared_by, end_reason = None, 0, None, None
                self._derived.add(session_id)
            level = list(facts[:_LEVELS])
            for i in _STORED_EMPTY_AT:
                level[i] = level[i] or ""
            subject_id = self._subject_id(str(level[_SUBJECT_AT]))
            source = (session_id, subject_id, *level, *plan, seed, blind, cleared_by, end_reason)
            new_rows.append(_new_session_row(source))
        if self._new_subjects:
            self.conn.executemany(
                "INSERT INTO subjects (subject_id, code, enrolment_index, created_at) "
                "VALUES (?,?,?,?)",
                self._new_subjects,
            )
            self._new_subjects.clear()
        self.conn.executemany(insert_sql("sessions", SESSION_TABLE_COLUMNS), new_rows)
        self.report.sessions_added += len(new_rows)

    def _compare_session(
        self,
        session_id: str,
        facts: Sequence[object],
        theirs: Sequence[object],
        there: str,
        here: str,
    ) -> None:
        """The session's facts in the trial rows against those stored or described."""
        for column, old, new in zip(SESSION_LEVEL, theirs, facts[:_LEVELS], strict=True):
            if not same(old, new, column):
                self._conflict(
                    f"session {session_id}: {column} is {old!r} {there} but {new!r} {here}"
                )

    def add_trials(
        self, batch: list[dict[str, object]], sessions: dict[str, dict[str, object]]
    ) -> None:
        """Trial rows as dicts of the interchange columns (a merge's rows, say)."""
        if batch:
            columns = {c: [t[c] for t in batch] for c in TRIAL_COLUMNS}
            tallies = Tallies()
            tallies.add(*(columns[c] for c in TALLIED_COLUMNS))
            rows = list(zip(*(columns[c] for c in TRIAL_TABLE_COLUMNS), strict=True))
            self.add_trial_rows(rows, first_met(columns, self._known_sessions, tallies), sessions)

    def add_trial_rows(
        self,
        rows: list[tuple[object, ...]],
        new_sessions: dict[str, tuple[object, ...]],
        described: dict[str, dict[str, object]],
    ) -> None:
        """Checked trial rows in the trials table's columns, and the sessions first met among
        them (see `first_met`); `described` holds sessions described apart from their trials."""
        firsts = {k: v for k, v in new_sessions.items() if k not in self._known_sessions}
        if firsts:
            self._sessions(firsts, described)
        ids = [row[0] for row in rows] if self._look_up_trials else []
        looked_up = list(self._added_trials.intersection(ids)) if self._started_empty else ids
        existing: dict[object, tuple[object, ...]] = {}
        for start in range(0, len(looked_up), 500):
            chunk = looked_up[start : start + 500]
            for row in self.conn.execute(
                f"SELECT {column_list(TRIAL_TABLE_COLUMNS)} FROM trials WHERE trial_id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ):
                existing[row[0]] = row
        new_rows = rows if not existing else self._compare_trials(rows, existing)
        try:
            self.conn.executemany(insert_sql("trials", TRIAL_TABLE_COLUMNS), new_rows)
        except sqlite3.IntegrityError as e:
            self._conflict(
                f"trials could not be added ({e}): a session already has a trial at "
                "the same position (seq) under another id"
            )
            return
        if self._started_empty and self._look_up_trials:
            self._added_trials.update(str(row[0]) for row in new_rows)
        self.report.trials_added += len(new_rows)

    def apply_plans(self, plans: dict[str, tuple[object, ...]]) -> None:
        """Plans implied by all of a session's rows (`PLAN_FIELDS`), for sessions whose rows
        came in several batches; only sessions this writer created from rows alone change."""
        assignments = ", ".join(f"{c} = ?" for c in PLAN_FIELDS)
        self.conn.executemany(
            f"UPDATE sessions SET {assignments} WHERE session_id = ?",
            ((*plan, k) for k, plan in plans.items() if k in self._derived),
        )

    def _compare_trials(
        self, rows: list[tuple[object, ...]], existing: dict[object, tuple[object, ...]]
    ) -> list[tuple[object, ...]]:
        """The rows not stored yet; stored ones count as present, or as conflicts if changed."""
        new_rows = []
        for row in rows:
            old = existing.get(row[0])
            if old is None:
                new_rows.append(row)
                continue
            if self._same_as_stored(f"trial {row[0]}", TRIAL_TABLE_COLUMNS, old, row):
                self.report.trials_present += 1
        return new_rows

    def add_rankings(self, rows: list[dict[str, object]]) -> None:
        now = utc_now()
        if self._rankings_started_empty:  # a checked file: no ranking can be there already
            try:
                self.conn.executemany(
                    _INSERT_RANKING,
                    (_RANKING_KEY(r) + (r["rank"], r.get("ranked_at") or now) for r in rows),
                )
            except sqlite3.IntegrityError as e:
                self._conflict(f"rankings could not be added ({e})")
                return
            self.report.rankings_added += len(rows)
            return
        for r in rows:
            key = _RANKING_KEY(r)
            old = self.conn.execute(_STORED_RANK, key).fetchone()
            if old is None:
                try:
                    self.conn.execute(_INSERT_RANKING, (*key, r["rank"], r.get("ranked_at") or now))
                except sqlite3.IntegrityError as e:
                    self._conflict(f"ranking {'/'.join(map(str, key))}: {e}")
                    continue
                self.report.rankings_added += 1
            elif old[0] != r["rank"]:
                self._conflict(
                    f"ranking {'/'.join(map(str, key))}: rank {old[0]} in the database, "
                    f"{r['rank']} in the file"
                )
            else:
                self.report.rankings_present += 1

    def add_safety_answers(self, rows: list[dict[str, object]]) -> None:
        """Safety answers by (session, question): new ones added, equal ones counted, others
        reported as conflicts."""
        columns = SAFETY_ANSWER_COLUMNS
        for row in rows:
            values = tuple(row[c] for c in columns)
            old = self.conn.execute(
                _STORED_SAFETY_ANSWER, values[: len(SAFETY_ANSWER_KEY)]
            ).fetchone()
            if old is None:
                self.conn.execute(_INSERT_SAFETY_ANSWER, values)
                self.report.safety_answers_added += 1
                continue
            if self._same_as_stored(f"safety answer {values[0]}/{values[1]}", columns, old, values):
                self.report.safety_answers_present += 1

    def add_corrections(self, rows: list[AuditRow]) -> list[tuple[str, int, str]]:
        """The audit trail by correction id, like trials; returns the rows whose trial is in
        neither the file nor the database (where, line, trial id), and writes none of those."""
        columns = CORRECTION_COLUMNS
        unknown: list[tuple[str, int, str]] = []
        for row in rows:
            values = tuple(row.values[c] for c in columns)
            values = (*values[:_REASON_AT], values[_REASON_AT] or "", *values[_REASON_AT + 1 :])
            correction_id, trial_id = values[0], values[_TRIAL_ID_AT]
            known = self.conn.execute(
                "SELECT 1 FROM trials WHERE trial_id = ?", (trial_id,)
            ).fetchone()
            if known is None:
                unknown.append((row.where, row.line, str(trial_id)))
                continue
            old = self.conn.execute(_STORED_CORRECTION, (correction_id,)).fetchone()
            if old is None:
                self.conn.execute(_INSERT_CORRECTION, values)
                self.report.corrections_added += 1
                continue
            if self._same_as_stored(f"correction {correction_id}", columns, old, values):
                self.report.corrections_present += 1
        return unknown

    def finish(self) -> None:
        """Build deferred indexes, fill in what trial rows alone imply about new sessions;
        refuse on any conflict."""
        for name in self._deferred:
            try:
                self.conn.execute(indexes()[name])
            except sqlite3.IntegrityError as e:
                self._conflict(f"the rows break a rule of the database ({e})")
        self._deferred.clear()
        if self._triggers_dropped:
            broken = self.conn.execute(
                f"SELECT trial_id FROM trials WHERE {note_rule_sql('note')} LIMIT 1"
            ).fetchone()
            if broken is not None:
                self._conflict(f"trial {broken[0]}: note: {NOTE_RULE}")
            for statement in note_triggers().values():
                self.conn.execute(statement)
            self._triggers_dropped = False
        if self.conflicts:
            shown = self.conflicts[:20]
            more = len(self.conflicts) - len(shown)
            raise ImportConflict(shown + ([f"... and {more} more conflicts"] if more else []))
