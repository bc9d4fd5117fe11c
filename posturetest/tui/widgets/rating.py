"""A 0-10 rating: digits, arrows, Home/End or a mouse click set it; Enter confirms."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from posturetest.domain import Scale


class RatingScale(Widget, can_focus=True):
    """One scale of one trial.

    `1` then `0` gives 10, so every value is reachable from the digit keys alone.
    """

    DEFAULT_CSS = """
    RatingScale {
        height: 2;
        padding: 0 1;
        margin: 0 0 1 0;
    }
    RatingScale:focus {
        background: $boost;
    }
    RatingScale.-waiting {
        color: $text-disabled;
    }
    """

    BINDINGS = [
        Binding(
            "left",
            "adjust(-1)",
            "Adjust",
            key_display="←→",
            tooltip="Lower or raise the value",
            id="rating-lower",
        ),
        Binding("right", "adjust(1)", "Adjust", show=False, id="rating-raise"),
        Binding("home", "set(0)", "Lowest", show=False, id="rating-lowest"),
        Binding("end", "set(10)", "Highest", show=False, id="rating-highest"),
        Binding(
            "0",
            "digit(0)",
            "Set",
            key_display="0-9",
            tooltip="Type the value; 1 then 0 gives 10",
            id="rating-digit-0",
        ),
        *[
            Binding(str(d), f"digit({d})", "Set", show=False, id=f"rating-digit-{d}")
            for d in range(1, 10)
        ],
        Binding("enter", "confirm", "Confirm", tooltip="Save this rating now", id="confirm"),
    ]

    value: reactive[int | None] = reactive(None)
    saved: reactive[bool] = reactive(False)
    masked: reactive[bool] = reactive(False)
    """Blind mode: the number is hidden from the other person."""
    hint: reactive[str] = reactive("")
    waiting: reactive[bool] = reactive(False)
    """Confirmed, but the file is held by another program: kept, not saved yet."""
    problem: reactive[str] = reactive("")
    """Confirmed, but it could not be written (full disk, read-only file): not saved."""

    class Confirmed(Message):
        def __init__(self, rating: RatingScale, value: int) -> None:
            self.rating = rating
            self.value = value
            super().__init__()

    def __init__(
        self,
        scale: Scale,
        value: int | None = None,
        *,
        saved: bool = False,
        on_confirm: Callable[[RatingScale, int], None] | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.scale = scale
        self.set_reactive(RatingScale.value, value)
        self.set_reactive(RatingScale.saved, saved)
        self.on_confirm = on_confirm
        """Called at once, inside the key's own action, so the next key already sees its effect.

        (A posted message would be handled later: a fast typist's next digit could land on this
        scale after it was saved.) Without it, a Confirmed message is posted instead.
        """
        self._last_digit: int | None = None
        self._number_spans: list[tuple[int, int, int]] = []

    def render(self) -> Text:
        scale = self.scale
        head = Text(scale.question, style="bold")
        if self.saved:
            head.append("   ✓ saved", style="bold green")
        elif self.waiting:
            head.append("   … waiting for the file: not saved yet", style="bold yellow")
        elif self.problem:
            head.append(f"   ✗ not saved: {self.problem}", style="bold red")
        elif self.hint:
            head.append(f"   {self.hint}", style="italic")
        line = Text()
        line.append(f"{scale.low_word} {scale.minimum} ", style="dim")
        line.append("▕")
        self._number_spans = []
        for n in scale.values:
            start = line.cell_len
            if self.masked and self.saved:
                cell = " • "
                style = ""
            elif n == self.value:
                cell = f"[{n}]"
                style = "bold reverse" if not self.saved else "bold"
            else:
                cell = f" {n} "
                style = ""
            line.append(cell, style=style)
            self._number_spans.append((start, line.cell_len, n))
        line.append("▏")
        line.append(f" {scale.maximum} {scale.high_word}", style="dim")
        return Text("\n").join([head, line])

    # -- actions ------------------------------------------------------------------------------

    def _set(self, value: int) -> None:
        if self.saved or self.waiting:
            return
        self.problem = ""
        self.value = max(self.scale.minimum, min(self.scale.maximum, value))

    def action_digit(self, digit: int) -> None:
        if digit == 0 and self._last_digit == 1 and self.value == 1:
            self._set(10)
            self._last_digit = None
            return
        self._set(digit)
        self._last_digit = digit

    def action_adjust(self, step: int) -> None:
        self._last_digit = None
        start = self.value if self.value is not None else (5 if step > 0 else 6)
        self._set(start + step)

    def action_set(self, value: int) -> None:
        self._last_digit = None
        self._set(value)

    def action_confirm(self) -> None:
        if self.saved:
            return
        if self.waiting:
            self.notify("Still waiting to save this rating; it is kept.", severity="warning")
            return
        if self.value is None:
            self.app.bell()
            self.notify("Choose a number first: 0-9, or 1 then 0 for 10.", severity="warning")
            return
        if self.on_confirm is not None:
            self.on_confirm(self, self.value)
        else:
            self.post_message(self.Confirmed(self, self.value))

    def on_click(self, event: events.Click) -> None:
        if event.y != 1:
            return
        x = event.x - 1  # left padding
        for start, end, n in self._number_spans:
            if start <= x < end:
                self.focus()
                self.action_set(n)
                return
