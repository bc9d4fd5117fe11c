"""A checkbox and a radio button whose state shows without colour: a ticked box holds `X`, an
unticked one a blank; a chosen option `●`, the others a blank. (Textual's own draw the same
glyph either way and tell them apart by colour alone, which NO_COLOR or a monochrome terminal
erases: Textual honours NO_COLOR by drawing in monochrome.)"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox, RadioButton


class TickBox(Checkbox):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "X" if self.value else " "
        return super()._button


class Choice(RadioButton):
    @property
    def _button(self) -> Content:
        self.BUTTON_INNER = "●" if self.value else " "
        return super()._button
