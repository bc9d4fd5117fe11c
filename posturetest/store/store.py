"""The store: every read and write of a session, each write its own committed transaction.

The TUI, stats and exports talk to this class; none of them writes SQL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from posturetest.domain import (
    PROTOCOL_VERSION,
    SAFETY_KEYS,
    SCALES,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Ranking,
    Role,
    Scale,
    Session,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
    Trial,
    is_valid_subject_code,
    may_proceed,
    new_seed,
    note_problem,
    plan_session,
)
from posturetest.domain.protocol import SUBJECT_CODE_RULE
from posturetest.domain.session import EndReason
from posturetest.store.opening import (
    BUSY_TIMEOUT_MS,
    StoreDamaged,
    StoreError,
    StoreReadOnly,
    connect,
    damage,
    describe,
    is_busy,
    is_file_problem,
)
from posturetest.store.schema import end_reason_sql

if TYPE_CHECKING:
    import sqlite_utils


def utc_now() -> str:
    """ISO 8601 UTC to the second, as in every export: 2026-11-24T09:15:00Z."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


class RecordError(ValueError):
    """A write the protocol does not allow (a rating of 11, a trial already stopped...)."""


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


_SESSION_ROW_SQL = f"""
SELECT s.session_id, sub.code, s.started_at, s.position, s.status, {{end_reason}},
    {_trial_counts_sql()}
FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id
"""

_TRIAL_COLUMNS = (
    "trial_id, session_id, seq, test, posture, rep, outcome, stop_reason, "
    + ", ".join(SCALES)
    + ", rated_at, note"
)


def _like_prefix(prefix: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching text that starts with `prefix` literally."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _trial(row: Sequence[Any]) -> Trial:
    n = len(SCALES)
    return Trial(
        trial_id=row[0],
        session_id=row[1],
        seq=row[2],
        test=StressTest(row[3]),
        posture=Posture(row[4]),
        rep=row[5],
        outcome=Outcome(row[6]),
        stop_reason=StopReason(row[7]) if row[7] else None,
        ratings=dict(zip(SCALES, row[8 : 8 + n], strict=True)),
        rated_at=row[8 + n],
        note=row[9 + n],
    )


def _checked_scale(scale_name: str, value: int) -> Scale:
    """The scale named, after checking the value fits it (before any transaction starts)."""
    scale = SCALES.get(scale_name)
    if scale is None:
        raise RecordError(f"unknown rating {scale_name!r}")
    if not scale.is_valid(value):
        raise RecordError(f"{scale.name} must be a whole number {scale.minimum}-{scale.maximum}")
    return scale


class Store:
    """One open database. Safe to share between the UI thread and worker threads."""

    NOTICE_AFTER_MS = 1000
    """With `wait_for_writer`: how long another writer may hold the file before it is said."""
    WAIT_STEP_MS = 250
    """While waiting for another writer, how often to look again (and to see ctrl+c)."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        readonly: bool = False,
        check: bool = False,
        check_in_background: bool = False,
    ) -> None:
        """`readonly`: a command that only reads (nothing is created, migrated or written).
        `check`: refuse a damaged file now. `check_in_background`: check it in a thread of its
        own, beside the work; writes wait for the answer, and a damaged file takes none."""
        self.path = str(path)
        self.readonly = readonly
        self.conn = connect(path, readonly=readonly, check=check)
        self._lock = threading.RLock()
        self._db: sqlite_utils.Database | None = None
        self.wait_for_writer: Callable[[], None] | None = None
        """When set, a write that finds the file held by another writer waits for it (calling
        this once, to say so) instead of failing; ctrl+c stops the wait."""
        self.damaged: str | None = None
        """What the background check found wrong with the file, if anything."""
        self._checked = threading.Event()
        self._checking: sqlite3.Connection | None = None
        self._checker: threading.Thread | None = None
        if check_in_background and self.path != ":memory:":
            self._checking = connect(self.path, readonly=True)
            self._checker = threading.Thread(
                target=self._check, args=(self._checking,), name="posturetest-check", daemon=True
            )
            self._checker.start()
        else:
            self._checked.set()

    def _check(self, conn: sqlite3.Connection) -> None:
        try:
            self.damaged = damage(conn)
        except sqlite3.Error as e:
            if isinstance(describe(e, self.path), StoreDamaged):
                self.damaged = str(e)  # else (interrupted by close) it is no verdict
        finally:
            self._checked.set()

    def wait_checked(self, timeout: float | None = None) -> bool:
        """Wait for the background check; True once it has answered."""
        return self._checked.wait(timeout)

    def require_sound(self) -> None:
        """Wait for the background check and refuse (StoreDamaged) a damaged file: a command
        that only reads asks before it hands over what it read."""
        self._checked.wait()
        if self.damaged:
            raise StoreDamaged(f"{self.path} is damaged ({self.damaged}); refused")

    @property
    def db(self) -> sqlite_utils.Database:
        """sqlite-utils on our connection, imported on first use: the import costs ~80 ms, and
        the home screen only reads (the app imports it in a thread once the first screen is
        painted). It is built under the connection's lock: building it runs a PRAGMA and then
        commits any transaction that opened meanwhile, which would end another thread's write
        half-way."""
        db = self._db
        if db is None:
            import sqlite_utils

            with self._lock:
                if self._db is None:
                    self._db = sqlite_utils.Database(self.conn, execute_plugins=False)
                db = self._db
        return db

    def close(self) -> None:
        """Close the connection, and the background check's (interrupted if still running, so
        a command that stops early leaves no -wal or -shm behind)."""
        if self._checking is not None:
            self._checking.interrupt()
            if self._checker is not None:
                self._checker.join()
            self._checking.close()
            self._checking = None
        with self._lock:
            self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def busy_timeout(self, milliseconds: int) -> Iterator[None]:
        """Wait at most this long for another writer (the UI's first try at a save)."""
        with self._lock:
            self.conn.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    def _begin(self) -> None:
        """BEGIN IMMEDIATE: the write lock up front, so a second station waits (busy timeout)
        instead of failing half-way through; with `wait_for_writer`, as long as it takes."""
        if self.readonly:
            raise StoreReadOnly(f"{self.path} was opened only to read; nothing is written to it")
        self._checked.wait()
        if self.damaged:
            raise StoreDamaged(
                f"{self.path} is damaged ({self.damaged}); nothing more is written into it"
            )
        if self.wait_for_writer is None:
            self._try_begin(waiting=False)
            return
        with self.busy_timeout(self.NOTICE_AFTER_MS):
            if self._try_begin(waiting=True):
                return
        self.wait_for_writer()
        with self.busy_timeout(self.WAIT_STEP_MS):
            while not self._try_begin(waiting=True):
                pass

    def _try_begin(self, *, waiting: bool) -> bool:
        """BEGIN IMMEDIATE once; False if another writer held the file past the busy timeout
        and `waiting`, else any failure as a StoreError."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            if waiting and is_busy(e):
                return False
            raise describe(e, self.path) from None
        return True

    @contextmanager
    def scratch(self) -> Iterator[None]:
        """Writes to this connection's temp tables only, committed at the end: no lock on the
        file is taken, so it works on a store opened read-only."""
        with self._lock:
            try:
                yield
                if self.conn.in_transaction:
                    self.conn.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise

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

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already (it does after a full disk)."""
        if self.conn.in_transaction:
            with suppress(sqlite3.Error):
                self.conn.execute("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[sqlite_utils.Database]:
        """One committed transaction; nested calls join the outer one.

        A problem of the file or the disk (busy, full, read-only, damaged) leaves as a
        StoreError with one line to show, after the transaction was rolled back.
        """
        with self._lock:
            if self.conn.in_transaction:
                yield self.db
                return
            self._begin()
            try:
                yield self.db
                self.conn.execute("COMMIT")
            except sqlite3.Error as e:
                self._rollback()
                if is_file_problem(e):
                    raise describe(e, self.path) from None
                raise
            except BaseException:
                self._rollback()
                raise

    _PRIMARY_KEYS = {"trials": "trial_id", "sessions": "session_id"}

    def _update(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        """UPDATE one row by primary key (sqlite-utils' Table.update introspects the table on
        every call, which tripled the cost of saving a rating)."""
        assignments = ", ".join(f"{column} = ?" for column in values)
        cursor = self.db.execute(
            f"UPDATE {table} SET {assignments} WHERE {self._PRIMARY_KEYS[table]} = ?",
            [*values.values(), key],
        )
        if cursor.rowcount != 1:
            raise RecordError(f"no {table[:-1]} {key}")

    @contextmanager
    def large_cache(self, mebibytes: int = 256) -> Iterator[None]:
        """A bigger page cache for bulk writes (random UUID keys touch pages all over)."""
        with self._lock:
            before = self.conn.execute("PRAGMA cache_size").fetchone()[0]
            self.conn.execute(f"PRAGMA cache_size = {-mebibytes * 1024}")
            try:
                yield
            finally:
                self.conn.execute(f"PRAGMA cache_size = {int(before)}")

    @contextmanager
    def rollback_journal(self) -> Iterator[bool]:
        """For one large write into a file no other connection has open: a rollback journal
        instead of the write-ahead log while it lasts, so each page is written once, into the
        file, instead of into the log and again when the log is copied back. The transaction
        stays all or nothing and its commit as durable. Yields whether it switched: with any
        other connection on the file, nothing changes (it does not wait for one to close)."""
        switched = False
        with self._lock:
            if self.path != ":memory:" and not self.conn.in_transaction:
                self.conn.execute("PRAGMA busy_timeout = 0")
                try:
                    mode = self.conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
                    switched = str(mode).lower() == "delete"
                except sqlite3.OperationalError:
                    switched = False  # another connection holds the file
                finally:
                    self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            try:
                yield switched
            finally:
                if switched:  # back to the log; if that fails, the next opening sets it
                    with suppress(sqlite3.OperationalError):
                        self.conn.execute("PRAGMA journal_mode = WAL")

    def _rows(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self.conn.execute(sql, params).fetchall()
            except sqlite3.Error as e:
                if is_file_problem(e):
                    raise describe(e, self.path) from None
                raise

    # -- subjects -----------------------------------------------------------------------------

    def subject_codes(self, prefix: str = "", limit: int = 20) -> list[str]:
        """Existing codes starting with `prefix` (any case), for suggestions while typing."""
        escaped = _like_prefix(prefix)
        rows = self._rows(
            "SELECT code FROM subjects WHERE code LIKE ? ESCAPE '\\' ORDER BY code LIMIT ?",
            (escaped, limit),
        )
        return [r[0] for r in rows]

    def ensure_subject(self, code: str) -> tuple[str, int]:
        """(subject_id, enrolment_index) for `code`, enrolling a new subject if needed."""
        if not is_valid_subject_code(code):
            raise RecordError(f"subject code {code!r} is not valid: use {SUBJECT_CODE_RULE}")
        with self.write() as db:
            row = self.conn.execute(
                "SELECT subject_id, enrolment_index FROM subjects WHERE code = ?",
                (code,),
            ).fetchone()
            if row:
                return row[0], row[1]
            index = self.conn.execute(
                "SELECT coalesce(max(enrolment_index) + 1, 0) FROM subjects"
            ).fetchone()[0]
            subject_id = new_id()
            db.table("subjects").insert(
                {
                    "subject_id": subject_id,
                    "code": code,
                    "enrolment_index": index,
                    "created_at": utc_now(),
                }
            )
            return subject_id, index

    # -- sessions -----------------------------------------------------------------------------

    def create_session(
        self, setup: SessionSetup, *, station: str = "", started_at: str | None = None
    ) -> Session:
        """Enrol the subject if new, plan the trials and store them all as pending."""
        with self.write() as db:
            subject_id, enrolment = self.ensure_subject(setup.subject)
            seed = setup.seed
            if setup.scheme is OrderScheme.RANDOM and seed is None:
                seed = new_seed()
            try:
                plan = plan_session(
                    tests=setup.tests,
                    repetitions=setup.repetitions,
                    scheme=setup.scheme,
                    enrolment_index=enrolment,
                    seed=seed,
                )
            except ValueError as e:
                raise RecordError(str(e)) from None
            session_id = new_id()
            db.table("sessions").insert(
                {
                    "session_id": session_id,
                    "subject_id": subject_id,
                    "tester": setup.tester,
                    "station": station,
                    "position": setup.position.value,
                    "order_scheme": setup.scheme.value,
                    "order_seed": seed if setup.scheme is OrderScheme.RANDOM else None,
                    "tests": ",".join(t.value for t in setup.tests),
                    "repetitions": setup.repetitions,
                    "blind": int(setup.blind),
                    "record_effort": int(setup.record_effort),
                    "record_discomfort": int(setup.record_discomfort),
                    "protocol_version": PROTOCOL_VERSION,
                    "started_at": started_at or utc_now(),
                    "ended_at": None,
                    "status": SessionStatus.IN_PROGRESS.value,
                    "safety_passed": 0,
                    "cleared_by": None,
                }
            )
            db.table("trials").insert_all(
                {
                    "trial_id": new_id(),
                    "session_id": session_id,
                    "seq": p.seq,
                    "test": p.test.value,
                    "posture": p.posture.value,
                    "rep": p.rep,
                    "outcome": Outcome.PENDING.value,
                }
                for p in plan
            )
        return self.session(session_id)

    @cached_property
    def _end_reason_sql(self) -> str:
        """The sessions' end_reason in a query (NULL in an older file opened only to read)."""
        with self._lock:
            return end_reason_sql(self.conn)

    def session(self, session_id: str) -> Session:
        rows = self._rows(
            f"""SELECT s.session_id, sub.code, s.tester, s.station, s.position, s.order_scheme,
                s.order_seed, s.tests, s.repetitions, s.blind, s.record_effort,
                s.record_discomfort, s.protocol_version, s.started_at, s.ended_at, s.status,
                s.safety_passed, {self._end_reason_sql}
            FROM sessions s JOIN subjects sub ON sub.subject_id = s.subject_id
            WHERE s.session_id = ?""",
            (session_id,),
        )
        if not rows:
            raise RecordError(f"no session {session_id}")
        r = rows[0]
        return Session(
            session_id=r[0],
            subject=r[1],
            tester=r[2],
            station=r[3],
            position=Position(r[4]),
            order_scheme=OrderScheme(r[5]),
            order_seed=r[6],
            tests=tuple(StressTest(t) for t in r[7].split(",")),
            repetitions=r[8],
            blind=bool(r[9]),
            record_effort=bool(r[10]),
            record_discomfort=bool(r[11]),
            protocol_version=r[12],
            started_at=r[13],
            ended_at=r[14],
            status=SessionStatus(r[15]),
            safety_passed=bool(r[16]),
            end_reason=EndReason(r[17]) if r[17] else None,
        )

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
            where.append("s.status = 'in_progress'")
        sql = _SESSION_ROW_SQL.format(end_reason=self._end_reason_sql)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY s.started_at DESC, s.session_id DESC LIMIT ?"
        params.append(limit)
        rows = []
        for r in self._rows(sql, params):
            rated, stopped, skipped, total = _unpacked_counts(r[6])
            rows.append(
                SessionRow(
                    r[0],
                    r[1],
                    r[2],
                    Position(r[3]),
                    SessionStatus(r[4]),
                    rated=rated,
                    stopped=stopped,
                    skipped=skipped,
                    total=total,
                    end_reason=EndReason(r[5]) if r[5] else None,
                )
            )
        return rows

    def trials(self, session_id: str) -> list[Trial]:
        rows = self._rows(
            f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE session_id = ? ORDER BY seq", (session_id,)
        )
        return [_trial(r) for r in rows]

    def trial(self, trial_id: str) -> Trial:
        rows = self._rows(f"SELECT {_TRIAL_COLUMNS} FROM trials WHERE trial_id = ?", (trial_id,))
        if not rows:
            raise RecordError(f"no trial {trial_id}")
        return _trial(rows[0])

    def rankings(self, session_id: str) -> list[Ranking]:
        rows = self._rows(
            "SELECT test, role, posture FROM rankings WHERE session_id = ? "
            "ORDER BY test, role, rank",
            (session_id,),
        )
        orders: dict[tuple[str, str], list[Posture]] = {}
        for test, role, posture in rows:
            orders.setdefault((test, role), []).append(Posture(posture))
        return [
            Ranking(StressTest(test), Role(role), tuple(order))
            for (test, role), order in orders.items()
        ]

    def safety_answers(self, session_id: str) -> dict[str, bool]:
        rows = self._rows(
            "SELECT question, answer FROM safety_answers WHERE session_id = ?", (session_id,)
        )
        return {q: bool(a) for q, a in rows}

    def corrections(self, trial_id: str) -> list[Correction]:
        rows = self._rows(
            "SELECT trial_id, field, old_value, new_value, reason, corrected_at "
            "FROM corrections WHERE trial_id = ? ORDER BY corrected_at, rowid",
            (trial_id,),
        )
        return [Correction(*r) for r in rows]

    # -- recording ----------------------------------------------------------------------------

    def record_safety(
        self, session_id: str, answers: Mapping[str, bool], *, cleared_by: str | None = None
    ) -> bool:
        """Store the safety screen. A yes without a clinician's clearance stops the session."""
        if set(answers) != set(SAFETY_KEYS):
            raise RecordError("every safety question needs an answer")
        clearance = (cleared_by or "").strip()
        cleared = bool(clearance)
        passed = may_proceed(answers, cleared_by_clinician=cleared)
        now = utc_now()
        with self.write() as db:
            session = self._open_session(session_id)
            if session.safety_passed:
                raise RecordError("the safety check of this session is already done")
            db.table("safety_answers").upsert_all(
                (
                    {"session_id": session_id, "question": k, "answer": int(v), "answered_at": now}
                    for k, v in answers.items()
                ),
                pk=("session_id", "question"),
            )
            self._update(
                "sessions",
                session_id,
                {
                    "safety_passed": int(passed),
                    "cleared_by": clearance if cleared and any(answers.values()) else None,
                },
            )
            if not passed:
                self.end_session(session_id, SessionStatus.STOPPED)
        return passed

    def _open_session(self, session_id: str, *, safety_passed: bool = False) -> Session:
        """The session, if it can still be written to (and, when asked, past its safety check)."""
        session = self.session(session_id)
        if session.status is not SessionStatus.IN_PROGRESS:
            raise RecordError("this session has ended; correct a rating instead")
        if safety_passed and not session.safety_passed:
            raise RecordError("the safety check comes before any trial")
        return session

    def _pending_trial(self, trial_id: str) -> tuple[Trial, Session]:
        trial = self.trial(trial_id)
        session = self._open_session(trial.session_id, safety_passed=True)
        if trial.outcome is not Outcome.PENDING:
            raise RecordError(f"trial {trial.seq} is already {trial.outcome.value}")
        return trial, session

    def record_rating(self, trial_id: str, scale_name: str, value: int) -> Trial:
        """Store one confirmed rating and commit it before returning.

        The trial becomes `rated` once every scale the session asks for is in.
        """
        scale = _checked_scale(scale_name, value)
        with self.write():
            trial, session = self._pending_trial(trial_id)
            if scale not in session.scales:
                raise RecordError(f"this session does not ask for {scale.name}")
            if trial.rating(scale) is not None:
                raise RecordError(f"{scale.name} is already recorded; correct it instead")
            ratings = {**trial.ratings, scale.name: value}
            update: dict[str, Any] = {scale.name: value}
            if all(ratings.get(s.name) is not None for s in session.scales):
                update["outcome"] = Outcome.RATED.value
                update["rated_at"] = utc_now()
            self._update("trials", trial_id, update)
        return self.trial(trial_id)

    def stop_trial(self, trial_id: str, reason: StopReason, note: str | None = None) -> Trial:
        """Record that the trial was stopped. Ratings already given move to the audit trail."""
        if note and (problem := note_problem(note)):
            raise RecordError(f"note: {problem}")
        with self.write():
            trial, _ = self._pending_trial(trial_id)
            now = utc_now()
            update: dict[str, Any] = {
                "outcome": Outcome.STOPPED.value,
                "stop_reason": StopReason(reason).value,
                "rated_at": now,
            }
            if note:
                update["note"] = note
            update.update(self._withdraw_ratings(trial, "trial stopped", now))
            self._update("trials", trial_id, update)
        return self.trial(trial_id)

    def set_trial_note(self, trial_id: str, note: str | None) -> Trial:
        """Write (or, with None, clear) the note of a trial of a session still in progress."""
        if note and (problem := note_problem(note)):
            raise RecordError(f"note: {problem}")
        with self.write():
            trial = self.trial(trial_id)
            self._open_session(trial.session_id)
            self._update("trials", trial_id, {"note": note or None})
        return self.trial(trial_id)

    def correct_rating(
        self, trial_id: str, scale_name: str, new_value: int, reason: str = ""
    ) -> Trial:
        """Change a confirmed rating; the old value, the new one and when are kept."""
        scale = _checked_scale(scale_name, new_value)
        with self.write():
            trial = self.trial(trial_id)
            old = trial.rating(scale)
            if old is None:
                raise RecordError(f"trial {trial.seq} has no {scale.name} to correct")
            if old == new_value:
                return trial
            self._audit(trial_id, scale.name, old, new_value, reason, utc_now())
            self._update("trials", trial_id, {scale.name: new_value})
        return self.trial(trial_id)

    def _withdraw_ratings(self, trial: Trial, reason: str, when: str) -> dict[str, None]:
        """Blank the ratings of a trial that will not be rated, keeping each in the audit trail."""
        withdrawn: dict[str, None] = {}
        for name, old in trial.ratings.items():
            if old is not None:
                self._audit(trial.trial_id, name, old, None, reason, when)
                withdrawn[name] = None
        return withdrawn

    def _audit(
        self, trial_id: str, field: str, old: int | None, new: int | None, reason: str, when: str
    ) -> None:
        self.db.table("corrections").insert(
            {
                "correction_id": new_id(),
                "trial_id": trial_id,
                "field": field,
                "old_value": old,
                "new_value": new,
                "reason": reason,
                "corrected_at": when,
            }
        )

    def record_ranking(
        self, session_id: str, test: StressTest, role: Role, order: Sequence[Posture]
    ) -> None:
        """One person's ranking of the postures for one test, best first, in one transaction."""
        if len(order) < 2 or len(set(order)) != len(order):
            raise RecordError("a ranking names two or three different postures")
        now = utc_now()
        with self.write() as db:
            self._open_session(session_id, safety_passed=True)
            self.conn.execute(
                "DELETE FROM rankings WHERE session_id = ? AND test = ? AND role = ?",
                (session_id, StressTest(test).value, Role(role).value),
            )
            db.table("rankings").insert_all(
                {
                    "session_id": session_id,
                    "test": StressTest(test).value,
                    "role": Role(role).value,
                    "posture": Posture(p).value,
                    "rank": rank,
                    "ranked_at": now,
                }
                for rank, p in enumerate(order, start=1)
            )

    def end_session(
        self, session_id: str, status: SessionStatus, *, reason: EndReason | None = None
    ) -> None:
        """Close a session. Stopping it marks every trial not yet done as skipped, and ratings
        already given to those move to the audit trail; `reason` says why a stopped session
        ended, when it was not an ordinary stop (see `discard_session`)."""
        if status is SessionStatus.IN_PROGRESS:
            raise RecordError("a session ends as complete or stopped")
        if reason is not None and status is not SessionStatus.STOPPED:
            raise RecordError(f"a session {EndReason(reason).value} ends as stopped")
        audit_reason = "session stopped" if reason is None else f"session {EndReason(reason)}"
        with self.write():
            self._open_session(session_id)
            if status is SessionStatus.COMPLETE:
                pending = self.conn.execute(
                    "SELECT count(*) FROM trials WHERE session_id = ? AND outcome = 'pending'",
                    (session_id,),
                ).fetchone()[0]
                if pending:
                    raise RecordError(f"{pending} trials are still to do")
            now = utc_now()
            for trial in self.trials(session_id):
                if trial.outcome is not Outcome.PENDING:
                    continue
                update = self._withdraw_ratings(trial, audit_reason, now)
                self._update("trials", trial.trial_id, {**update, "outcome": Outcome.SKIPPED.value})
            ended: dict[str, Any] = {"status": status.value, "ended_at": now}
            if reason is not None:
                ended["end_reason"] = EndReason(reason).value
            self._update("sessions", session_id, ended)

    def discard_session(self, session_id: str) -> None:
        """Discard an unfinished session started by mistake. It is kept, not deleted: stopped,
        with end_reason `discarded`, its pending trials skipped and ratings already given in
        the audit trail (reason "session discarded"), all in one transaction. It is no longer
        offered for resume. Only a session in progress can be discarded."""
        with self.write():
            status = self.session(session_id).status
            if status is not SessionStatus.IN_PROGRESS:
                raise RecordError(
                    f"only a session in progress can be discarded; this one is {status.value}"
                )
            self.end_session(session_id, SessionStatus.STOPPED, reason=EndReason.DISCARDED)

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


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open (or create) a database; raises StoreError with a one-line reason."""
    try:
        return Store(path)
    except sqlite3.Error as e:
        raise describe(e, str(path)) from None
