"""Stop a trial: why, then go on or end the session (a note is needed for 'other')."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from posturetest.domain import (
    STOP_REASON_LABELS,
    StopReason,
    note_problem,
)
from posturetest.domain.protocol import NOTE_PATTERN
from posturetest.tui.widgets.keybar import HELP_KEYS, KeyBar


@dataclass(frozen=True)
class StopChoice:
    reason: StopReason
    end_session: bool
    note: str | None = None


class StopDialog(ModalScreen[StopChoice | None]):
    """Why the trial stopped, then: go on with the next trial, or end the session."""

    DEFAULT_CSS = """
    StopDialog { align: center top; }
    StopDialog > Vertical {
        width: 64; max-width: 100%; height: auto; border: thick $error; background: $surface;
        padding: 0 1; margin: 3 0 0 0;
    }
    StopDialog OptionList { height: auto; margin: 0; }
    StopDialog #then { display: none; height: auto; }
    StopDialog #stop-note { margin: 0 0 1 0; }
    StopDialog #then Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *[
            Binding(
                str(i),
                f"reason({i})",
                "Reason" if i == 1 else label,
                show=i == 1,
                key_display="1-4" if i == 1 else None,
                tooltip="Why the trial was stopped: "
                + ", ".join(
                    f"{n} {text.lower()}" for n, text in enumerate(STOP_REASON_LABELS.values(), 1)
                ),
                id=f"stop-reason-{i}",
            )
            for i, label in enumerate(STOP_REASON_LABELS.values(), start=1)
        ],
        Binding(
            "n",
            "note",
            "Note",
            tooltip="Type a note about the stop (Enter then goes on)",
            id="stop-note",
        ),
        Binding(
            "g",
            "finish(False)",
            "Go on",
            tooltip="Record the stop and go to the next trial",
            id="stop-go-on",
        ),
        Binding(
            "e",
            "finish(True)",
            "End session",
            tooltip="Record the stop and end the session",
            id="stop-end",
        ),
        Binding(
            "escape",
            "cancel",
            "Back",
            tooltip="The trial was not stopped: back to it",
            id="stop-back",
        ),
        *HELP_KEYS,
    ]

    def __init__(self, trial_label: str) -> None:
        super().__init__()
        self.trial_label = trial_label
        self.reason: StopReason | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Stop {self.trial_label}", classes="screen-title")
            yield Label("Why was it stopped? (1-4)")
            yield OptionList(
                *[
                    Option(f"{i}  {label}", id=reason.value)
                    for i, (reason, label) in enumerate(STOP_REASON_LABELS.items(), start=1)
                ],
                id="reasons",
            )
            with Vertical(id="then"):
                yield Label("", id="then-label")
                yield Input(
                    placeholder="Note (optional): press n to type one",
                    restrict=NOTE_PATTERN,
                    id="stop-note",
                    compact=True,
                )
                with Horizontal():
                    yield Button(
                        "Go on with the next trial  (g)",
                        variant="primary",
                        id="go-on",
                        compact=True,
                    )
                    yield Button("End the session  (e)", variant="error", id="end", compact=True)
        yield KeyBar()

    def action_reason(self, index: int) -> None:
        self.reason = list(StopReason)[index - 1]
        self.query_one("#then").display = True
        note = self.query_one("#stop-note", Input)
        if self.reason is StopReason.OTHER:
            note.placeholder = "What happened? Press n: a short note is needed for 'other'"
            self.query_one("#then-label", Label).update(
                "Reason: other. Press n and type a short note (needed), then Enter."
            )
            self.set_focus(self.query_one("#go-on", Button))
            return
        note.placeholder = "Note (optional): press n to type one"
        self.query_one("#then-label", Label).update(
            f"Reason: {STOP_REASON_LABELS[self.reason]}. Go on, or end the session?"
        )
        self.set_focus(self.query_one("#go-on", Button))

    @on(OptionList.OptionSelected, "#reasons")
    def _reason_selected(self, event: OptionList.OptionSelected) -> None:
        self.action_reason(event.option_index + 1)

    @on(Button.Pressed, "#go-on")
    def _go_on(self) -> None:
        self.action_finish(False)

    @on(Button.Pressed, "#end")
    def _end(self) -> None:
        self.action_finish(True)

    def action_finish(self, end_session: bool) -> None:
        if self.reason is None:
            self.notify("Choose a reason first (1-4).", severity="warning")
            return
        note = self.query_one("#stop-note", Input).value.strip() or None
        if note is not None and (problem := note_problem(note)):
            self.notify(f"The note {problem}.", severity="error")
            return
        if note is None and self.reason is StopReason.OTHER:
            self.notify(
                "'Other' needs a short note: press n and type what happened.", severity="warning"
            )
            return
        self.dismiss(StopChoice(self.reason, end_session, note))

    def action_note(self) -> None:
        if self.reason is None:
            self.notify("Choose a reason first (1-4).", severity="warning")
            return
        self.query_one("#stop-note", Input).focus()

    @on(Input.Submitted, "#stop-note")
    def _note_done(self) -> None:
        self.action_finish(False)

    def action_cancel(self) -> None:
        self.dismiss(None)
