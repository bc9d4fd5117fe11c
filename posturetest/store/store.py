"""The store: every write of a session, each its own committed transaction.

The TUI, stats and exports talk to `Store`; none of them writes SQL. Its reads are in
`posturetest.store.reads`, its connection and transactions in `posturetest.store.transactions`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from posturetest.domain import (
    PROTOCOL_VERSION,
    SAFETY_KEYS,
    SCALES,
    OrderScheme,
    Outcome,
    Posture,
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
from posturetest.store.errors import RecordError, describe
from posturetest.store.reads import Reads
from posturetest.store.transactions import new_id, utc_now


def _checked_scale(scale_name: str, value: int) -> Scale:
    """The scale named, after checking the value fits it (before any transaction starts)."""
    scale = SCALES.get(scale_name)
    if scale is None:
        raise RecordError(f"unknown rating {scale_name!r}")
    if not scale.is_valid(value):
        raise RecordError(f"{scale.name} must be a whole number {scale.minimum}-{scale.maximum}")
    return scale


class Store(Reads):
    """One open database. Safe to share between the UI thread and worker threads."""

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


def open_store(path: str | os.PathLike[str]) -> Store:
    """Open (or create) a database; raises StoreError with a one-line reason."""
    try:
        return Store(path)
    except sqlite3.Error as e:
        raise describe(e, str(path)) from None
