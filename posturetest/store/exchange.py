"""SQL for data leaving the database: filtered, optionally de-identified, formatted by SQLite.

Rows are formatted inside SQLite (CSV lines, JSON objects) and streamed in batches, so an export
of 600,000 trials keeps memory flat and runs close to the sqlite3 shell's own speed.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from posturetest.domain.implied import PLAN_FIELDS, Tallies
from posturetest.domain.interchange import (
    CORRECTION_FIELDS,
    RANKING_FIELDS,
    SAFETY_ANSWER_FIELDS,
    SESSION_FIELDS,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    Field,
)
from posturetest.domain.protocol import NOTE_RULE
from posturetest.store.opening import open_readonly
from posturetest.store.schema import end_reason_sql, indexes, note_rule_sql, note_triggers
from posturetest.store.store import Store, new_id, utc_now

BATCH = 5000

_FREE_TEXT = {"tester", "station", "note", "protocol_version", "cleared_by", "tests", "reason"}
"""Columns whose values may contain a comma, a quote or a line break."""


@dataclass(frozen=True)
class Selection:
    """Which sessions an export covers. Empty means everything."""

    subjects: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    """Inclusive: sessions started on this day are in."""
    complete_only: bool = False
    deidentify: bool = False

    def where(
        self, started_at: str, status: str, session_id: str, subject: str
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.subjects:
            marks = ", ".join("?" * len(self.subjects))
            clauses.append(f"{subject} COLLATE NOCASE IN ({marks})")
            params.extend(self.subjects)
        if self.session_ids:
            clauses.append(f"{session_id} IN ({', '.join('?' * len(self.session_ids))})")
            params.extend(self.session_ids)
        if self.since is not None:
            clauses.append(f"{started_at} >= ?")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append(f"{started_at} < ?")
            params.append((self.until + timedelta(days=1)).isoformat())
        if self.complete_only:
            clauses.append(f"{status} = 'complete'")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def study_id(secret: str, code: str) -> str:
    """A stable id for a subject that cannot be traced back without the database's secret."""
    digest = hmac.new(secret.encode(), code.casefold().encode(), hashlib.sha256).hexdigest()
    return f"P-{digest[:12]}"


PSEUDONYMISED = {"trial_id": "trial", "session_id": "session", "correction_id": "correction"}
"""The ids a de-identified export replaces, each by a keyed hash of its own kind."""


def pseudonym(secret: str, kind: str, value: str) -> str:
    """A UUID-shaped keyed hash of an id: the same for every export of one database, and not
    traceable to the stored id without the database's secret."""
    digest = hmac.new(secret.encode(), f"{kind}:{value}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def _deidentified_expr(f: Field, column: str) -> str | None:
    """What a de-identified export writes instead of the column, if anything."""
    if f.identifying:
        return "NULL"
    if f.name == "subject":
        return "sid.study_id"
    if f.name in PSEUDONYMISED:
        return f"pt_pseudonym('{PSEUDONYMISED[f.name]}', {column})"
    if f.type == "datetime":  # the day only: the order within a session stays in seq
        return (
            f"CASE WHEN {column} IS NULL THEN NULL ELSE substr({column}, 1, 10) || '{MIDNIGHT}' END"
        )
    return None


MIDNIGHT = "T00:00:00Z"


def _csv_expr(f: Field, column: str, selection: Selection) -> str:
    """One cell as printf's argument (NULL prints as empty), quoted only where it must be."""
    if selection.deidentify and (replaced := _deidentified_expr(f, column)) is not None:
        return replaced
    if f.name in _FREE_TEXT:
        quoted = "'\"' || replace({c}, '\"', '\"\"') || '\"'".format(c=column)
        needs_quotes = f"{column} GLOB '*[\",' || char(10) || char(13) || ']*'"
        return f"CASE WHEN {needs_quotes} THEN {quoted} ELSE {column} END"
    return column


def _csv_line(fields: tuple[Field, ...], prefix: str, selection: Selection) -> str:
    """A CSV line built by SQLite's printf: about twice as fast as || with coalesce."""
    template = ",".join(["%s"] * len(fields))
    cells = ", ".join(_csv_expr(f, f"{prefix}.{f.name}", selection) for f in fields)
    return f"printf('{template}', {cells})"


def _json_expr(f: Field, column: str, selection: Selection) -> str:
    if selection.deidentify and (replaced := _deidentified_expr(f, column)) is not None:
        return replaced
    return column


def _order(selection: Selection, started_at: str, session_id: str, *rest: str) -> str:
    """Start time, session, then `rest`; de-identified: the day, then the sessions in the order
    of their new ids, so the rows' order does not give the time of day away either."""
    if selection.deidentify:
        keys = [f"substr({started_at}, 1, 10)", f"pt_pseudonym('session', {session_id})"]
    else:
        keys = [started_at, session_id]
    return " ORDER BY " + ", ".join([*keys, *rest])


def _prepare_pseudonyms(store: Store, selection: Selection) -> None:
    """The SQL function `pt_pseudonym(kind, id)` on this connection, keyed with its secret."""
    if selection.deidentify:
        secret = store.study_secret()
        store.conn.create_function(
            "pt_pseudonym",
            2,
            lambda kind, value: None if value is None else pseudonym(secret, kind, value),
            deterministic=True,
        )


def _prepare_study_ids(store: Store, selection: Selection) -> str:
    """A temp table mapping subject codes to study ids; the JOIN that uses it."""
    if not selection.deidentify:
        return ""
    _prepare_pseudonyms(store, selection)
    secret = store.study_secret()
    with store.scratch():  # a temp table: no lock on the file, fine on a read-only copy
        store.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS study_ids (code TEXT PRIMARY KEY, study_id TEXT)"
        )
        store.conn.execute("DELETE FROM temp.study_ids")
        codes = [r[0] for r in store.conn.execute("SELECT code FROM subjects")]
        store.conn.executemany(
            "INSERT INTO temp.study_ids VALUES (?, ?)", ((c, study_id(secret, c)) for c in codes)
        )
    return " JOIN temp.study_ids sid ON sid.code = {subject}"


def _stream(store: Store, sql: str, params: list[object]) -> Iterator[list[str]]:
    with store._lock:
        cursor = store.conn.execute(sql, params)
        while batch := cursor.fetchmany(BATCH):
            yield [row[0] for row in batch]


def trial_lines(store: Store, selection: Selection, *, fmt: str) -> Iterator[list[str]]:
    """Batches of trial rows, one CSV line (no line end) or one JSON object each."""
    join = _prepare_study_ids(store, selection).format(subject="r.subject")
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    if fmt == "csv":
        body = _csv_line(TRIAL_FIELDS, "r", selection)
    else:
        body = (
            "json_object("
            + ", ".join(
                f"'{f.name}', {_json_expr(f, f'r.{f.name}', selection)}" for f in TRIAL_FIELDS
            )
            + ")"
        )
    order = _order(selection, "r.session_started_at", "r.session_id", "r.seq")
    sql = f"SELECT {body} FROM trial_results r{join}{where}{order}"
    yield from _stream(store, sql, params)


def count_trials(store: Store, selection: Selection) -> int:
    where, params = selection.where(
        "r.session_started_at", "r.session_status", "r.session_id", "r.subject"
    )
    return int(
        store.conn.execute(f"SELECT count(*) FROM trial_results r{where}", params).fetchone()[0]
    )


_SESSION_SOURCE = """
SELECT s.session_id, sub.code AS subject, s.tester, s.station, s.position, s.order_scheme,
    s.order_seed, s.tests, s.repetitions, s.blind, s.record_effort, s.record_discomfort,
    s.protocol_version, s.started_at, s.ended_at, s.status, s.safety_passed, s.cleared_by,
    {end_reason} AS end_reason
FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id
"""


def session_source(conn: sqlite3.Connection) -> str:
    """Every session with the columns of sessions.csv (`SESSION_FIELDS`), in that order; a
    column a file of an older schema lacks (read as it is) is empty."""
    return _SESSION_SOURCE.format(end_reason=end_reason_sql(conn))


def session_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    join = _prepare_study_ids(store, selection).format(subject="x.subject")
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(SESSION_FIELDS, "x", selection)
    order = _order(selection, "x.started_at", "x.session_id")
    sql = f"SELECT {body} FROM ({session_source(store.conn)}) x{join}{where}{order}"
    yield from _stream(store, sql, params)


def ranking_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    _prepare_pseudonyms(store, selection)
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(RANKING_FIELDS, "k", selection)
    order = _order(selection, "x.started_at", "k.session_id", "k.test", "k.role", "k.rank")
    sql = (
        f"SELECT {body} FROM rankings k JOIN ({session_source(store.conn)}) x "
        f"ON x.session_id = k.session_id{where}{order}"
    )
    yield from _stream(store, sql, params)


def safety_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    """The safety answers of the selected sessions, as CSV lines."""
    _prepare_pseudonyms(store, selection)
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(SAFETY_ANSWER_FIELDS, "a", selection)
    order = _order(selection, "x.started_at", "a.session_id", "a.question")
    sql = (
        f"SELECT {body} FROM safety_answers a JOIN ({session_source(store.conn)}) x "
        f"ON x.session_id = a.session_id{where}{order}"
    )
    yield from _stream(store, sql, params)


def correction_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    """The audit trail of the selected sessions' trials, as CSV lines, oldest first."""
    _prepare_pseudonyms(store, selection)
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(CORRECTION_FIELDS, "c", selection)
    order = _order(selection, "x.started_at", "t.session_id", "t.seq", "c.corrected_at", "c.rowid")
    sql = (
        f"SELECT {body} FROM corrections c JOIN trials t ON t.trial_id = c.trial_id "
        f"JOIN ({session_source(store.conn)}) x ON x.session_id = t.session_id{where}{order}"
    )
    yield from _stream(store, sql, params)


# -- data coming in ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    subjects_added: int = 0
    sessions_added: int = 0
    sessions_present: int = 0
    trials_added: int = 0
    trials_present: int = 0
    rankings_added: int = 0
    rankings_present: int = 0
    safety_answers_added: int = 0
    safety_answers_present: int = 0
    corrections_added: int = 0
    corrections_present: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.subjects_added
            or self.sessions_added
            or self.trials_added
            or self.rankings_added
            or self.safety_answers_added
            or self.corrections_added
        )

    @property
    def audit(self) -> str:
        """A sentence on the safety answers and corrections, if the import had any."""
        if not (
            self.safety_answers_added
            or self.safety_answers_present
            or self.corrections_added
            or self.corrections_present
        ):
            return ""
        return (
            f"Safety answers: {self.safety_answers_added:,} added, "
            f"{self.safety_answers_present:,} already present; corrections: "
            f"{self.corrections_added:,} added, {self.corrections_present:,} already present."
        )


@dataclass(frozen=True)
class AuditRow:
    """A row of corrections.csv and where it stands in its file."""

    where: str
    line: int
    values: dict[str, object]


class ImportConflict(Exception):
    """Rows whose UUID is already in the database with other values. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems


SESSION_LEVEL: tuple[str, ...] = (
    "subject",
    "tester",
    "station",
    "position",
    "order_scheme",
    "session_started_at",
    "session_status",
    "protocol_version",
)
_SESSION_COLUMN_OF = {"session_started_at": "started_at", "session_status": "status"}
_TRIAL_COLUMNS = TRIAL_TABLE_COLUMNS
_RANKING_KEY = operator.itemgetter("session_id", "test", "role", "posture")
_DEFERRABLE_INDEXES = {
    "sessions": ("sessions_by_start", "sessions_by_subject", "sessions_unfinished"),
    "trials": ("trials_by_id", "trials_by_position"),
}
"""Indexes a bulk import into an empty table builds at the end, from `indexes()`."""


def _same(a: object, b: object, column: str) -> bool:
    if column == "subject" and isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if column in ("tester", "station", "note", "cleared_by", "reason"):
        return (a or "") == (b or "")
    return a == b


def _differing(columns: Sequence[str], old: Sequence[object], new: Sequence[object]) -> list[str]:
    """The columns whose stored and incoming values are not the same (see `_same`)."""
    return [c for c, a, b in zip(columns, old, new, strict=True) if not _same(a, b, c)]


TALLIED_COLUMNS = (
    "session_id",
    "test",
    "seq",
    "rep",
    "outcome",
    "tester_effort",
    "discomfort",
    "rated_at",
)
"""The trial columns `Tallies.add` takes, in its order."""


def session_facts(
    columns: Mapping[str, Sequence[object]], known: set[str]
) -> dict[str, tuple[object, ...]]:
    """The sessions whose first row is in this batch (and not in `known`), with their facts
    as that row gives them (`SESSION_LEVEL` order)."""
    session_ids = columns["session_id"]
    last = len(session_ids) - 1
    first_row = dict(zip(reversed(session_ids), range(last, -1, -1), strict=True))
    rows = [i for sid, i in first_row.items() if sid not in known]
    facts = zip(*([columns[c][i] for i in rows] for c in SESSION_LEVEL), strict=True)
    return {str(session_ids[i]): fact for i, fact in zip(rows, facts, strict=True)}


STATUS_AT = SESSION_LEVEL.index("session_status")
"""Where a session's status is in its facts."""
_LEVELS = len(SESSION_LEVEL)
"""A session's facts come first in what `first_met` gives, its plan after them."""
_DESCRIBED_ONLY = ("order_seed", "blind", "cleared_by", "end_reason")
"""Session columns that only a data package's sessions.csv (or a merged database) gives."""


def with_plans(
    facts: dict[str, tuple[object, ...]], tallies: Tallies
) -> dict[str, tuple[object, ...]]:
    """Sessions' facts (`SESSION_LEVEL`) followed by the plans their rows so far imply
    (`PLAN_FIELDS`)."""
    return {sid: (*f, *tallies.plan(sid, str(f[STATUS_AT]))) for sid, f in facts.items()}


def first_met(
    columns: Mapping[str, Sequence[object]], known: set[str], tallies: Tallies
) -> dict[str, tuple[object, ...]]:
    """`session_facts` with their plans."""
    return with_plans(session_facts(columns, known), tallies)


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
                "SELECT s.session_id, sub.code, s.tester, s.station, s.position, s.order_scheme, "
                "s.started_at, s.status, s.protocol_version, s.end_reason FROM sessions s "
                "JOIN subjects sub ON sub.subject_id = s.subject_id "
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
            (subject, tester, station, position, scheme, started, status, version) = facts[:_LEVELS]
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
                theirs = [described[_SESSION_COLUMN_OF.get(c, c)] for c in SESSION_LEVEL]
                self._compare_session(session_id, facts, theirs, "in sessions.csv", "in trials.csv")
                plan = [described[c] for c in PLAN_FIELDS]
                seed, blind, cleared_by, end_reason = (described[c] for c in _DESCRIBED_ONLY)
            else:
                plan = list(facts[_LEVELS:])
                seed, blind, cleared_by, end_reason = None, 0, None, None
                self._derived.add(session_id)
            tests, repetitions, effort, discomfort, ended_at, safety_passed = plan
            new_rows.append(
                (
                    session_id,
                    self._subject_id(str(subject)),
                    tester or "",
                    station or "",
                    position,
                    scheme,
                    seed,
                    tests,
                    repetitions,
                    blind,
                    effort,
                    discomfort,
                    version,
                    started,
                    ended_at,
                    status,
                    safety_passed,
                    cleared_by,
                    end_reason,
                )
            )
        if self._new_subjects:
            self.conn.executemany(
                "INSERT INTO subjects (subject_id, code, enrolment_index, created_at) "
                "VALUES (?,?,?,?)",
                self._new_subjects,
            )
            self._new_subjects.clear()
        self.conn.executemany(
            "INSERT INTO sessions (session_id, subject_id, tester, station, position, order_scheme,"
            " order_seed, tests, repetitions, blind, record_effort, record_discomfort,"
            " protocol_version, started_at, ended_at, status, safety_passed, cleared_by,"
            " end_reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            new_rows,
        )
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
            if not _same(old, new, column):
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
            rows = list(zip(*(columns[c] for c in _TRIAL_COLUMNS), strict=True))
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
                f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials WHERE trial_id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ):
                existing[row[0]] = row
        new_rows = rows if not existing else self._compare_trials(rows, existing)
        try:
            self.conn.executemany(
                f"INSERT INTO trials ({', '.join(_TRIAL_COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(_TRIAL_COLUMNS))})",
                new_rows,
            )
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
            different = _differing(_TRIAL_COLUMNS, old, row)
            if different:
                self._conflict(f"trial {row[0]}: {', '.join(different)} differ from the database")
            else:
                self.report.trials_present += 1
        return new_rows

    def add_rankings(self, rows: list[dict[str, object]]) -> None:
        now = utc_now()
        if self._rankings_started_empty:  # a checked file: no ranking can be there already
            try:
                self.conn.executemany(
                    "INSERT INTO rankings (session_id, test, role, posture, rank, ranked_at) "
                    "VALUES (?,?,?,?,?,?)",
                    (_RANKING_KEY(r) + (r["rank"], r.get("ranked_at") or now) for r in rows),
                )
            except sqlite3.IntegrityError as e:
                self._conflict(f"rankings could not be added ({e})")
                return
            self.report.rankings_added += len(rows)
            return
        for r in rows:
            key = (r["session_id"], r["test"], r["role"], r["posture"])
            old = self.conn.execute(
                "SELECT rank FROM rankings WHERE session_id = ? AND test = ? AND role = ? "
                "AND posture = ?",
                key,
            ).fetchone()
            if old is None:
                try:
                    self.conn.execute(
                        "INSERT INTO rankings (session_id, test, role, posture, rank, ranked_at) "
                        "VALUES (?,?,?,?,?,?)",
                        (*key, r["rank"], r.get("ranked_at") or now),
                    )
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

    _SAFETY_COLUMNS = ("session_id", "question", "answer", "answered_at")
    _CORRECTION_COLUMNS = (
        "correction_id",
        "trial_id",
        "field",
        "old_value",
        "new_value",
        "reason",
        "corrected_at",
    )

    def add_safety_answers(self, rows: list[dict[str, object]]) -> None:
        """Safety answers by (session, question): new ones added, equal ones counted, others
        reported as conflicts."""
        columns = self._SAFETY_COLUMNS
        for row in rows:
            values = tuple(row[c] for c in columns)
            old = self.conn.execute(
                "SELECT session_id, question, answer, answered_at FROM safety_answers "
                "WHERE session_id = ? AND question = ?",
                values[:2],
            ).fetchone()
            if old is None:
                self.conn.execute(
                    "INSERT INTO safety_answers (session_id, question, answer, answered_at) "
                    "VALUES (?,?,?,?)",
                    values,
                )
                self.report.safety_answers_added += 1
                continue
            different = _differing(columns, old, values)
            if different:
                self._conflict(
                    f"safety answer {values[0]}/{values[1]}: {', '.join(different)} differ "
                    "from the database"
                )
            else:
                self.report.safety_answers_present += 1

    def add_corrections(self, rows: list[AuditRow]) -> list[tuple[str, int, str]]:
        """The audit trail by correction id, like trials; returns the rows whose trial is in
        neither the file nor the database (where, line, trial id), and writes none of those."""
        columns = self._CORRECTION_COLUMNS
        unknown: list[tuple[str, int, str]] = []
        for row in rows:
            values = tuple(row.values[c] for c in columns[:5]) + (
                row.values["reason"] or "",
                row.values["corrected_at"],
            )
            known = self.conn.execute(
                "SELECT 1 FROM trials WHERE trial_id = ?", (values[1],)
            ).fetchone()
            if known is None:
                unknown.append((row.where, row.line, str(values[1])))
                continue
            old = self.conn.execute(
                f"SELECT {', '.join(columns)} FROM corrections WHERE correction_id = ?",
                (values[0],),
            ).fetchone()
            if old is None:
                self.conn.execute(
                    f"INSERT INTO corrections ({', '.join(columns)}) VALUES (?,?,?,?,?,?,?)",
                    values,
                )
                self.report.corrections_added += 1
                continue
            different = _differing(columns, old, values)
            if different:
                self._conflict(
                    f"correction {values[0]}: {', '.join(different)} differ from the database"
                )
            else:
                self.report.corrections_present += 1
        return unknown

    def add_audit(self, other: sqlite3.Connection) -> None:
        """Safety answers and corrections of another station: kept by their keys, never changed."""
        self.conn.executemany(
            "INSERT OR IGNORE INTO safety_answers (session_id, question, answer, answered_at) "
            "VALUES (?,?,?,?)",
            other.execute("SELECT session_id, question, answer, answered_at FROM safety_answers"),
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO corrections (correction_id, trial_id, field, old_value, "
            "new_value, reason, corrected_at) VALUES (?,?,?,?,?,?,?)",
            other.execute(
                "SELECT correction_id, trial_id, field, old_value, new_value, reason, "
                "corrected_at FROM corrections"
            ),
        )

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


# -- merging another station's database ------------------------------------------------------


def _rows_as_dicts(conn: sqlite3.Connection, sql: str) -> Iterator[list[dict[str, object]]]:
    cursor = conn.execute(sql)
    names = [d[0] for d in cursor.description]
    while batch := cursor.fetchmany(BATCH):
        yield [dict(zip(names, row, strict=True)) for row in batch]


def merge_databases(store: Store, others: list[Path]) -> ImportReport:
    """Bring other stations' databases in by UUID, all in one transaction, or nothing."""
    sources: list[sqlite3.Connection] = []
    writer = ImportWriter(store)
    try:
        for path in others:
            sources.append(open_readonly(path))
        with store.write():
            for conn in sources:
                sessions = {
                    str(row["session_id"]): row
                    for batch in _rows_as_dicts(conn, session_source(conn))
                    for row in batch
                }
                for batch in _rows_as_dicts(
                    conn, "SELECT * FROM trial_results ORDER BY session_id, seq"
                ):
                    writer.add_trials(batch, sessions)
                for batch in _rows_as_dicts(
                    conn, "SELECT session_id, test, role, posture, rank, ranked_at FROM rankings"
                ):
                    writer.add_rankings(batch)
                writer.add_audit(conn)
            writer.finish()
    finally:
        for conn in sources:
            conn.close()
    return writer.report
