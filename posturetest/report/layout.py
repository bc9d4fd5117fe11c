"""The session report's page: where its parts go on one A4 sheet, and the PDF it is written as.

What each part says comes from `content`; the chart is `plots.draw_session`. matplotlib is
imported inside the functions, as everywhere outside `plots`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from posturetest.domain import (
    POSTURE_COLOURS,
    SessionStatus,
    StressTest,
    StressTestSummary,
    summarise,
)
from posturetest.report.content import (
    CHART_HEADING,
    DISCLAIMER,
    RANKINGS_HEADER,
    RANKINGS_HEADING,
    RATINGS_HEADER,
    RATINGS_HEADING,
    RATINGS_NOTE,
    SUBTITLE,
    SUMMARY_HEADING,
    TITLE,
    UNFINISHED,
    PostureResult,
    footer,
    pdf_metadata,
    rankings_rows,
    ratings_rows,
    session_facts,
    session_results,
    stopped_note,
    summary_sentence,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.typing import ColorType

    from posturetest.store import Store

PAGE = (8.27, 11.69)
"""A4 portrait, in inches."""
MARGIN = 0.7
FOOTER = 0.6
"""Room kept at the bottom of the page for the footer line."""
INK = "#222222"
TEXT_WIDTH = 92
"""Characters per line of body text at 10 pt across the page."""


def build_report(store: Store, session_id: str) -> Figure:
    """The report page as a figure (RecordError if there is no such session)."""
    from matplotlib.figure import Figure

    from posturetest.plots import draw_session

    session = store.session(session_id)
    trials = store.trials(session_id)
    summaries = {s.test: s for s in summarise(trials, store.rankings(session_id), session.scales)}
    rows, by_test = session_results(store, session_id, trials)

    fig = Figure(figsize=PAGE)
    page = _Page(fig)
    page.text(TITLE, size=20, weight="bold")
    page.text(SUBTITLE, size=10, colour="#666666")
    page.gap(0.12)
    page.facts(session_facts(session))
    page.gap(0.15)
    page.heading(RATINGS_HEADING)
    page.ratings(by_test)
    if note := stopped_note(trials):
        page.text(note, size=9, colour="#444444")

    dry = _Page(None)
    _conclusions(dry, by_test, summaries, session.status)
    room = PAGE[1] - page.y - (dry.y - MARGIN) - FOOTER
    page.heading(CHART_HEADING)
    chart = page.area(min(max(room - 0.45, 2.0), 3.4))
    draw_session(chart, rows, "", compact=True)
    page.gap(0.1)
    _conclusions(page, by_test, summaries, session.status)
    fig.text(MARGIN / PAGE[0], 0.4 / PAGE[1], footer(session), fontsize=7, color="#888888")
    return fig


def _conclusions(
    page: _Page,
    by_test: dict[StressTest, list[PostureResult]],
    summaries: dict[StressTest, StressTestSummary],
    status: SessionStatus,
) -> None:
    """Everything below the chart: both rankings, the plain summary and the note."""
    page.heading(RANKINGS_HEADING)
    page.rankings([(test, summaries.get(test)) for test in by_test])
    page.gap(0.08)
    page.heading(SUMMARY_HEADING)
    for test, means in by_test.items():
        page.text(summary_sentence(test, summaries.get(test), means), size=10)
        page.gap(0.03)
    if status in UNFINISHED:
        page.text(UNFINISHED[status], size=10)
        page.gap(0.03)
    page.gap(0.08)
    page.note(DISCLAIMER)


class _Page:
    """Text, tables and a chart laid out top to bottom, in inches from the top of the page.

    Without a figure it only measures, so the chart can take the room the rest leaves.
    """

    def __init__(self, fig: Figure | None) -> None:
        self.fig = fig
        self.y = MARGIN

    @staticmethod
    def _x(inches: float) -> float:
        return inches / PAGE[0]

    @staticmethod
    def _y(inches: float) -> float:
        return 1 - inches / PAGE[1]

    def gap(self, inches: float) -> None:
        self.y += inches

    def text(
        self, text: str, *, size: float = 10, weight: str = "normal", colour: str = INK
    ) -> None:
        lines = textwrap.wrap(text, int(TEXT_WIDTH * 10 / size)) or [""]
        if self.fig is not None:
            self.fig.text(
                self._x(MARGIN),
                self._y(self.y),
                "\n".join(lines),
                fontsize=size,
                fontweight=weight,
                color=colour,
                va="top",
                linespacing=1.35,
            )
        self.y += len(lines) * size * 1.35 / 72 + 0.04

    def heading(self, text: str) -> None:
        self.text(text, size=12.5, weight="bold")
        self.gap(0.02)

    def facts(self, facts: list[tuple[str, str]]) -> None:
        """Two columns of 'label value' pairs."""
        half = (len(facts) + 1) // 2
        top = self.y
        for column, chunk in enumerate((facts[:half], facts[half:])):
            x = MARGIN + column * (PAGE[0] - 2 * MARGIN) / 2
            for row, (label, value) in enumerate(chunk):
                if self.fig is None:
                    continue
                y = self._y(top + row * 0.24)
                self.fig.text(self._x(x), y, label, fontsize=9.5, color="#666666", va="top")
                self.fig.text(self._x(x + 0.85), y, value, fontsize=10, fontweight="bold", va="top")
        self.y = top + half * 0.24

    def area(self, height: float) -> SubFigure:
        """A subfigure across the page, `height` inches tall, at the current place."""
        assert self.fig is not None
        grid = self.fig.add_gridspec(
            3, 1, height_ratios=[self.y, height, PAGE[1] - self.y - height]
        )
        sub = self.fig.add_subfigure(grid[1])
        sub.subplots_adjust(
            left=(MARGIN + 0.4) / PAGE[0],
            right=1 - MARGIN / PAGE[0],
            bottom=0.35 / height,
            top=1 - 0.62 / height,
            wspace=0.08,
        )
        self.y += height
        return sub

    def table(
        self,
        header: list[str],
        cells: list[list[str]],
        widths: list[float],
        tints: list[list[ColorType]] | None = None,
        size: float = 9.5,
    ) -> None:
        from matplotlib.transforms import Bbox

        row_height = 0.22
        height = row_height * (len(cells) + 1)
        if self.fig is not None:
            ax = self.fig.add_axes(
                (
                    self._x(MARGIN),
                    self._y(self.y + height),
                    self._x(PAGE[0] - 2 * MARGIN),
                    height / PAGE[1],
                )
            )
            ax.set_axis_off()
            table = ax.table(
                cellText=cells or [[""] * len(header)],
                cellColours=tints or None,
                colLabels=header,
                colWidths=widths,
                cellLoc="center",
                bbox=Bbox.from_bounds(0, 0, 1, 1),
            )
            table.auto_set_font_size(False)
            table.set_fontsize(size)
            for (row, _col), cell in table.get_celld().items():
                cell.set_edgecolor("#cccccc")
                cell.set_linewidth(0.6)
                if row == 0:
                    cell.set_text_props(fontweight="bold")
                    cell.set_facecolor("#f0f0f0")
        self.y += height + 0.08

    def ratings(self, by_test: dict[StressTest, list[PostureResult]]) -> None:
        from matplotlib.colors import to_rgba

        rows = ratings_rows(by_test)
        tints: list[list[ColorType]] = [
            ["white", to_rgba(POSTURE_COLOURS[posture], 0.25), "white", "white", "white"]
            for posture, _cells in rows
        ]
        cells = [cells for _posture, cells in rows]
        self.table(RATINGS_HEADER, cells, [0.2, 0.22, 0.18, 0.22, 0.18], tints)
        self.text(RATINGS_NOTE, size=8.5, colour="#555555")

    def rankings(self, tests: list[tuple[StressTest, StressTestSummary | None]]) -> None:
        self.table(RANKINGS_HEADER, rankings_rows(tests), [0.16, 0.35, 0.35, 0.14], size=9)

    def note(self, text: str) -> None:
        from matplotlib.patches import FancyBboxPatch

        lines = textwrap.wrap(text, TEXT_WIDTH + 4)
        height = len(lines) * 9.5 * 1.35 / 72 + 0.24
        if self.fig is not None:
            self.fig.patches.append(
                FancyBboxPatch(
                    (self._x(MARGIN), self._y(self.y + height)),
                    self._x(PAGE[0] - 2 * MARGIN),
                    height / PAGE[1],
                    boxstyle="round,pad=0.004",
                    facecolor="#fff6e0",
                    edgecolor="#e69f00",
                    linewidth=1,
                    transform=self.fig.transFigure,
                    figure=self.fig,
                )
            )
            self.fig.text(
                self._x(MARGIN + 0.15),
                self._y(self.y + 0.12),
                "\n".join(lines),
                fontsize=9.5,
                va="top",
                linespacing=1.35,
            )
        self.y += height


def write_report(store: Store, session_id: str, path: Path) -> None:
    """Write the one-page report as a PDF (ValueError for another suffix, RecordError for an
    unknown session), whole or not at all."""
    from posturetest.plots import save

    path = Path(path)
    if path.suffix.lower() != ".pdf":
        raise ValueError(f"{path.name}: the report is written as a .pdf file")
    fig = build_report(store, session_id)
    save(fig, path, metadata=pdf_metadata(store.session(session_id)))
