"""The comparison drawn in the terminal: for each test, both mean ratings per posture as bars.

Drawn with textual-plotext (a plotext canvas as a Textual widget) as the PNG and the PDF draw it
(SESSION_CHART_BARS): per posture, the subject's ease first, solid in the posture's colour, then
the tester's stability beside it, shaded (▒, the terminal's hatch) in a pale tint of that colour,
so the two differ without colour too; a key line below names both in the PNG legend's words
(SESSION_CHART_LABELS).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static
from textual_plotext import PlotextPlot

from posturetest.domain import POSTURE_COLOURS, POSTURES, TESTS, Posture, StressTestSummary
from posturetest.domain.scales import SESSION_CHART_BARS, SESSION_CHART_LABELS

RGB = tuple[int, int, int]
PALE = 0.35
"""The second bar's tint: this share of the posture colour, the rest white (the PNG fills it
with the colour at 25% opacity over white, and hatches it)."""
KEY_GREY = "#8c8c8c"
"""The key's swatches are grey, as the PNG legend's."""
BAR_GLYPHS: tuple[str, str] = ("█", "▒")
"""What each bar is drawn with, in the order of SESSION_CHART_BARS: solid, then shaded (the
PNG's plain and hatched bars)."""


def rgb(hex_colour: str, shade: float = 1.0) -> RGB:
    """'#E69F00' as an (r, g, b) tuple, optionally darkened (shade < 1)."""
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return round(r * shade), round(g * shade), round(b * shade)


def pale(hex_colour: str, share: float = PALE) -> RGB:
    """The colour mixed with white: `share` of the colour."""
    return tuple(round(c * share + 255 * (1 - share)) for c in rgb(hex_colour))  # type: ignore[return-value]


def bar_colours(posture: Posture) -> tuple[RGB, RGB]:
    """The colours of a posture's two bars, in the order of SESSION_CHART_BARS."""
    return rgb(POSTURE_COLOURS[posture]), pale(POSTURE_COLOURS[posture])


def key_text() -> Text:
    """The key under the charts: each bar's glyph and the PNG legend's words for it."""
    text = Text()
    for i, (scale, glyph) in enumerate(zip(SESSION_CHART_BARS, BAR_GLYPHS, strict=True)):
        if i:
            text.append("    ")
        text.append(f"{glyph * 2} ", style=KEY_GREY)
        text.append(SESSION_CHART_LABELS[scale.name])
    return text


class StressTestChart(PlotextPlot):
    """One test: per posture, the subject's mean ease and the tester's mean stability (0-10)."""

    DEFAULT_CSS = """
    StressTestChart {
        height: 14;
    }
    """

    def __init__(self, summary: StressTestSummary) -> None:
        super().__init__()
        self.summary = summary

    def bars(self) -> list[tuple[float, float, RGB]]:
        """(x, mean, colour) of every bar drawn, left to right."""
        return [(x, value, colour) for x, value, colour, _glyph in self._bars()]

    def _bars(self) -> list[tuple[float, float, RGB, str]]:
        drawn: list[tuple[float, float, RGB, str]] = []
        for i, row in enumerate(self.summary.postures):
            left = i * 3 + 1
            styles = zip(SESSION_CHART_BARS, bar_colours(row.posture), BAR_GLYPHS, strict=True)
            for offset, (scale, colour, glyph) in enumerate(styles):
                value = row.means.get(scale.name)
                if value is not None:
                    drawn.append((left + offset, value, colour, glyph))
        return drawn

    def on_mount(self) -> None:
        plt = self.plt
        for x, value, colour, glyph in self._bars():
            plt.bar([x], [value], color=colour, width=0.8, marker=glyph)
        ticks = [i * 3 + 1.5 for i in range(len(self.summary.postures))]
        plt.xticks(ticks, [POSTURES[row.posture].label.split()[0] for row in self.summary.postures])
        plt.yticks([0, 5, 10])  # three labels fit a chart of any height, at 80x24 too
        plt.ylim(0, 10)
        plt.xlim(0, len(self.summary.postures) * 3)
        plt.title(TESTS[self.summary.test].label)


class ComparisonChart(Vertical):
    """One chart per test, side by side, and the key below them."""

    DEFAULT_CSS = """
    ComparisonChart {
        height: auto;
        margin: 1 0 0 0;
    }
    ComparisonChart > Horizontal {
        height: 1fr;
    }
    ComparisonChart StressTestChart {
        height: 100%;
        width: 1fr;
    }
    ComparisonChart > #chart-key {
        height: auto;
        padding: 0 2;
    }
    """

    def __init__(self, summaries: list[StressTestSummary], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summaries = summaries

    def compose(self) -> ComposeResult:
        with Horizontal():
            for summary in self.summaries:
                yield StressTestChart(summary)
        yield Static(key_text(), id="chart-key")
