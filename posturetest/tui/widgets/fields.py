"""One-line fields for codes, initials and names, where `?` is never part of the value: there
`?` opens the help, as everywhere else (a note or a reason takes `?` as text; F1 is help there)."""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    def check_consume_key(self, key: str, character: str | None) -> bool:
        return character != "?" and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.character == "?":
            return  # not typed: it bubbles up to the help key
        await super()._on_key(event)
