"""The comparison drawn in the terminal: for each test, both mean ratings per posture as bars.

Drawn with textual-plotext (a plotext canvas as a Textual widget), in the same posture colours
as the image charts: the tester's bar in full colour, the subject's beside it in a darker shade.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual_plotext import PlotextPlot

from posturetest.domain import (
    POSTURE_COLOURS,
    POSTURES,
    SUBJECT_EASE,
    TESTER_STABILITY,
    TESTS,
    TestSummary,
)

RGB = tuple[int, int, int]


def rgb(hex_colour: str, shade: float = 1.0) -> RGB:
    """'#E69F00' as an (r, g, b) tuple, optionally darkened (shade < 1)."""
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return round(r * shade), round(g * shade), round(b * shade)


class TestChart(PlotextPlot):
    """One test: per posture, the tester's mean stability and the subject's mean ease (0-10)."""

    __test__ = False  # not a pytest test class

    DEFAULT_CSS = """
    TestChart {
        height: 14;
    }
    """

    def __init__(self, summary: TestSummary) -> None:
        super().__init__()
        self.summary = summary

    def on_mount(self) -> None:
        plt = self.plt
        ticks, labels = [], []
        for i, row in enumerate(self.summary.postures):
            left = i * 3 + 1
            colour = POSTURE_COLOURS[row.posture]
            for offset, scale, shade in ((0, TESTER_STABILITY, 1.0), (1, SUBJECT_EASE, 0.6)):
                value = row.means.get(scale.name)
                if value is not None:
                    plt.bar([left + offset], [value], color=rgb(colour, shade), width=0.8)
            ticks.append(left + 0.5)
            labels.append(POSTURES[row.posture].label)
        plt.xticks(ticks, labels)
        plt.yticks([0, 2, 4, 6, 8, 10])
        plt.ylim(0, 10)
        plt.xlim(0, len(self.summary.postures) * 3)
        plt.title(
            f"{TESTS[self.summary.test].label}: mean 0-10, tester (left bar) and subject (right)"
        )


class ComparisonChart(Vertical):
    """One chart per test, stacked."""

    DEFAULT_CSS = """
    ComparisonChart {
        height: auto;
        margin: 1 0 0 0;
    }
    """

    def __init__(self, summaries: list[TestSummary], *, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.summaries = summaries

    def compose(self) -> ComposeResult:
        for summary in self.summaries:
            yield TestChart(summary)
