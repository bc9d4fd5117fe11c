"""The chart of one session: both mean ratings per posture, one panel per test, alone or on
the report's page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from posturetest.domain import (
    POSTURE_COLOURS,
    POSTURES,
    SUBJECT_EASE,
    TESTER_STABILITY,
    TESTS,
    Posture,
)
from posturetest.domain.scales import SESSION_CHART_BARS, SESSION_CHART_LABELS
from posturetest.plots.style import GRID, NO_DATA, figure, tests_present, tidy
from posturetest.store import results

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure

    from posturetest.store import Store

SessionMeans = Sequence[tuple[str, str, float | None, float | None, int]]
"""(test, posture, mean subject ease, mean tester stability, rated trials)."""

REPORT_LABELS: dict[str, str] = {
    SUBJECT_EASE.name: "You: ease",
    TESTER_STABILITY.name: "Tester: stability",
}
"""The key's words for the bars on the report, which speaks to the subject, by scale name."""


def session_chart(store: Store, session_id: str) -> Figure:
    """One session: both mean ratings per posture, one panel per test."""
    session = store.session(session_id)
    rows = results.session_posture_means(store, session_id)
    fig = figure(9, 4.6)
    draw_session(
        fig, rows, f"Subject {session.subject}, {session.started_at[:10]}: mean ratings by posture"
    )
    return fig


def draw_session(
    container: Figure | SubFigure,
    rows: SessionMeans,
    title: str,
    *,
    compact: bool = False,
) -> None:
    """The session chart, drawn into a figure or into part of one (the report's page, where
    it is `compact`: short labels addressed to the subject, the key at the top)."""
    from matplotlib.colors import to_rgba

    tests = tests_present([row[0] for row in rows if row[4]])
    if title:
        container.suptitle(title, fontsize=12, fontweight="bold")
    if not tests:
        ax = container.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", color="#555555")
        return
    means = {
        (t, p): dict(zip(results.RATINGS, (ease, stability), strict=True))
        for t, p, ease, stability, n in rows
        if n
    }
    bars = SESSION_CHART_BARS
    bottom, top = min(s.minimum for s in bars), max(s.maximum for s in bars)
    axes = container.subplots(1, len(tests), squeeze=False, sharey=True)[0]
    for ax, test in zip(axes, tests, strict=True):
        for i, posture in enumerate(Posture):
            colour = POSTURE_COLOURS[posture]
            by_name = means.get((test.value, posture.value), {})
            first, second = (by_name.get(scale.name) for scale in bars)
            for value, dx, solid in ((first, -0.2, True), (second, 0.2, False)):
                if value is None:
                    ax.text(i + dx, 0.3, "n/a", ha="center", fontsize=8, color="#777777")
                    continue
                drawn = ax.bar(
                    i + dx,
                    value,
                    width=0.38,
                    color=colour if solid else to_rgba(colour, 0.25),
                    edgecolor=colour,
                    hatch=None if solid else "///",
                    linewidth=1.2,
                )
                ax.bar_label(drawn, [f"{value:.1f}".removesuffix(".0")], padding=2, fontsize=9)
        ax.set_xticks(range(len(Posture)), [POSTURES[p].label for p in Posture])
        ax.set_xlim(-0.6, len(Posture) - 0.4)
        ax.set_ylim(bottom, top + 1)
        ax.set_yticks(range(bottom, top + 1, 2))
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_title(TESTS[test].label, fontsize=11)
        tidy(ax)
    from matplotlib.patches import Patch

    labels: tuple[str, ...]
    if compact:
        axes[0].set_ylabel(f"Mean rating, {bottom} to {top}", fontsize=9)
        labels = tuple(REPORT_LABELS[s.name] for s in bars)
    else:
        axes[0].set_ylabel(
            f"Mean rating ({bottom} = {' / '.join(s.low_word for s in bars)},\n"
            f"{top} = {' / '.join(s.high_word for s in bars)})",
            fontsize=9,
        )
        # the terminal's key words, then the question
        labels = tuple(
            f"{SESSION_CHART_LABELS[s.name]} ({s.question.partition(': ')[2]})" for s in bars
        )
    container.legend(
        handles=[
            Patch(facecolor="#8c8c8c", edgecolor="#8c8c8c", label=labels[0]),
            Patch(facecolor="#e6e6e6", edgecolor="#8c8c8c", hatch="///", label=labels[1]),
        ],
        loc="upper center" if compact else "outside lower center",
        ncols=2,
        frameon=False,
        fontsize=9,
    )
