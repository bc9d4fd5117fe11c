"""The compare chart: per test, both ratings by posture, each subject's value, the
distribution, and the mean with its confidence interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posturetest.domain import POSTURE_COLOURS, POSTURES, SCALES, TESTS, Posture, StressTest
from posturetest.domain.scales import Scale
from posturetest.plots.reading import read_while_importing, subject_values
from posturetest.plots.style import (
    INK,
    figure,
    no_data,
    plural,
    rating_axis,
    scale_label,
    subjects_phrase,
    tidy,
)
from posturetest.stats.interval import CONFIDENCE, mean_ci
from posturetest.store import results

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from posturetest.store import Store
    from posturetest.store.selection import Selection

MAX_POINTS = 1500
"""Points drawn per group; above this a seeded random sample is shown (the box, mean and
interval still use every subject)."""
PAIRED_LINES_UP_TO = 30
"""Subjects per test up to which each subject's values are joined across postures."""


def compare(store: Store, selection: Selection) -> Figure:
    """Per test, both ratings by posture: each subject's value, the distribution, the mean
    with its confidence interval, and lines joining a subject's values when n is small."""
    import numpy as np

    values = read_while_importing(lambda: subject_values(store, selection), scipy=True)
    tests = [t for t in StressTest if t in values]
    if not tests:
        return no_data("Ratings by posture")
    counts = {t: len(values[t]) for t in tests}

    fig = figure(4.6 * len(tests) + 1.6, 9.5)
    axes = fig.subplots(len(results.RATINGS), len(tests), squeeze=False, sharey=True)
    rng = np.random.default_rng(2026)
    sampled = paired = False
    for row, rating in enumerate(results.RATINGS):
        for col, test in enumerate(tests):
            ax = axes[row][col]
            block = values[test][:, row * len(Posture) : (row + 1) * len(Posture)]
            pairs = counts[test] <= PAIRED_LINES_UP_TO
            sampled |= _panel(ax, SCALES[rating], rng, block, pairs)
            paired |= pairs
            if row == 0:
                ax.set_title(
                    f"{TESTS[test].label}: {plural(counts[test], 'subject')}",
                    fontsize=12,
                    fontweight="bold",
                )
            if col == 0:
                ax.set_ylabel(scale_label(SCALES[rating], 34), fontsize=10)
    fig.suptitle(
        f"Ligament, muscle and skeleton type compared on {subjects_phrase(counts)}",
        fontsize=14,
        fontweight="bold",
    )
    _legend(fig, sampled, paired)
    return fig


def _panel(
    ax: Axes, scale: Scale, rng: np.random.Generator, block: np.ndarray, paired: bool
) -> bool:
    """One test and rating; `block` has a row per subject and a column per posture.

    Returns whether any posture's points were sampled.
    """
    import numpy as np
    from matplotlib.colors import to_rgba

    sampled = False
    offsets = rng.uniform(-0.16, 0.16, len(block)) if paired else np.empty(0)
    if paired:
        for subject, offset in zip(block, offsets, strict=True):
            known = ~np.isnan(subject)
            xs = np.arange(len(Posture))[known] + offset
            ax.plot(xs, subject[known], color="#9a9a9a", linewidth=0.8, alpha=0.7, zorder=2)
    labels = []
    for i, posture in enumerate(Posture):
        column = block[:, i]
        known = ~np.isnan(column)
        vals = column[known]
        n = len(vals)
        labels.append(f"{POSTURES[posture].label}\nn = {n:,}")
        if n == 0:
            continue
        colour = POSTURE_COLOURS[posture]
        ax.boxplot(
            [vals],
            positions=[i],
            widths=0.5,
            patch_artist=True,
            showfliers=False,
            manage_ticks=False,
            whis=(5, 95),
            medianprops={"color": INK, "linewidth": 1.6},
            boxprops={"facecolor": to_rgba(colour, 0.18), "edgecolor": colour, "linewidth": 1.4},
            whiskerprops={"color": colour, "linewidth": 1.2},
            capprops={"color": colour, "linewidth": 1.2},
            zorder=3,
        )
        if paired:
            shown_x, shown_y = i + offsets[known], vals
        else:
            shown_y = vals
            if n > MAX_POINTS:
                shown_y = rng.choice(vals, MAX_POINTS, replace=False)
                sampled = True
            shown_x = i + rng.uniform(-0.18, 0.18, len(shown_y))
        small = len(shown_y) <= 200
        ax.scatter(
            shown_x,
            shown_y,
            s=22 if small else 6,
            color=colour,
            alpha=0.9 if small else 0.35,
            linewidths=0.4 if small else 0,
            edgecolors="white",
            rasterized=not small,
            zorder=2,
        )
        ci = mean_ci(vals)
        ax.errorbar(
            i + 0.36,
            ci.mean,
            yerr=ci.half,
            fmt="D",
            color=INK,
            markersize=6,
            capsize=4,
            elinewidth=1.5,
            zorder=4,
        )
    ax.set_xticks(range(len(Posture)), labels)
    ax.set_xlim(-0.6, len(Posture) - 0.35)
    rating_axis(ax, scale)
    tidy(ax)
    return sampled


def _legend(fig: Figure, sampled: bool, paired: bool) -> None:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    points = f"one subject (a random {MAX_POINTS:,} per group shown)" if sampled else "one subject"
    handles = [
        Line2D([], [], marker="o", color="#777777", linestyle="none", label=points),
        Patch(
            facecolor="#e8e8e8",
            edgecolor="#777777",
            label="box: middle half, line: median, whiskers: 5th to 95th percentile",
        ),
        Line2D(
            [],
            [],
            marker="D",
            color=INK,
            linestyle="none",
            label=f"mean with {CONFIDENCE:.0%} confidence interval",
        ),
    ]
    if paired:
        handles.append(Line2D([], [], color="#9a9a9a", label="the same subject"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=2,
        frameon=False,
        title="Each subject counts once per posture: the mean of their rated trials",
        title_fontsize=9,
        fontsize=9,
    )
