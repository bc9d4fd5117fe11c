"""The comparison drawn in the terminal: for each test, both ratings per posture as bars."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from posturetest.domain import (
    POSTURE_COLOURS,
    POSTURES,
    SUBJECT_EASE,
    TESTER_STABILITY,
    TESTS,
    Scale,
    TestSummary,
)

BAR_CELLS = 40
"""Cells for the whole 0-10 range."""
EIGHTHS = " ▏▎▍▌▋▊▉"


def hbar(value: float, cells: int = BAR_CELLS, maximum: float = 10) -> str:
    """A horizontal bar with eighth-of-a-cell resolution."""
    eighths = round(max(0.0, min(value, maximum)) / maximum * cells * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[part] if part else "")


class ComparisonChart(Widget):
    """Mean tester stability and subject ease per posture, one block per test.

    Drawn with Rich text rather than a plotting library: it renders anywhere Textual does,
    costs nothing at start-up, and uses the same posture colours as the image charts.
    """

    DEFAULT_CSS = """
    ComparisonChart {
        height: auto;
        padding: 0 1;
        margin: 1 0 0 0;
    }
    """

    SCALES: tuple[Scale, ...] = (TESTER_STABILITY, SUBJECT_EASE)

    def __init__(self, summaries: list[TestSummary], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summaries = summaries

    def render(self) -> Group:
        blocks: list[Text] = []
        label_width = max(len(POSTURES[p].label) for p in POSTURES) + 1
        for summary in self.summaries:
            block = Text()
            block.append(f"{TESTS[summary.test].label}\n", style="bold")
            for row in summary.postures:
                colour = POSTURE_COLOURS[row.posture]
                for i, scale in enumerate(self.SCALES):
                    name = POSTURES[row.posture].label if i == 0 else ""
                    who = "tester " if scale is TESTER_STABILITY else "subject"
                    block.append(f"{name:<{label_width}}", style=f"bold {colour}" if name else "")
                    block.append(f"{who} ", style="dim")
                    value = row.means.get(scale.name)
                    if value is None:
                        block.append("no rated trial\n", style="dim")
                        continue
                    style = colour if scale is TESTER_STABILITY else f"{colour} dim"
                    block.append(hbar(value), style=style)
                    block.append(f" {value:.1f}\n")
            blocks.append(block)
        legend = Text(
            "bars: mean 0-10 · tester = how stable and motionless · subject = how easily the "
            "position was kept",
            style="dim",
        )
        return Group(*blocks, legend)
