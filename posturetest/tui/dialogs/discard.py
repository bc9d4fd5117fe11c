"""Discard a session started by mistake (kept, marked discarded)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from posturetest.tui.widgets.keybar import HELP_KEYS, KeyBar


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
