"""The order chart: mean rating by the trial's place in its test, to show fatigue or learning."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posturetest.domain import SCALES, TESTS, StressTest
from posturetest.plots.reading import read_while_importing, subjects_per_test
from posturetest.plots.style import (
    INK,
    figure,
    no_data,
    plural,
    rating_axis,
    scale_label,
    subjects_phrase,
    tests_present,
    tidy,
)
from posturetest.store import results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from posturetest.store import Store
    from posturetest.store.selection import Selection

TEST_STYLES: dict[StressTest, dict[str, object]] = {
    StressTest.VERTICAL: {"color": INK, "marker": "o", "linestyle": "-"},
    StressTest.ANTERIOR: {"color": "#777777", "marker": "s", "linestyle": "--"},
}
"""Tests are told apart by shade and line style: colour belongs to the postures."""
DODGE = {StressTest.VERTICAL: -0.03, StressTest.ANTERIOR: 0.03}
"""Nudged sideways, so equal means do not hide one test behind the other."""


def order(store: Store, selection: Selection) -> Figure:
    """Mean rating by the trial's position among its test's trials in the session (stopped
    and skipped trials keep their place): does fatigue or learning show?"""
    rows, subjects = read_while_importing(
        lambda: (results.order_effect(store, selection), subjects_per_test(store, selection))
    )
    title = "Does the place in the session matter?"
    tests = tests_present([row[0] for row in rows])
    if not tests:
        return no_data(title)
    fig = figure(12, 5.4)
    axes = fig.subplots(1, len(results.RATINGS), sharex=True, sharey=True)
    positions = sorted({row[2] for row in rows})
    n_trials = 0
    for ax, rating in zip(axes, results.RATINGS, strict=True):
        for test in tests:
            points = sorted((p, m, n) for t, r, p, m, n in rows if t == test and r == rating)
            if not points:
                continue
            if rating == results.RATINGS[0]:
                n_trials += sum(n for _, _, n in points)
            ax.plot(
                [p + DODGE[test] for p, _, _ in points],
                [m for _, m, _ in points],
                markersize=6,
                linewidth=1.6,
                label=TESTS[test].label,
                **TEST_STYLES[test],
            )
        scale = SCALES[rating]
        rating_axis(ax, scale)
        tidy(ax)
        ax.set_xticks(positions)
        ax.set_xlabel("Position of the trial within its test (1 = the first posture tried)")
        ax.set_ylabel(scale_label(scale, 40), fontsize=10)
        ax.set_title(f"Rated by the {scale.role.value}", fontsize=11, fontweight="bold")
    fig.suptitle(
        f"{title} Mean rating by position: {plural(n_trials, 'rated trial')} "
        f"of {subjects_phrase(subjects)}\n"
        "a falling line hints at fatigue, a rising one at learning",
        fontsize=13,
    )
    fig.legend(
        handles=axes[0].get_legend_handles_labels()[0],
        loc="outside lower center",
        ncols=len(tests),
        frameon=False,
    )
    return fig
