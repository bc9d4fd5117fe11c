"""The top line: the app's name on the left, the database path always visible on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label


class AppHeader(Horizontal):
    DEFAULT_CSS = """
    AppHeader {
        dock: top;
        height: 1;
        background: $panel;
        padding: 0 1;
    }
    AppHeader #app-name {
        text-style: bold;
        width: 1fr;
    }
    AppHeader #db-path {
        color: $text-muted;
        width: auto;
    }
    """

    def __init__(self, db_path: str) -> None:
        super().__init__()
        self.db_path = db_path

    def compose(self) -> ComposeResult:
        yield Label("posturetest", id="app-name")
        yield Label(self.db_path, id="db-path")
