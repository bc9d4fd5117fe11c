"""Safety screen, before any pressure: a yes stops the session unless a clinician cleared it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from posturetest.domain import SAFETY_QUESTIONS, SafetyQuestion
from posturetest.store import RecordError, StoreError
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.keybar import KeyBar


class YesNo(Widget, can_focus=True):
    """One question: y or n answers it (a click on either word works too)."""

    DEFAULT_CSS = """
    YesNo { height: auto; padding: 0 1; }
    YesNo:focus { background: $boost; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", tooltip="Answer yes"),
        Binding("n", "answer(False)", "No", tooltip="Answer no"),
    ]

    answer: reactive[bool | None] = reactive(None)

    class Answered(Message):
        def __init__(self, question: YesNo) -> None:
            self.question = question
            super().__init__()

    def __init__(self, question: SafetyQuestion) -> None:
        super().__init__(id=f"q-{question.key}")
        self.question = question

    def render(self) -> Text:
        text = Text(self.question.text + "  ")
        for label, value in (("yes", True), ("no", False)):
            mark = "(•)" if self.answer is value else "( )"
            style = "bold" if self.answer is value else "dim"
            text.append(f" {mark} {label}", style=style)
        return text

    def action_answer(self, value: bool) -> None:
        self.answer = value
        # Move on inside the key's own action, so a quick "nnnnn" answers five questions.
        self.screen.focus_next()
        self.post_message(self.Answered(self))

    def on_click(self) -> None:
        self.focus()


class SafetyScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        *SessionScreen.BINDINGS,
        Binding(
            "ctrl+s",
            "submit",
            "Continue",
            tooltip="Save the answers and go on",
            id="safety-continue",
        ),
    ]

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="safety"):
            yield Label(self.context_line(), classes="context")
            yield Label("Before any pressure: safety check", classes="screen-title")
            yield Static(
                "Pressing down on the spine is not for everyone. Ask the subject each question "
                "and press y or n.",
                classes="explain",
            )
            for question in SAFETY_QUESTIONS:
                yield YesNo(question)
            yield Static("", id="safety-verdict")
            yield Input(
                placeholder="clinician who cleared the subject (name)",
                id="cleared-by",
                max_length=80,
            )
            yield Button("Continue  (ctrl+s)", variant="primary", id="safety-continue")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#cleared-by", Input).display = False
        self.set_focus(self.query_one(YesNo))
        self._update_verdict()

    def answers(self) -> dict[str, bool | None]:
        return {q.question.key: q.answer for q in self.query(YesNo)}

    @on(YesNo.Answered)
    def _answered(self, event: YesNo.Answered) -> None:
        self._update_verdict()

    def _update_verdict(self) -> None:
        answers = self.answers()
        verdict = self.query_one("#safety-verdict", Static)
        cleared = self.query_one("#cleared-by", Input)
        if any(a is True for a in answers.values()):
            cleared.display = True
            verdict.update(
                "A yes means no pressure today, unless a clinician has cleared this subject for "
                "these tests. Type the clinician's name to go on, or leave it empty and the "
                "session ends here (the answers are kept)."
            )
        elif all(a is False for a in answers.values()):
            cleared.display = False
            verdict.update("All clear. Press ctrl+s to begin the first trial.")
        else:
            cleared.display = False
            unanswered = sum(a is None for a in answers.values())
            verdict.update(f"{unanswered} question(s) still to answer.")

    @on(Button.Pressed, "#safety-continue")
    def _continue_pressed(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        answers = self.answers()
        if any(a is None for a in answers.values()):
            self.notify("Answer every question first (y or n).", severity="warning")
            return
        cleared_by = self.query_one("#cleared-by", Input).value.strip() or None
        try:
            passed = self.store.record_safety(
                self.session_id, {k: bool(v) for k, v in answers.items()}, cleared_by=cleared_by
            )
        except (RecordError, StoreError) as e:
            self.notify(f"Not saved: {e}", severity="error", timeout=10)
            return
        if passed:
            self.notify("Safety answers saved.")
        else:
            self.notify(
                "Session ended at the safety check: no pressure today. The answers are saved.",
                severity="warning",
                timeout=8,
            )
        self.posture_app.show_next_step(self.session_id)
