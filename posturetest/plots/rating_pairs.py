"""The agreement chart: subject ease against tester stability, trial by trial, per test and
posture, with how often both ranked the same posture best."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posturetest.domain import (
    POSTURE_COLOURS,
    POSTURES,
    SUBJECT_EASE,
    TESTER_STABILITY,
    TESTS,
    Posture,
    StressTest,
)
from posturetest.plots.reading import read_while_importing, subjects_per_test
from posturetest.plots.style import (
    GRID,
    figure,
    no_data,
    plural,
    rating_axis,
    scale_label,
    signed,
    subjects_phrase,
    tests_present,
    tidy,
)
from posturetest.store import results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from posturetest.store import Store
    from posturetest.store.selection import Selection


def agreement(store: Store, selection: Selection) -> Figure:
    """Subject ease against tester stability, trial by trial, per test and posture: the area
    of each dot is the number of trials with that pair of ratings."""
    import numpy as np

    title = "Do subject and tester agree?"
    grid, agreeing, subjects = read_while_importing(
        lambda: (
            results.rating_grid(store, selection),
            results.best_posture_agreement(store, selection),
            subjects_per_test(store, selection),
        )
    )
    tests = tests_present([row[0] for row in grid])
    if not tests:
        return no_data(title)
    ease, stability = SUBJECT_EASE, TESTER_STABILITY
    best = {test: (both, same) for test, both, same in agreeing}
    shape = (len(stability.values), len(ease.values))
    counts = {(test, posture): np.zeros(shape) for test in tests for posture in Posture}
    for test, posture, rated_ease, rated_stability, count in grid:
        cell = (int(rated_stability) - stability.minimum, int(rated_ease) - ease.minimum)
        counts[(StressTest(test), Posture(posture))][cell] += count
    biggest = max(float(c.max()) for c in counts.values())
    n_trials = int(sum(c.sum() for c in counts.values()))
    ease_x, stability_y = np.meshgrid(np.array(ease.values), np.array(stability.values))
    low = max(ease.minimum, stability.minimum)
    high = min(ease.maximum, stability.maximum)

    fig = figure(12, 4.6 * len(tests) + 1.5)
    rows = fig.subfigures(
        len(tests), 1, squeeze=False, height_ratios=[4.6] * (len(tests) - 1) + [5.3]
    )[:, 0]
    for test, sub in zip(tests, rows, strict=True):
        axes = sub.subplots(1, len(Posture), sharex=True, sharey=True)
        for col, (ax, posture) in enumerate(zip(axes, Posture, strict=True)):
            c = counts[(test, posture)]
            total = float(c.sum())
            shown = c > 0
            ax.plot(
                [low, high], [low, high], color="#888888", linestyle="--", linewidth=0.9, zorder=1
            )
            ax.scatter(
                ease_x[shown],
                stability_y[shown],
                s=380 * c[shown] / biggest,
                color=POSTURE_COLOURS[posture],
                alpha=0.85,
                edgecolors="white",
                linewidths=0.5,
                zorder=2,
            )
            if total:
                close = float(c[np.abs(ease_x - stability_y) <= 1].sum()) / total
                gap = float(((ease_x - stability_y) * c).sum()) / total + 0.0
                note = (
                    f"{plural(int(total), 'trial')}, {close:.0%} within 1 point\n"
                    f"subject minus tester: {signed(gap)} on average"
                )
            else:
                note = "no rated trials\n"
            ax.set_title(f"{POSTURES[posture].label}\n{note}", fontsize=10)
            rating_axis(ax, ease, "x")
            rating_axis(ax, stability, "y")
            ax.grid(True, color=GRID, linewidth=0.5)
            ax.set_aspect("equal")
            tidy(ax)
            if test is tests[-1]:
                ax.set_xlabel(scale_label(ease, 34), fontsize=9)
            if col == 0:
                ax.set_ylabel(scale_label(stability, 34), fontsize=9)
        heading = TESTS[test].label
        both, same = best.get(test, (0, 0))
        if both:
            heading += (
                f": both ranked the same posture best in {same:,} of "
                f"{plural(both, 'session')} ({same / both:.0%})"
            )
        sub.suptitle(heading, fontsize=12, fontweight="bold")
    fig.suptitle(
        f"{title} Subject ease against tester stability: {plural(n_trials, 'rated trial')} "
        f"of {subjects_phrase(subjects)}\n"
        "dot area: number of trials with that pair of ratings; dashed line: the same rating",
        fontsize=13,
    )
    return fig
