"""The footer: every key the current screen offers, as the keys in force (a keys file may remap
them); a click presses the key. `? Help` always comes last, and a line too long for the terminal
is folded onto a second line rather than cut.

Textual's Footer builds one widget per key and rebuilds them on every focus change; on the home
screen that was a third of the start-up time. This draws the same keys as one widget.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import App
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.screen import Screen
from textual.widget import Widget

HELP_ACTIONS = ("help", "app.help")

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
"""The app's help keys, and every dialog's (a dialog stops the app's keys): ? opens the help,
and F1 where ? is typed as text (a note, a reason)."""


@dataclass(frozen=True)
class KeyItem:
    key: str
    """The key that presses it (the first, when several do)."""
    display: str
    description: str
    enabled: bool


def shown_keys(screen: Screen[object]) -> list[KeyItem]:
    """The keys to show for a screen, in the order of its bindings, the app's own last and help
    at the very end."""
    items: list[tuple[int, KeyItem]] = []
    seen: set[str] = set()
    app = screen.app
    fallback_help: KeyItem | None = None
    for node, binding, enabled, _tooltip in screen.active_bindings.values():
        if binding.action in HELP_ACTIONS and not binding.show and fallback_help is None:
            # where ? is typed as text (a note), the key bar shows the other help key
            display = app.get_key_display(binding)
            fallback_help = KeyItem(binding.key, display, binding.description, enabled)
        if not binding.show or not binding.description or binding.action in seen:
            continue
        seen.add(binding.action)
        order = 2 if binding.action in HELP_ACTIONS else 1 if isinstance(node, App) else 0
        display = app.get_key_display(binding)
        items.append((order, KeyItem(binding.key, display, binding.description, enabled)))
    if not any(order == 2 for order, _ in items) and fallback_help is not None:
        items.append((2, fallback_help))
    return [item for _, item in sorted(items, key=lambda pair: pair[0])]


class KeyBar(Widget):
    COMPONENT_CLASSES = {"keybar--key"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: auto;
        background: $footer-background;
        color: $footer-foreground;
    }
    KeyBar > .keybar--key {
        color: $footer-key-foreground;
        text-style: bold;
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._spans: list[tuple[int, int, int, str]] = []

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self.refresh(layout=True)

    def _layout(self, width: int) -> tuple[list[list[tuple[str, KeyItem]]], int]:
        """The keys laid out in lines of at most `width` cells, and the gap between keys: two
        spaces when one line holds them all so, else one, else folded onto more lines."""
        pieces = [(f" {i.display} ", i) for i in shown_keys(self.screen)]
        for gap in (2, 1):
            if _width(pieces, gap) <= width:
                return [pieces], gap
        lines: list[list[tuple[str, KeyItem]]] = [[]]
        for piece in pieces:
            # a folded line may use the bar's last cell too
            if lines[-1] and _width([*lines[-1], piece], 1) > width + 1:
                lines.append([])
            lines[-1].append(piece)
        return lines, 1

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._layout(width)[0]))

    def render(self) -> Text:
        lines, gap = self._layout(self.size.width or 80)
        key_style = self.get_component_rich_style("keybar--key")
        text = Text(no_wrap=True, overflow="ellipsis")
        self._spans = []
        for row, line in enumerate(lines):
            if row:
                text.append("\n")
            column = 0
            for index, (piece, item) in enumerate(line):
                if index:
                    text.append(" " * (gap - 1))
                    column += gap - 1
                start = column
                text.append(piece, style=key_style)
                text.append(item.description, style=Style() if item.enabled else Style(dim=True))
                column += len(piece) + len(item.description)
                self._spans.append((row, start, column, item.key))
        return text

    def on_click(self, event: events.Click) -> None:
        for row, start, end, key in self._spans:
            if row == event.y and start <= event.x < end:
                self.app.simulate_key(key.split(",")[0])
                return


def _width(pieces: list[tuple[str, KeyItem]], gap: int) -> int:
    """Cells a line of keys takes, with `gap` spaces between keys (one of them is the key's own
    padding) and the bar's last cell."""
    return sum(len(piece) + len(item.description) + gap - 1 for piece, item in pieces) + 1
