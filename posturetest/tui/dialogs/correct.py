"""Correct a trial's saved ratings, with a reason for the audit trail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from posturetest.domain import (
    CORRECTION_REASON_MAX_LENGTH,
    Scale,
    Trial,
    short_text_problem,
)
from posturetest.tui.widgets.keybar import HELP_KEYS, KeyBar
from posturetest.tui.widgets.rating import RatingScale


@dataclass(frozen=True)
class Correction:
    changes: dict[str, int]
    """The new values, by scale name (only those that changed)."""
    reason: str


class CorrectDialog(ModalScreen[Correction | None]):
    """Change saved ratings of one trial, with a short reason for the audit trail."""

    DEFAULT_CSS = """
    CorrectDialog { align: center top; }
    CorrectDialog > Vertical {
        width: 96; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 0 1; margin: 1 0 0 0;
    }
    CorrectDialog RatingScale { margin: 0; }
    CorrectDialog #correct-reason { margin: 1 0 0 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "save",
            "Save corrections",
            tooltip="Keep the new values and the reason (audited)",
            id="correct-save",
        ),
        Binding(
            "escape",
            "cancel",
            "Cancel",
            tooltip="Keep the ratings as they were",
            id="correct-cancel",
        ),
        *HELP_KEYS,
    ]

    def __init__(self, trial: Trial, title: str, scales: tuple[Scale, ...]) -> None:
        super().__init__()
        self.trial = trial
        self.title_text = title
        self.scales = [s for s in scales if trial.rating(s) is not None]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Correct {self.title_text}", classes="screen-title")
            yield Static(
                "Set the right value; Enter goes to the next. Old and new values and the "
                "reason are kept in the audit trail."
            )
            for scale in self.scales:
                yield RatingScale(scale, self.trial.rating(scale), id=f"fix-{scale.name}")
            yield Input(
                placeholder="Why? A short reason (needed), then Enter to save",
                id="correct-reason",
                compact=True,
            )
        yield KeyBar()

    def on_mount(self) -> None:
        self.query(RatingScale).first().focus()

    @on(RatingScale.Confirmed)
    def _confirmed(self, event: RatingScale.Confirmed) -> None:
        event.stop()
        ratings = list(self.query(RatingScale))
        if event.rating is ratings[-1]:
            self.query_one("#correct-reason", Input).focus()
        else:
            self.focus_next()

    @on(Input.Submitted, "#correct-reason")
    def _reason_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        changed = {
            r.scale.name: r.value
            for r in self.query(RatingScale)
            if r.value is not None and r.value != self.trial.rating(r.scale)
        }
        if not changed:
            self.dismiss(Correction({}, ""))
            return
        reason_input = self.query_one("#correct-reason", Input)
        reason = reason_input.value.strip()
        problem = (
            "a short reason is needed"
            if not reason
            else short_text_problem(reason, CORRECTION_REASON_MAX_LENGTH)
        )
        if problem:
            self.notify(f"Not saved yet: {problem}.", severity="warning")
            reason_input.focus()
            return
        self.dismiss(Correction(changed, reason))

    def action_cancel(self) -> None:
        self.dismiss(None)
