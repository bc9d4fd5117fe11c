"""Modal dialogs over a trial: stop it, or correct a rating already saved."""

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
    NOTE_MAX_LENGTH,
    STOP_REASON_LABELS,
    Scale,
    StopReason,
    Trial,
    note_problem,
)
from posturetest.domain.protocol import NOTE_PATTERN
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.rating import RatingScale


@dataclass(frozen=True)
class StopChoice:
    reason: StopReason
    end_session: bool
    note: str | None = None


class StopDialog(ModalScreen[StopChoice | None]):
    """Why the trial stopped, then: go on with the next trial, or end the session."""

    DEFAULT_CSS = """
    StopDialog { align: center middle; }
    StopDialog > Vertical {
        width: 64; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    StopDialog OptionList { height: auto; margin: 1 0; }
    StopDialog #then { display: none; height: auto; }
    StopDialog #stop-note { margin: 0 0 1 0; }
    StopDialog #then Button { margin-right: 2; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        *[
            Binding(
                str(i), f"reason({i})", label, show=i == 1, key_display="1-4" if i == 1 else None
            )
            for i, label in enumerate(STOP_REASON_LABELS.values(), start=1)
        ],
        Binding("n", "note", "Note", tooltip="Type a note about the stop (Enter then goes on)"),
        Binding("g", "finish(False)", "Go on", tooltip="Record the stop and go to the next trial"),
        Binding("e", "finish(True)", "End session", tooltip="Record the stop and end the session"),
        Binding("escape", "cancel", "Back", tooltip="The trial was not stopped: back to it"),
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
                    max_length=NOTE_MAX_LENGTH,
                    restrict=NOTE_PATTERN,
                    id="stop-note",
                )
                with Horizontal():
                    yield Button("Go on with the next trial  (g)", variant="primary", id="go-on")
                    yield Button("End the session  (e)", variant="error", id="end")
        yield KeyBar()

    def action_reason(self, index: int) -> None:
        self.reason = list(StopReason)[index - 1]
        self.query_one("#then").display = True
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


class CorrectDialog(ModalScreen[dict[str, int] | None]):
    """Change saved ratings of one trial. Returns only the values that changed."""

    DEFAULT_CSS = """
    CorrectDialog { align: center middle; }
    CorrectDialog > Vertical {
        width: 96; height: auto; border: thick $warning; background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "save",
            "Save corrections",
            tooltip="Keep the new values (audited)",
        ),
        Binding("escape", "cancel", "Cancel", tooltip="Keep the ratings as they were"),
    ]

    def __init__(self, trial: Trial, title: str, scales: tuple[Scale, ...]) -> None:
        super().__init__()
        self.trial = trial
        self.title_text = title
        self.scales = [s for s in scales if trial.rating(s) is not None]

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Correct {self.title_text}", classes="screen-title")
            yield Label(
                "Set the right value, Enter or Tab for the next, ctrl+s to save. "
                "Old and new values are kept in the audit trail."
            )
            for scale in self.scales:
                yield RatingScale(scale, self.trial.rating(scale), id=f"fix-{scale.name}")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query(RatingScale).first().focus()

    @on(RatingScale.Confirmed)
    def _confirmed(self, event: RatingScale.Confirmed) -> None:
        event.stop()
        ratings = list(self.query(RatingScale))
        if event.rating is ratings[-1]:
            self.action_save()
        else:
            self.focus_next()

    def action_save(self) -> None:
        changed = {
            r.scale.name: r.value
            for r in self.query(RatingScale)
            if r.value is not None and r.value != self.trial.rating(r.scale)
        }
        self.dismiss(changed)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DamagedDialog(ModalScreen[None]):
    """The file failed its check: nothing more is recorded into it, and the pair is told why."""

    DEFAULT_CSS = """
    DamagedDialog { align: center middle; }
    DamagedDialog > Vertical {
        width: 76; max-width: 100%; height: auto; border: thick $error; background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.bell", "", show=False),
    ]

    def __init__(self, where: str, problem: str) -> None:
        super().__init__()
        self.where = where
        self.problem = problem

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("This database is damaged", classes="screen-title")
            yield Label(
                f"{self.where} failed its check ({self.problem}).\n\n"
                "To keep what it holds from getting worse, nothing more is recorded into it: "
                "no session can go on here. Quit with ctrl+q, keep a copy of the file as it "
                "is, and start again on a new file (posturetest --db NEW.db). The sqlite3 "
                "tool's .recover command can often rescue the rows of a damaged file.",
                id="damaged-text",
            )
        yield KeyBar()
