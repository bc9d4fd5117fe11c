"""A checkbox and a radio button whose state shows without colour.

Textual's Checkbox and RadioButton draw the same glyph on and off (`X`, `●`) and tell the two
apart by colour alone, which a monochrome terminal, a colour-blind reader or NO_COLOR (Textual
then draws every colour as a grey of the same lightness) can lose. These draw a different glyph:
a ticked box `✓`, an unticked one blank; a chosen option `●`, the others `○`. Everything else is
Textual's: the keys (space, enter), clicks, the Changed messages, `compact`, and a RadioSet of
Choice buttons works as one of RadioButtons.
"""

from __future__ import annotations

from typing import ClassVar

from textual.widgets import Checkbox, RadioButton

__all__ = ["Choice", "TickBox"]


class TickBox(Checkbox):
    """A Checkbox drawn `▐✓▌` when ticked and `▐ ▌` when not."""

    GLYPH_ON: ClassVar[str] = "✓"
    GLYPH_OFF: ClassVar[str] = " "
    BUTTON_INNER = GLYPH_OFF
    """Textual's name for the glyph; kept in step with the value by watch_value."""

    def watch_value(self) -> None:
        self.BUTTON_INNER = self.GLYPH_ON if self.value else self.GLYPH_OFF
        super().watch_value()


class Choice(RadioButton):
    """A RadioButton drawn `▐●▌` when chosen and `▐○▌` when not."""

    GLYPH_ON: ClassVar[str] = "●"
    GLYPH_OFF: ClassVar[str] = "○"
    BUTTON_INNER = GLYPH_OFF
    """Textual's name for the glyph; kept in step with the value by watch_value."""

    def watch_value(self) -> None:
        self.BUTTON_INNER = self.GLYPH_ON if self.value else self.GLYPH_OFF
        super().watch_value()
