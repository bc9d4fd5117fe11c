"""The table of sessions on the home screen."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import DataTable


class SessionTable(DataTable[str]):
    """The list of sessions; Enter opens the one under the cursor (and says so in the footer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Open",
            tooltip="Resume the session, or see its summary",
            id="open-row",
        ),
    ]
