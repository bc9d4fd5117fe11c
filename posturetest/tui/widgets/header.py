"""The top line: the app's name on the left, the database path always visible on the right.

A path too long for the line is shortened in the middle (the start and the file name stay), so
the app's name and the file's name are both always on screen, at 80 columns too.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Label


def shorten(path: str, width: int) -> str:
    """`path` in at most `width` cells: the start, an ellipsis, then the end (the file name)."""
    if len(path) <= width or width < 8:
        return path[: max(width, 0)] if width < 8 else path
    tail = max(width * 2 // 3, width - 12)
    head = width - tail - 1
    return path[:head] + "…" + path[-tail:]


class PathLabel(Widget):
    DEFAULT_CSS = """
    PathLabel { width: 1fr; height: 1; color: $text-muted; }
    """

    def __init__(self, path: str, *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.path = path

    def render(self) -> Text:
        return Text(shorten(self.path, self.size.width), justify="right", no_wrap=True)


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
        width: auto;
        margin-right: 2;
    }
    """

    def __init__(self, db_path: str) -> None:
        super().__init__()
        self.db_path = db_path

    def compose(self) -> ComposeResult:
        yield Label("posturetest", id="app-name")
        yield PathLabel(self.db_path, id="db-path")
