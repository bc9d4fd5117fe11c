"""One trial: how to take the posture, what the tester does, then the ratings, tester first."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.timer import Timer
from textual.widgets import Label, ProgressBar, Static

from posturetest.domain import (
    POSTURES,
    TESTS,
    Outcome,
    Role,
    SessionStatus,
    Trial,
    progress,
)
from posturetest.store import RecordError, StoreBusy, StoreError
from posturetest.tui.dialogs import CorrectDialog, Correction, StopChoice, StopDialog
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.rating import RatingScale

FIRST_TRY_MS = 400
"""How long a confirmed rating waits for another writer before the screen says so."""
RETRY_EVERY_S = 0.5
RETRY_TRY_MS = 60
"""Then it tries again this often, each try waiting this long (the screen stays responsive)."""
WAITING = (
    "Another program is writing to the database. The rating is kept here and saved as soon "
    "as the file is free; it is not saved yet."
)


class TrialScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "s",
            "stop_trial",
            "Stop trial",
            tooltip="Pain, discomfort, could not hold: stop now",
            id="stop-trial",
        ),
        Binding(
            "u",
            "correct",
            "Correct last",
            tooltip="Correct the last trial whose ratings are both in (asks for a reason)",
            id="correct",
        ),
        Binding("n", "note", "Note", tooltip="Write a note about this trial", id="trial-note"),
        Binding("enter", "next", "Next", tooltip="Go to the next step", id="next"),
        *[
            Binding(str(d), f"rating_digit({d})", show=False, id=f"trial-digit-{d}")
            for d in range(10)
        ],
    ]

    def __init__(self, session_id: str, trial_id: str) -> None:
        super().__init__(session_id)
        self.trial: Trial = self.store.trial(trial_id)
        self.scales = self.session.scales
        self.revealing = False
        """Blind mode: both ratings are in and shown; Enter moves on."""
        self.pending: tuple[RatingScale, int] | None = None
        """A confirmed rating waiting for the file (another program holds its write lock)."""
        self._retry: Timer | None = None
        self._leave_anyway = False

    def trial_label(self) -> str:
        return label_of(self.trial, self.session.repetitions)

    def compose(self) -> ComposeResult:
        trial, session = self.trial, self.session
        done, total = progress(self.store.trials(self.session_id))
        posture, test = POSTURES[trial.posture], TESTS[trial.test]
        yield self.header()
        yield Label(self.context_line(), classes="context", id="trial-context")
        with Horizontal(id="trial-top"):
            title = f"{test.label.upper()} · {posture.label.upper()}"
            if session.repetitions > 1:
                title += f" · REPETITION {trial.rep} OF {session.repetitions}"
            yield Label(title, id="trial-title", classes="screen-title")
            yield Label(f"Trial {trial.seq} of {total}", id="trial-count")
            bar = ProgressBar(total=total, show_eta=False, id="trial-progress")
            bar.progress = done
            yield bar
        with Horizontal(id="cards"):
            subject_card = Static(
                Text.assemble(
                    posture.how_to[session.position], "\n", (test.subject_does, "italic")
                ),
                id="subject-card",
                classes="card",
            )
            subject_card.border_title = "Subject: take the posture"
            yield subject_card
            tester_card = Static(test.tester_does, id="tester-card", classes="card")
            tester_card.border_title = "Tester: apply the test"
            yield tester_card
        with Vertical(id="ratings"):
            for scale in self.scales:
                value = trial.rating(scale)
                yield RatingScale(
                    scale,
                    value,
                    saved=value is not None,
                    on_confirm=self.confirm_rating,
                    id=f"rate-{scale.name}",
                )
        yield Label("", id="trial-status")
        yield KeyBar()

    def on_mount(self) -> None:
        self._refresh_ratings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Enter shows as "Next" in the key bar once the trial is done (the blind reveal)."""
        if action == "next":
            return self.trial.outcome is not Outcome.PENDING or self.focused is None
        return True

    def _current(self) -> RatingScale | None:
        for widget in self.query(RatingScale):
            if not widget.saved:
                return widget
        return None

    def _refresh_ratings(self) -> None:
        """Focus the rating being asked; in blind mode, hide what the other person said."""
        current = self._current()
        blind = self.session.blind and not self.revealing
        for widget in self.query(RatingScale):
            waiting = widget is not current and not widget.saved
            widget.set_class(waiting, "-waiting")
            widget.can_focus = widget is current
            widget.masked = (
                blind and current is not None and widget.scale.role is not current.scale.role
            )
            widget.hint = ""
        if current is not None:
            if blind:
                other = "subject" if current.scale.role is Role.TESTER else "tester"
                current.hint = f"({other}, look away)"
            self.set_focus(current)

    def confirm_rating(self, widget: RatingScale, value: int) -> None:
        """Write the rating and commit before anything else happens on screen.

        "✓ saved" appears only after the commit. If another program holds the file, the value
        is kept, the scale says it is waiting, and it is tried again until it is saved; if it
        cannot be written at all (full disk, read-only file), the scale says so and Enter tries
        again."""
        if self.pending is not None:
            self.notify("Still waiting to save the rating before this one.", severity="warning")
            return
        self._save(widget, value, FIRST_TRY_MS)

    def _save(self, widget: RatingScale, value: int, wait_ms: int) -> None:
        status = self.query_one("#trial-status", Label)
        try:
            with self.store.busy_timeout(wait_ms):
                trial = self.store.record_rating(self.trial.trial_id, widget.scale.name, value)
        except StoreBusy:
            if self.pending is None:
                self.pending = (widget, value)
                widget.waiting = True
                status.update(WAITING)
                self._retry = self.set_interval(RETRY_EVERY_S, self._try_again)
            return
        except (RecordError, StoreError) as e:
            self._stop_waiting(widget)
            widget.problem = "press Enter to try again" if isinstance(e, StoreError) else ""
            status.update(f"Not saved: {e}")
            self.notify(f"Not saved: {e}", severity="error", timeout=10)
            return
        self._stop_waiting(widget)
        status.update("")
        self.trial = trial
        widget.saved = True
        if self.trial.outcome is Outcome.RATED:
            self._trial_done()
        else:
            self.notify(f"Saved: {widget.scale.name.replace('_', ' ')}.", timeout=2)
            self._refresh_ratings()

    def _try_again(self) -> None:
        if self.pending is not None:
            self._save(*self.pending, RETRY_TRY_MS)

    def _stop_waiting(self, widget: RatingScale) -> None:
        self.pending = None
        self._leave_anyway = False
        widget.waiting = False
        if self._retry is not None:
            self._retry.stop()
            self._retry = None

    def has_unsaved_rating(self) -> bool:
        return self.pending is not None

    def action_leave(self) -> None:
        if self.pending is not None and not self._leave_anyway:
            self._leave_anyway = True
            self.notify(
                "A rating is still waiting to be saved. Press Esc again to leave without it.",
                severity="warning",
                timeout=8,
            )
            return
        if self.pending is not None:
            self._stop_waiting(self.pending[0])
        super().action_leave()

    def _trial_done(self) -> None:
        if self.session.blind:
            self.revealing = True
            self._refresh_ratings()
            self.query_one("#trial-status", Label).update(
                "Both ratings are in and saved. Press Enter for the next step."
            )
            self.set_focus(None)
            self.refresh_bindings()
        else:
            self.notify(f"Trial {self.trial.seq} saved.", timeout=2)
            self.posture_app.show_next_step(self.session_id)

    def action_next(self) -> None:
        current = self._current()
        if self.trial.outcome is not Outcome.PENDING:
            self.posture_app.show_next_step(self.session_id)
        elif current is not None:
            current.action_confirm()

    def action_rating_digit(self, digit: int) -> None:
        """Digits typed while no scale has focus (say, just after the screen opened)."""
        current = self._current()
        if current is not None:
            self.set_focus(current)
            current.action_digit(digit)

    # -- stop ---------------------------------------------------------------------------------

    def action_stop_trial(self) -> None:
        if self.trial.outcome is not Outcome.PENDING:
            self.notify("This trial is already done.")
            return
        self.app.push_screen(StopDialog(self.trial_label()), self._stopped)

    def _stopped(self, choice: StopChoice | None) -> None:
        if choice is None:
            self._refresh_ratings()
            return
        try:
            self.store.stop_trial(self.trial.trial_id, choice.reason, choice.note)
            if choice.end_session:
                self.store.end_session(self.session_id, SessionStatus.STOPPED)
        except (RecordError, StoreError) as e:
            self.notify(f"Not recorded: {e}", severity="error", timeout=10)
            return
        if self.pending is not None:
            self._stop_waiting(self.pending[0])
        self.notify(
            f"Trial {self.trial.seq} stopped ({choice.reason.value.replace('_', ' ')}); recorded.",
            severity="warning",
        )
        self.posture_app.show_next_step(self.session_id)

    # -- note -------------------------------------------------------------------------------

    def action_note(self) -> None:
        from posturetest.tui.dialogs import NoteDialog

        def noted(note: str | None) -> None:
            if note is not None:
                try:
                    self.trial = self.store.set_trial_note(self.trial.trial_id, note or None)
                except (RecordError, StoreError) as e:
                    self.notify(f"Note not saved: {e}", severity="error", timeout=10)
                else:
                    self.notify(
                        f"Note saved for trial {self.trial.seq}." if note else "Note removed."
                    )
            self._refresh_ratings()

        self.app.push_screen(NoteDialog(self.trial_label(), self.trial.note or ""), noted)

    # -- correct ------------------------------------------------------------------------------

    def _correction_target(self) -> Trial | None:
        """The last trial whose ratings are all in (this one, once it is): a trial still being
        rated is never offered, so a blind pair never sees the other's number early."""
        rated = [
            t
            for t in self.store.trials(self.session_id)
            if t.seq <= self.trial.seq and t.outcome is Outcome.RATED
        ]
        return rated[-1] if rated else None

    def action_correct(self) -> None:
        trial = self._correction_target()
        if trial is None:
            self.notify("No rated trial to correct yet: both ratings of a trial must be in.")
            return
        title = label_of(trial, self.session.repetitions) + (
            " (this one)" if trial.trial_id == self.trial.trial_id else ""
        )

        def corrected(result: Correction | None) -> None:
            if result is not None and result.changes:
                try:
                    for name, value in result.changes.items():
                        self.store.correct_rating(trial.trial_id, name, value, result.reason)
                except (RecordError, StoreError) as e:
                    self.notify(f"Not corrected: {e}", severity="error", timeout=10)
                else:
                    self.notify(
                        f"Corrected {len(result.changes)} rating(s) of {title}; old values kept."
                    )
                if trial.trial_id == self.trial.trial_id:
                    self.trial = self.store.trial(trial.trial_id)
                    for widget in self.query(RatingScale):
                        widget.value = self.trial.rating(widget.scale)
            self._refresh_ratings()
            if self.trial.outcome is not Outcome.PENDING:
                self.set_focus(None)

        self.app.push_screen(CorrectDialog(trial, title, self.scales), corrected)


def label_of(trial: Trial, repetitions: int) -> str:
    """ "trial 3: vertical test, muscle type" (with the repetition when there are several)."""
    label = (
        f"trial {trial.seq}: {TESTS[trial.test].label.lower()}, "
        f"{POSTURES[trial.posture].label.lower()}"
    )
    return label + (f", repetition {trial.rep}" if repetitions > 1 else "")
