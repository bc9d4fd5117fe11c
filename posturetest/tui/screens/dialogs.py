"""Modal dialogs over a trial: stop it, or correct a rating already saved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from posturetest.domain import (
    CORRECTION_REASON_MAX_LENGTH,
    STOP_REASON_LABELS,
    Scale,
    StopReason,
    Trial,
    note_problem,
    short_text_problem,
)
from posturetest.domain.protocol import NOTE_PATTERN
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.rating import RatingScale

HELP_KEYS: list[BindingType] = [
    Binding(
        "question_mark", "app.help", "Help", key_display="?", tooltip="List every key", id="help"
    ),
    Binding(
        "f1",
        "app.help",
        "Help",
        key_display="F1",
        tooltip="List every key",
        id="help-f1",
        show=False,
    ),
]
"""A dialog stops the app's own keys; these bring ? (and F1, where ? is typed) back."""


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


class DiscardDialog(ModalScreen[bool]):
    """Discard a session started by mistake: kept in the file as stopped ("discarded")."""

    DEFAULT_CSS = """
    DiscardDialog { align: center middle; }
    DiscardDialog > Vertical {
        width: 72; max-width: 100%; height: auto; border: thick $error; background: $surface;
        padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Discard", tooltip="Discard the session", id="discard-yes"),
        Binding("n", "answer(False)", "Keep", tooltip="Keep the session as it is", id="discard-no"),
        Binding("escape", "answer(False)", "Keep", show=False, id="discard-escape"),
        *HELP_KEYS,
    ]

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Discard {self.what}?", classes="screen-title")
            yield Label(
                "It stays in the file, marked stopped (discarded), with every rating it holds "
                "kept in the audit trail; it is no longer offered for resume. y discards, "
                "n keeps it."
            )
        yield KeyBar()

    def action_answer(self, discard: bool) -> None:
        self.dismiss(discard)


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
        Binding("escape", "app.bell", "", show=False, id="damaged-escape"),
        *HELP_KEYS,
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
