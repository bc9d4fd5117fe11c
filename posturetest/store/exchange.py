"""SQL for data leaving the database: filtered, optionally de-identified, formatted by SQLite.

Rows are formatted inside SQLite (CSV lines, JSON objects) and streamed in batches, so an export
of 600,000 trials keeps memory flat and runs close to the sqlite3 shell's own speed.
"""

from __future__ import annotations

import hashlib
import hmac
import operator
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from posturetest.domain.interchange import (
    RANKING_FIELDS,
    SESSION_FIELDS,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    Field,
)
from posturetest.store.opening import open_readonly
from posturetest.store.store import Store, new_id, utc_now

BATCH = 5000

_FREE_TEXT = {"tester", "station", "note", "protocol_version", "cleared_by", "tests"}
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


def _csv_expr(f: Field, column: str, selection: Selection) -> str:
    """One cell as printf's argument (NULL prints as empty), quoted only where it must be."""
    if selection.deidentify and f.identifying:
        return "NULL"
    if f.name == "subject" and selection.deidentify:
        return "sid.study_id"
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
    if selection.deidentify and f.identifying:
        return "NULL"
    if f.name == "subject" and selection.deidentify:
        return "sid.study_id"
    return column


def _prepare_study_ids(store: Store, selection: Selection) -> str:
    """A temp table mapping subject codes to study ids; the JOIN that uses it."""
    if not selection.deidentify:
        return ""
    secret = store.conn.execute("SELECT value FROM meta WHERE key = 'study_secret'").fetchone()[0]
    with store.write():  # committed at once: a temp table, but still a write on this connection
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
    order = " ORDER BY r.session_started_at, r.session_id, r.seq"
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
    s.protocol_version, s.started_at, s.ended_at, s.status, s.safety_passed, s.cleared_by
FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id
"""


def session_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    join = _prepare_study_ids(store, selection).format(subject="x.subject")
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(SESSION_FIELDS, "x", selection)
    sql = (
        f"SELECT {body} FROM ({_SESSION_SOURCE}) x{join}{where} ORDER BY x.started_at, x.session_id"
    )
    yield from _stream(store, sql, params)


def ranking_lines(store: Store, selection: Selection) -> Iterator[list[str]]:
    where, params = selection.where("x.started_at", "x.status", "x.session_id", "x.subject")
    body = _csv_line(RANKING_FIELDS, "k", selection)
    sql = (
        f"SELECT {body} FROM rankings k JOIN ({_SESSION_SOURCE}) x ON x.session_id = k.session_id"
        f"{where} ORDER BY x.started_at, k.session_id, k.test, k.role, k.rank"
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

    @property
    def changed(self) -> bool:
        return bool(
            self.subjects_added or self.sessions_added or self.trials_added or self.rankings_added
        )


class ImportConflict(Exception):
    """Rows whose UUID is already in the database with other values. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems


_SESSION_LEVEL = (
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


def _same(a: object, b: object, column: str) -> bool:
    if column == "subject" and isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    if column in ("tester", "station", "note", "cleared_by"):
        return (a or "") == (b or "")
    return a == b


class ImportWriter:
    """Writes checked rows inside the caller's transaction, by UUID, reporting conflicts."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.conn = store.conn
        self.report = ImportReport()
        self.conflicts: list[str] = []
        self._known_sessions: set[str] = set()
        self._subjects: dict[str, str] | None = None
        self._next_enrolment = 0
        self._derived: list[str] = []
        """Sessions created from trial rows alone: their plan facts are derived at the end."""
        self._started_empty = not self.conn.execute(
            "SELECT EXISTS (SELECT 1 FROM trials)"
        ).fetchone()[0]
        """Into an empty database only this import's own rows can already be there, so only
        those need looking up (a large import skips 600,000 index lookups)."""
        self._added_trials: set[str] = set()

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
        self.conn.execute(
            "INSERT INTO subjects (subject_id, code, enrolment_index, created_at) VALUES (?,?,?,?)",
            (subject_id, code, self._next_enrolment, utc_now()),
        )
        self._next_enrolment += 1
        self._subjects[code.casefold()] = subject_id
        self.report.subjects_added += 1
        return subject_id

    def _sessions(
        self, firsts: dict[str, dict[str, object]], full: dict[str, dict[str, object]]
    ) -> None:
        """Sessions first met in this batch: compare the stored ones, insert the new ones."""
        ids = list(firsts)
        existing: dict[str, tuple[object, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self.conn.execute(
                "SELECT s.session_id, sub.code, s.tester, s.station, s.position, s.order_scheme, "
                "s.started_at, s.status, s.protocol_version FROM sessions s JOIN subjects sub "
                "ON sub.subject_id = s.subject_id "
                f"WHERE s.session_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ):
                existing[row[0]] = row[1:]
        new_rows = []
        for session_id, trial in firsts.items():
            self._known_sessions.add(session_id)
            stored = existing.get(session_id)
            if stored is not None:
                for column, old in zip(_SESSION_LEVEL, stored, strict=True):
                    if not _same(old, trial[column], column):
                        self._conflict(
                            f"session {session_id}: {column} is {old!r} in the database but "
                            f"{trial[column]!r} in the file"
                        )
                self.report.sessions_present += 1
                continue
            described = full.get(session_id)
            if described is not None:
                for column in _SESSION_LEVEL:
                    theirs = described[_SESSION_COLUMN_OF.get(column, column)]
                    if not _same(theirs, trial[column], column):
                        self._conflict(
                            f"session {session_id}: {column} is {theirs!r} in sessions.csv but "
                            f"{trial[column]!r} in trials.csv"
                        )
                values = described
            else:
                values = {
                    "order_seed": None,
                    "tests": str(trial["test"]),
                    "repetitions": 1,
                    "blind": 0,
                    "record_effort": 0,
                    "record_discomfort": 0,
                    "ended_at": None,
                    "safety_passed": 1,
                    "cleared_by": None,
                }
                self._derived.append(session_id)
            new_rows.append(
                (
                    session_id,
                    self._subject_id(str(trial["subject"])),
                    trial["tester"] or "",
                    trial["station"] or "",
                    trial["position"],
                    trial["order_scheme"],
                    values["order_seed"],
                    values["tests"],
                    values["repetitions"],
                    values["blind"],
                    values["record_effort"],
                    values["record_discomfort"],
                    trial["protocol_version"],
                    trial["session_started_at"],
                    values["ended_at"],
                    trial["session_status"],
                    values["safety_passed"],
                    values["cleared_by"],
                )
            )
        self.conn.executemany(
            "INSERT INTO sessions (session_id, subject_id, tester, station, position, order_scheme,"
            " order_seed, tests, repetitions, blind, record_effort, record_discomfort,"
            " protocol_version, started_at, ended_at, status, safety_passed, cleared_by)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            new_rows,
        )
        self.report.sessions_added += len(new_rows)

    def add_trials(
        self, batch: list[dict[str, object]], sessions: dict[str, dict[str, object]]
    ) -> None:
        if not batch:
            return
        firsts: dict[str, dict[str, object]] = {}
        for trial in batch:
            session_id = str(trial["session_id"])
            if session_id not in self._known_sessions and session_id not in firsts:
                firsts[session_id] = trial
        if firsts:
            self._sessions(firsts, sessions)
        ids = [str(t["trial_id"]) for t in batch]
        if self._started_empty:
            ids = [i for i in ids if i in self._added_trials]
        existing: dict[str, tuple[object, ...]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in self.conn.execute(
                f"SELECT {', '.join(_TRIAL_COLUMNS)} FROM trials WHERE trial_id IN "
                f"({', '.join('?' * len(chunk))})",
                chunk,
            ):
                existing[row[0]] = row
        new_rows = []
        table_row = operator.itemgetter(*_TRIAL_COLUMNS)
        for trial in batch:
            row = table_row(trial)
            old = existing.get(str(trial["trial_id"]))
            if old is None:
                new_rows.append(row)
                continue
            different = [
                c for c, a, b in zip(_TRIAL_COLUMNS, old, row, strict=True) if not _same(a, b, c)
            ]
            if different:
                self._conflict(
                    f"trial {trial['trial_id']}: {', '.join(different)} differ from the database"
                )
            else:
                self.report.trials_present += 1
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
        if self._started_empty:
            self._added_trials.update(str(row[0]) for row in new_rows)
        self.report.trials_added += len(new_rows)

    def add_rankings(self, rows: list[dict[str, object]]) -> None:
        now = utc_now()
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
        """Fill in what trial rows alone imply about new sessions; refuse on any conflict."""
        if self._derived:
            self.conn.execute("CREATE TEMP TABLE IF NOT EXISTS derived (id TEXT PRIMARY KEY)")
            self.conn.execute("DELETE FROM temp.derived")
            self.conn.executemany(
                "INSERT INTO temp.derived VALUES (?)", ((i,) for i in self._derived)
            )
            # One pass over the new sessions' trials, then one UPDATE ... FROM.
            self.conn.execute(
                """UPDATE sessions AS s SET
                    tests = agg.tests, repetitions = agg.repetitions,
                    record_effort = agg.record_effort, record_discomfort = agg.record_discomfort,
                    ended_at = CASE WHEN s.status = 'in_progress' THEN NULL ELSE agg.last END,
                    safety_passed = CASE WHEN s.status = 'stopped' AND agg.done = 0
                        THEN 0 ELSE 1 END
                FROM (
                    SELECT t.session_id,
                        CASE WHEN count(DISTINCT t.test) = 1 THEN min(t.test)
                            WHEN min(CASE WHEN t.test = 'vertical' THEN t.seq END)
                                < min(CASE WHEN t.test = 'anterior' THEN t.seq END)
                            THEN 'vertical,anterior' ELSE 'anterior,vertical' END AS tests,
                        max(t.rep) AS repetitions,
                        count(t.tester_effort) > 0 AS record_effort,
                        count(t.discomfort) > 0 AS record_discomfort,
                        max(t.rated_at) AS last,
                        sum(t.outcome IN ('rated', 'stopped')) AS done
                    FROM temp.derived d JOIN trials t ON t.session_id = d.id
                    GROUP BY t.session_id
                ) AS agg
                WHERE s.session_id = agg.session_id"""
            )
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
                    for batch in _rows_as_dicts(conn, _SESSION_SOURCE)
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
