"""A yes-or-no question answered with one key (y or n), for the safety check."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from posturetest.domain import SafetyQuestion


class YesNo(Widget, can_focus=True):
    """One question: y or n answers it (a click on either word works too)."""

    DEFAULT_CSS = """
    YesNo { height: auto; padding: 0 1; }
    YesNo:focus { background: $boost; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", tooltip="Answer yes", id="answer-yes"),
        Binding("n", "answer(False)", "No", tooltip="Answer no", id="answer-no"),
    ]

    answer: reactive[bool | None] = reactive(None)

    class Answered(Message):
        def __init__(self, question: YesNo) -> None:
            self.question = question
            super().__init__()

    def __init__(self, question: SafetyQuestion) -> None:
        super().__init__(id=f"q-{question.key}")
        self.question = question

    def render(self) -> Table:
        """The question on the left (it may wrap), the answer always whole on the right."""
        answer = Text(no_wrap=True)
        for label, value in (("yes", True), ("no", False)):
            mark = "(•)" if self.answer is value else "( )"
            style = "bold" if self.answer is value else "dim"
            answer.append(f"  {mark} {label}", style=style)
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1)
        grid.add_column(no_wrap=True, justify="right")
        grid.add_row(Text(self.question.text), answer)
        return grid

    def action_answer(self, value: bool) -> None:
        self.answer = value
        # Move on inside the key's own action, so a quick "nnnnn" answers five questions.
        self.screen.focus_next()
        self.post_message(self.Answered(self))

    def on_click(self) -> None:
        self.focus()
