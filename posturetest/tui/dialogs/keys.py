"""What every dialog offers besides its own keys: the help (a dialog stops the app's own keys)."""

from __future__ import annotations

from textual.binding import Binding, BindingType

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
"""? opens the help, and F1 where ? is typed as text (a note, a reason)."""
