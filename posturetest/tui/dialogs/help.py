"""Help: every key of the screen below and of the app, built from the bindings themselves."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Label, Static

from posturetest.config import display_path, keys_file_path
from posturetest.tui.widgets.keybar import KeyBar


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 100; max-width: 100%; height: 1fr; border: thick $primary; background: $surface;
        padding: 0 1;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape,question_mark,q", "dismiss", "Close", tooltip="Close the help", id="help-close"
        ),
    ]

    def __init__(self, below: Screen[object]) -> None:
        super().__init__()
        self.below = below

    def compose(self) -> ComposeResult:
        table = Table(show_header=True, expand=True, box=None)
        table.add_column("Key", style="bold", no_wrap=True)
        table.add_column("What it does")
        table.add_column("id (keys file)", style="dim", no_wrap=True)
        for keys, text, binding_id in keys_in_force(self.below):
            table.add_row(keys, text, binding_id)
        with VerticalScroll():
            yield Label("Keys on this screen", classes="screen-title")
            yield Static(table)
            yield Static(
                "The mouse works too. ctrl+p opens the command palette with the same actions. "
                f"Your own keys: {display_path(keys_file_path())}, one line per id, e.g. "
                'stop-trial = "x".',
                classes="explain",
            )
        yield KeyBar()


def keys_in_force(screen: Screen[object]) -> list[tuple[str, str, str]]:
    """(keys, what they do, binding id) for the screen below, as the keys file has set them:
    every key that does something there, hidden ones too, one row per kind of action (the ten
    digits are one row)."""
    app = screen.app
    rows: dict[tuple[int, str], tuple[list[str], list[str], str, str]] = {}
    for node, binding, _enabled, tooltip in screen.active_bindings.values():
        if not binding.description:
            continue
        shown, keys, text, binding_id = rows.setdefault(
            (id(node), binding.description),
            ([], [], tooltip or binding.description, binding.id or ""),
        )
        if binding.key_display and binding.key_display not in shown:
            shown.append(binding.key_display)
        display = app.get_key_display(binding)
        if display not in keys:
            keys.append(display)
    return [
        (" ".join(shown or keys), text, binding_id)
        for shown, keys, text, binding_id in rows.values()
    ]
