"""A note for the current trial."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from posturetest.domain import (
    note_problem,
)
from posturetest.domain.protocol import NOTE_PATTERN
from posturetest.tui.widgets.keybar import HELP_KEYS, KeyBar


class NoteDialog(ModalScreen[str | None]):
    """A note for the current trial: written to the trial's note, exported with it."""

    DEFAULT_CSS = """
    NoteDialog { align: center top; }
    NoteDialog > Vertical {
        width: 80; max-width: 100%; height: auto; border: thick $primary;
        background: $surface; padding: 0 1; margin: 1 0 0 0;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "cancel",
            "Cancel",
            tooltip="Leave the note as it was",
            id="note-cancel",
        ),
        *HELP_KEYS,
    ]

    def __init__(self, trial_label: str, note: str) -> None:
        super().__init__()
        self.trial_label = trial_label
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Note for {self.trial_label}", classes="screen-title")
            yield Label("Enter saves it (empty removes it); Esc leaves it as it was.")
            yield Input(
                self.note,
                placeholder="What should be remembered about this trial?",
                restrict=NOTE_PATTERN,
                id="trial-note",
                compact=True,
            )
        yield KeyBar()

    @on(Input.Submitted, "#trial-note")
    def _submitted(self, event: Input.Submitted) -> None:
        note = event.value.strip()
        if problem := note_problem(note):
            self.notify(f"The note {problem}.", severity="error")
            return
        self.dismiss(note)

    def action_cancel(self) -> None:
        self.dismiss(None)
