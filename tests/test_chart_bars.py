"""The terminal chart draws a session's bars in the order and styles of the PNG and PDF."""

from __future__ import annotations

from pathlib import Path

from posturetest.domain import POSTURE_COLOURS, Posture, Role, StressTest
from posturetest.store import Store
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.widgets.chart import TestChart, pale, rgb
from tests.conftest import rate_trials, session_pilot, started_session


def _png_bars(store: Store, session_id: str) -> list[tuple[float, float, str, bool]]:
    """(x, height, edge colour, hatched) of the PNG's bars of the first test, left to right."""
    from matplotlib.colors import to_hex

    from posturetest import plots

    fig = plots.session_chart(store, session_id)
    ax = fig.axes[0]
    bars = sorted(ax.patches, key=lambda p: p.get_x())
    return [
        (b.get_x(), b.get_height(), to_hex(b.get_edgecolor()), bool(b.get_hatch())) for b in bars
    ]


async def test_the_terminal_bars_follow_the_png(store: Store, tmp_path: Path) -> None:
    session_id = started_session(store, subject="S-014", tests=(StressTest.VERTICAL,))
    rate_trials(store, session_id)  # subject ease is one less than tester stability
    for role in Role:
        store.record_ranking(session_id, StressTest.VERTICAL, role, list(Posture))
    png = _png_bars(store, session_id)
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, SummaryScreen)
        chart = app.screen.query_one(TestChart)
        terminal = chart.bars()
        key = str(app.screen.query_one("#chart-key").render())
    assert [value for _x, value, _c in terminal] == [height for _x, height, _e, _h in png]
    for (_x, _v, colour), (_px, _h, edge, hatched) in zip(terminal, png, strict=True):
        posture_colour = edge.upper()
        assert posture_colour in {c.upper() for c in POSTURE_COLOURS.values()}
        assert colour == (pale(posture_colour) if hatched else rgb(posture_colour))
    assert key.index("subject's ease") < key.index("tester's stability")
    assert "pale" in key.split("subject's ease")[1]
