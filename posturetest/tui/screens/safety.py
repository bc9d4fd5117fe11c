"""Safety screen, before any pressure: a yes stops the session unless a clinician cleared it."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Button, Input, Label, Static

from posturetest.domain import (
    CLINICIAN_MAX_LENGTH,
    SAFETY_QUESTIONS,
    short_text_problem,
)
from posturetest.store import RecordError, StoreError
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.fields import FieldInput
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.yesno import YesNo


class SafetyScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "submit",
            "Continue",
            tooltip="Save the answers and go on",
            id="safety-continue",
        ),
        Binding(
            "enter",
            "submit",
            "Continue",
            tooltip="Save the answers and go on (as ctrl+s)",
            id="safety-enter",
            show=False,
        ),
    ]

    def compose(self) -> ComposeResult:
        yield self.header()
        with Vertical(id="safety"):
            yield Label(self.context_line(), classes="context")
            yield Label("Before any pressure: safety check", classes="screen-title")
            yield Static(
                "Pressing down on the spine is not for everyone. Ask each question; y or n.",
                classes="explain",
            )
            for question in SAFETY_QUESTIONS:
                yield YesNo(question)
            yield Static("", id="safety-verdict")
            yield FieldInput(
                placeholder="clinician who cleared the subject (name), then Enter",
                id="cleared-by",
                compact=True,
            )
            yield Button("Continue  (Enter)", variant="primary", id="safety-continue", compact=True)
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
        any_yes = any(a is True for a in answers.values())
        unanswered = sum(a is None for a in answers.values())
        cleared.display = any_yes
        if any_yes and not unanswered:
            verdict.update(
                "A yes: type the clinician who cleared the subject, or leave it empty to end."
            )
            if not isinstance(self.focused, YesNo) or self.focused.answer is not None:
                cleared.focus()
        elif any_yes:
            verdict.update(f"A yes so far; {unanswered} question(s) still to answer.")
        elif not unanswered:
            verdict.update("All clear. Press Enter to begin the first trial.")
        else:
            verdict.update(f"{unanswered} question(s) still to answer.")

    @on(Input.Submitted, "#cleared-by")
    def _cleared_submitted(self) -> None:
        self.action_submit()

    @on(Button.Pressed, "#safety-continue")
    def _continue_pressed(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        answers = self.answers()
        if any(a is None for a in answers.values()):
            self.notify("Answer every question first (y or n).", severity="warning")
            return
        cleared_by = self.query_one("#cleared-by", Input).value.strip() or None
        if cleared_by and (problem := short_text_problem(cleared_by, CLINICIAN_MAX_LENGTH)):
            self.notify(f"The clinician's name: {problem}.", severity="error")
            return
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
