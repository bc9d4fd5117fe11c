"""The terminal chart on the summary screen draws a session's bars as the PNG (and the report's
PDF) do: the same postures in the same order, per posture the same rating first, each rating
in its style (plain, then pale and hatched / shaded), and a key in the PNG legend's words.

Both sides are read from what they draw: the PNG's bar patches and legend, and the terminal
chart's rendered characters and their colours.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from matplotlib.colors import to_hex, to_rgb, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle
from rich.style import Style
from rich.text import Text

from posturetest import plots
from posturetest.domain import POSTURE_COLOURS, Posture, Role, StressTest
from posturetest.domain.scales import SESSION_CHART_BARS, SESSION_CHART_LABELS
from posturetest.store import Store, results
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.widgets.chart import StressTestChart
from tests.factories import rate_trials, started_session
from tests.functional.pilot import session_pilot

BLANK = " "


@dataclass(frozen=True)
class Bar:
    """One drawn bar, whatever drew it."""

    colour: str
    """'#rrggbb': the posture colour for a plain bar, its edge (and hatch) for a PNG hatched one."""
    plain: bool
    """Solid (no hatch in the PNG, a full block in the terminal)."""
    height: float
    """The mean in the PNG; rows of the canvas in the terminal."""
    fill: str
    """'#rrggbb' of the bar's inside (the PNG's face over white, the terminal glyph's colour)."""
    glyph: str = ""
    """The character a terminal bar is drawn with."""


def png_bars(fig: Figure) -> list[list[Bar]]:
    """Per test panel, the bars left to right."""
    panels = []
    for ax in fig.axes:
        patches = sorted(
            (p for p in ax.patches if isinstance(p, Rectangle)), key=lambda p: p.get_x()
        )
        if not patches:
            continue
        bars = []
        for p in patches:
            r, g, b, a = to_rgba(p.get_facecolor())
            over_white = to_hex((r * a + 1 - a, g * a + 1 - a, b * a + 1 - a))
            bars.append(
                Bar(to_hex(p.get_edgecolor()), not p.get_hatch(), p.get_height(), over_white)
            )
        panels.append(bars)
    return panels


def png_legend(fig: Figure) -> list[tuple[bool, str]]:
    """(plain swatch, words) of each legend entry, in order."""
    (legend,) = fig.legends
    handles = legend.legend_handles
    assert all(isinstance(h, Patch) for h in handles)
    return [
        (not h.get_hatch(), text.get_text())
        for h, text in zip(handles, legend.get_texts(), strict=True)
        if isinstance(h, Patch)
    ]


def cells(text: Text) -> list[list[tuple[str, str | None]]]:
    """The rendered chart as rows of (character, '#rrggbb' foreground or None)."""
    rows = []
    for line in text.split("\n", allow_blank=True):
        colours: list[str | None] = [None] * len(line.plain)
        for span in line.spans:
            style = Style.parse(span.style) if isinstance(span.style, str) else span.style
            if style.color is not None and style.color.triplet is not None:
                for i in range(span.start, span.end):
                    colours[i] = style.color.triplet.hex
        rows.append(list(zip(line.plain, colours, strict=True)))
    return rows


def terminal_bars(chart: StressTestChart) -> list[Bar]:
    """The bars as rendered, left to right: runs of one glyph in one colour standing on the
    canvas's bottom row (just above the x axis)."""
    rendered = chart.render()
    assert isinstance(rendered, Text)
    rows = cells(rendered)
    axis = next(i for i, row in enumerate(rows) if any(ch == "└" for ch, _ in row))
    bottom = rows[axis - 1]
    start = next(i for i, (ch, _) in enumerate(rows[axis]) if ch == "└") + 1
    bars: list[Bar] = []
    previous: tuple[str, str | None] | None = None
    for col in range(start, len(bottom)):
        glyph, colour = bottom[col]
        if glyph in (BLANK, "│") or colour is None:
            previous = None
            continue
        if (glyph, colour) != previous:
            height = 0
            for row in reversed(rows[:axis]):
                if row[col] != (glyph, colour):
                    break
                height += 1
            bars.append(Bar(colour, glyph == "█", height, colour, glyph))
        previous = (glyph, colour)
    return bars


def lighter(tint: str, colour: str) -> bool:
    """`tint` is `colour` mixed with white: every channel between the two, some lighter."""
    pairs = list(zip(to_rgb(tint), to_rgb(colour), strict=True))
    return all(c - 0.01 <= t <= 1 for t, c in pairs) and any(t > c + 0.05 for t, c in pairs)


@pytest.fixture
def session(store: Store) -> str:
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id)  # the subject's ease one less than the tester's stability
    for test in StressTest:
        for role in Role:
            store.record_ranking(session_id, test, role, tuple(Posture))
    return session_id


async def test_terminal_bars_are_the_pngs_in_order_colour_and_style(
    store: Store, session: str
) -> None:
    png = png_bars(plots.session_chart(store, session))
    async with session_pilot(store, session) as (app, _pilot):
        assert isinstance(app.screen, SummaryScreen)
        charts = list(app.screen.query(StressTestChart))
        terminal = [terminal_bars(chart) for chart in charts]
    assert len(terminal) == len(png) == len(StressTest)
    posture_colours = [POSTURE_COLOURS[p].lower() for p in Posture]
    for drawn, image in zip(terminal, png, strict=True):
        assert len(drawn) == len(image) == 2 * len(Posture)
        # the postures in the same order, both bars of each in its colour
        assert [b.colour for b in image] == [c for c in posture_colours for _ in range(2)]
        assert [b.colour for b in drawn[::2]] == posture_colours
        # per posture the same rating first: plain first in both, then the other style
        assert [b.plain for b in drawn] == [b.plain for b in image] == [True, False] * 3
        # the second bar lighter than the first in both (pale fill / pale tint)
        for plain, other in zip(drawn[::2], drawn[1::2], strict=True):
            assert lighter(other.fill, plain.colour)
        for plain, other in zip(image[::2], image[1::2], strict=True):
            assert other.fill != plain.fill and lighter(other.fill, plain.colour)
        # the same value in each bar: taller where the PNG's is taller
        assert sorted(range(6), key=lambda i: drawn[i].height) == sorted(
            range(6), key=lambda i: image[i].height
        )
        assert len({b.height for b in drawn}) == 6


@pytest.mark.parametrize("compact", [False, True], ids=["png", "report"])
def test_png_and_report_draw_the_shared_order(store: Store, session: str, compact: bool) -> None:
    """The image side draws what the shared definition says: per posture, the first scale's
    mean as the plain bar, the second's beside it (the PNG, and the report's PDF page)."""
    rows = results.session_posture_means(store, session)
    fig = Figure()
    plots.draw_session(fig, rows, "", compact=compact)
    for test, bars in zip(StressTest, png_bars(fig), strict=True):
        means = {
            posture: {"subject_ease": ease, "tester_stability": stability}
            for t, posture, ease, stability, _n in rows
            if t == test.value
        }
        expected = [means[p.value][scale.name] for p in Posture for scale in SESSION_CHART_BARS]
        assert [b.height for b in bars] == expected
        assert [b.plain for b in bars] == [True, False] * len(Posture)


async def test_key_names_each_bar_in_the_png_legends_words(store: Store, session: str) -> None:
    legend = png_legend(plots.session_chart(store, session))
    async with session_pilot(store, session) as (app, _pilot):
        key = str(app.screen.query_one("#chart-key").render())
        drawn = terminal_bars(app.screen.query_one(StressTestChart))
    words = [SESSION_CHART_LABELS[scale.name] for scale in SESSION_CHART_BARS]
    assert len(legend) == len(words) == 2
    positions = []
    for (plain, png_words), terminal_words, bar in zip(legend, words, drawn[:2], strict=True):
        # the PNG legend's entry and the terminal's bar at the same place share a style
        assert bar.plain == plain
        assert png_words.startswith(terminal_words)  # the same words (then the question)
        at = key.index(terminal_words)
        assert key[:at].rstrip().endswith(bar.glyph)  # next to its bar's glyph
        positions.append(at)
    assert positions == sorted(positions)  # in the PNG legend's order
    assert drawn[0].glyph != drawn[1].glyph  # told apart without colour too
