"""One trial: how to take the posture, what the tester does, then the ratings, tester first."""

from __future__ import annotations

from typing import ClassVar

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
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.screens.dialogs import CorrectDialog, StopChoice, StopDialog
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
            "Correct previous",
            tooltip="Change a rating already saved",
            id="correct",
        ),
        Binding("enter", "next", "Next", tooltip="Go to the next step", id="next", show=False),
        *[Binding(str(d), f"rating_digit({d})", show=False) for d in range(10)],
        *SessionScreen.BINDINGS,
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
        t = self.trial
        label = f"trial {t.seq}: {TESTS[t.test].label.lower()}, {POSTURES[t.posture].label.lower()}"
        return label + (f", repetition {t.rep}" if self.session.repetitions > 1 else "")

    def compose(self) -> ComposeResult:
        trial, session = self.trial, self.session
        done, total = progress(self.store.trials(self.session_id))
        posture, test = POSTURES[trial.posture], TESTS[trial.test]
        yield self.header()
        with Horizontal(id="trial-top"):
            yield Label(self.context_line(), classes="context")
            yield Label(f"Trial {trial.seq} of {total}", id="trial-count")
            bar = ProgressBar(total=total, show_eta=False, id="trial-progress")
            bar.progress = done
            yield bar
        title = f"{test.label.upper()} · {posture.label.upper()}"
        if session.repetitions > 1:
            title += f" · repetition {trial.rep} of {session.repetitions}"
        yield Label(title, id="trial-title", classes="screen-title")
        with Horizontal(id="cards"):
            subject_card = Static(
                f"{posture.how_to[session.position]}\n\n[dim]{test.subject_does}[/dim]",
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

    # -- correct ------------------------------------------------------------------------------

    def _correction_target(self) -> tuple[Trial, str] | None:
        if any(v is not None for v in self.trial.ratings.values()):
            return self.trial, f"trial {self.trial.seq} (this one)"
        earlier = [
            t
            for t in self.store.trials(self.session_id)
            if t.seq < self.trial.seq and t.outcome is Outcome.RATED
        ]
        if not earlier:
            return None
        return earlier[-1], f"trial {earlier[-1].seq} (the previous one)"

    def action_correct(self) -> None:
        target = self._correction_target()
        if target is None:
            self.notify("No saved rating to correct yet.")
            return
        trial, title = target

        def corrected(changes: dict[str, int] | None) -> None:
            if changes:
                try:
                    for name, value in changes.items():
                        self.store.correct_rating(trial.trial_id, name, value)
                except (RecordError, StoreError) as e:
                    self.notify(f"Not corrected: {e}", severity="error", timeout=10)
                else:
                    self.notify(f"Corrected {len(changes)} rating(s) of {title}; old values kept.")
                if trial.trial_id == self.trial.trial_id:
                    self.trial = self.store.trial(trial.trial_id)
                    for widget in self.query(RatingScale):
                        widget.value = self.trial.rating(widget.scale)
            self._refresh_ratings()

        self.app.push_screen(CorrectDialog(trial, title, self.scales), corrected)
