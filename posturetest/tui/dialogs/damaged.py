"""The database failed its check: nothing more is recorded into it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from posturetest.tui.widgets.keybar import HELP_KEYS, KeyBar


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
