"""Help: every key of the screen below and of the app, built from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.rating import RatingScale


def _bindings(owner: object) -> list[Binding]:
    return [b for b in getattr(owner, "BINDINGS", []) if isinstance(b, Binding) and b.description]


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; height: 80%; border: thick $primary; background: $surface; padding: 1 2;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "dismiss", "Close", tooltip="Close the help"),
    ]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, expand=True, box=None)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("What it does")
        seen: set[str] = set()
        groups = [_bindings(self.below)]
        if self.below.query(RatingScale):
            groups.append(_bindings(RatingScale))
        groups.append(_bindings(self.app))
        for group in groups:
            for b in group:
                key = b.key_display or b.key
                if key in seen or not b.show:
                    continue
                seen.add(key)
                table.add_row(key, b.tooltip or b.description)
        with VerticalScroll():
            yield Label("Keys on this screen", classes="screen-title")
            yield Static(table)
            yield Static(
                "\nThe mouse works too: click a number, a button or a field. ctrl+p opens the "
                "command palette with the same actions.",
                classes="explain",
            )
        yield KeyBar()
