"""TickBox and Choice: their state shows without colour (a different glyph on and off), and
everything else is Textual's Checkbox and RadioButton (keys, clicks, messages, RadioSet,
compact). Also that NO_COLOR turns the app monochrome and the state still shows."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Checkbox, RadioButton, RadioSet

from posturetest.tui.widgets.toggles import Choice, TickBox

ToggleButton = Checkbox | RadioButton


class Toggles(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[tuple[str, bool]] = []
        self.chosen: list[str] = []

    def compose(self) -> ComposeResult:
        yield TickBox("Ask about discomfort", id="tick")
        yield TickBox("Ask about effort", value=True, compact=True, id="compact")
        with RadioSet(id="set"):
            yield Choice("One", id="one")
            yield Choice("Two", value=True, id="two")
            yield Choice("Three", id="three", compact=True)

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        self.changes.append((event.checkbox.id or "", event.value))

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        self.chosen.append(event.pressed.id or "")


def shown(button: ToggleButton) -> str:
    """What the button draws, colours and styles stripped."""
    return str(button.render()).rstrip()


def button_strip(button: ToggleButton) -> Strip:
    """The button's line as the screen gets it (styles and any NO_COLOR filter applied), from
    the button's left edge on: the row of its border that holds the button."""
    width, height = button.outer_size
    strips = button.render_lines(Region(0, 0, width, height))
    strip = next(s for s in strips if "▐" in s.text)
    return strip.crop(strip.text.index("▐"))


def on_screen(button: ToggleButton) -> str:
    return button_strip(button).text.rstrip()


class Pairs(App[None]):
    """Each kind of button off and on."""

    def compose(self) -> ComposeResult:
        for kind in (TickBox, Choice, Checkbox, RadioButton):
            yield kind("x")
            yield kind("x", value=True)


async def test_the_glyph_differs_on_and_off_not_only_the_colour() -> None:
    app = Pairs()
    async with app.run_test():
        buttons = [b for b in app.query("ToggleButton") if isinstance(b, ToggleButton)]
        tick_off, tick_on, choice_off, choice_on, *textuals = buttons
        assert (shown(tick_off), shown(tick_on)) == ("▐ ▌ x", "▐✓▌ x")
        assert (shown(choice_off), shown(choice_on)) == ("▐○▌ x", "▐●▌ x")
        assert tick_off.outer_size == tick_on.outer_size  # the same width: nothing moves
        assert choice_off.outer_size == choice_on.outer_size
        # Textual's own differ by colour alone: the reason for these
        box_off, box_on, radio_off, radio_on = textuals
        assert shown(box_off) == shown(box_on) and shown(radio_off) == shown(radio_on)


async def test_space_and_enter_toggle_the_box_and_its_glyph() -> None:
    app = Toggles()
    async with app.run_test() as pilot:
        tick = app.query_one("#tick", TickBox)
        tick.focus()
        await pilot.pause()
        assert not tick.value and "✓" not in on_screen(tick)
        await pilot.press("space")
        assert tick.value and on_screen(tick).startswith("▐✓▌")
        await pilot.press("enter")
        assert not tick.value and on_screen(tick).startswith("▐ ▌")
        await pilot.click("#tick")
        assert tick.value and "✓" in on_screen(tick)
        await pilot.pause()
        assert app.changes == [("tick", True), ("tick", False), ("tick", True)]


async def test_compact_still_works() -> None:
    app = Toggles()
    async with app.run_test() as pilot:
        box = app.query_one("#compact", TickBox)
        assert box.compact and box.has_class("-textual-compact") and box.outer_size.height == 1
        assert on_screen(box).startswith("▐✓▌")
        box.focus()
        await pilot.press("space")
        assert not box.value and on_screen(box).startswith("▐ ▌")
        three = app.query_one("#three", Choice)
        assert three.has_class("-textual-compact") and three.outer_size.height == 1


async def test_a_radio_set_of_choices_keeps_one_chosen_and_shows_which() -> None:
    app = Toggles()
    async with app.run_test() as pilot:
        radio = app.query_one("#set", RadioSet)
        choices = list(radio.query(Choice))

        def dots() -> list[str]:
            return [on_screen(c)[1] for c in choices]

        assert radio.pressed_button is app.query_one("#two")
        assert radio.pressed_index == 1
        assert dots() == ["○", "●", "○"]
        three = app.query_one("#three", Choice)
        radio.focus()
        await pilot.pause()
        for _ in choices:  # Textual's keys: down moves the highlight, enter chooses
            if three.has_class("-selected"):
                break
            await pilot.press("down")
        await pilot.press("enter")
        assert radio.pressed_button is three
        assert dots() == ["○", "○", "●"]
        await pilot.click("#one")
        assert radio.pressed_button is app.query_one("#one")
        assert dots() == ["●", "○", "○"]
        assert [c.value for c in choices] == [True, False, False]
        await pilot.pause()
        assert app.chosen == ["three", "one"]


async def test_no_color_draws_in_greys_and_the_state_still_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = Toggles()
    async with app.run_test():
        assert app.no_color
        tick = app.query_one("#tick", TickBox)
        compact = app.query_one("#compact", TickBox)
        for segment in button_strip(tick):
            for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                if colour is not None and colour.triplet is not None:
                    r, g, b = colour.triplet
                    assert r == g == b  # Textual's Monochrome filter: greys only
        assert on_screen(tick)[:3] == "▐ ▌" and on_screen(compact)[:3] == "▐✓▌"
