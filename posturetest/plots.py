"""Charts of the ratings, drawn with matplotlib from the store's SQL aggregates.

The store aggregates (one value per subject and posture, joint counts, means by position), so
a chart of 100,000 sessions reads a few hundred thousand numbers, never one object per trial.
matplotlib is imported inside each function, while the store's query runs in a worker thread:
it costs ~0.5-1 s, and `posturetest --help`, export and the TUI never need it. Figures are
`matplotlib.figure.Figure` objects, never pyplot ones: no global state, no window, safe in a
worker thread.
"""

from __future__ import annotations

import importlib
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from posturetest.domain import POSTURE_COLOURS, POSTURES, SCALES, TESTS, Posture, StressTest
from posturetest.domain.scales import SESSION_CHART_BARS, SESSION_CHART_LABELS, Scale
from posturetest.store import results

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure, SubFigure

    from posturetest.store import Store
    from posturetest.store.exchange import Selection

__all__ = [
    "FORMATS",
    "NO_DATA",
    "POSTURE_COLOURS",
    "POSTURE_MARKERS",
    "agreement",
    "chart_format",
    "compare",
    "draw_session",
    "history",
    "order",
    "save",
    "scale_label",
    "session_chart",
    "subject_values",
    "subjects_per_test",
]

T = TypeVar("T")

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""File suffix -> the format matplotlib writes."""

POSTURE_MARKERS: dict[Posture, str] = {
    Posture.LIGAMENT: "o",
    Posture.MUSCLE: "s",
    Posture.SKELETON: "^",
}
"""A marker shape per posture, so lines can be told apart without colour too."""

NO_DATA = "No rated trials match."
MAX_POINTS = 1500
"""Points drawn per group in `compare`; above this a seeded random sample is shown (the box,
mean and interval still use every subject)."""
PAIRED_LINES_UP_TO = 30
"""Subjects per test up to which each subject's values are joined across postures."""
DPI = 150
GRID = "#d9d9d9"
INK = "#222222"


def chart_format(path: Path) -> str:
    """The format for a file name, or ValueError with a one-line reason."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        given = f"'{path.suffix}'" if path.suffix else "no suffix"
        raise ValueError(f"{path.name}: charts are written as .png, .svg or .pdf (got {given})")
    return fmt


def save(fig: Figure, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write a figure as PNG, SVG or PDF by the file's suffix, whole or not at all.

    Text stays text in SVG and PDF (TrueType, not outlines), so it can be searched and copied.
    """
    import matplotlib

    from posturetest.outputs import atomic_binary

    path = Path(path)
    fmt = chart_format(path)
    info = {"Software" if fmt == "png" else "Creator": "posturetest"}
    if fmt == "pdf":
        info.update(metadata or {})
    with (
        atomic_binary(path) as out,
        matplotlib.rc_context({"pdf.fonttype": 42, "svg.fonttype": "none"}),
    ):
        fig.savefig(out, format=fmt, dpi=DPI, metadata=info)


def scale_label(scale: Scale, width: int | None = None) -> str:
    """The scale's question and the words at its ends, e.g. for an axis label."""
    ends = f"({scale.minimum} = {scale.low_word}, {scale.maximum} = {scale.high_word})"
    if width is None:
        return f"{scale.question} {ends}"
    return "\n".join([*textwrap.wrap(scale.question, width), ends])


def _signed(value: float) -> str:
    """'+0.3', '-1.2', and '0.0' rather than '-0.0'."""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


# -- figure helpers ---------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _no_data(title: str) -> Figure:
    fig = _figure(8, 3.5)
    fig.suptitle(title, fontsize=13, fontweight="bold")
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.text(
        0.5,
        0.5,
        f"{NO_DATA}\nTry other filters, or rate some trials first.",
        ha="center",
        va="center",
        fontsize=12,
        color="#555555",
        transform=ax.transAxes,
    )
    return fig


def _tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_axisbelow(True)


def _rating_axis(ax: Axes, axis: str = "y") -> None:
    """0-10 with every whole number marked."""
    ticks = range(0, 11)
    if axis == "y":
        ax.set_ylim(-0.5, 10.5)
        ax.set_yticks(ticks)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
    else:
        ax.set_xlim(-0.5, 10.5)
        ax.set_xticks(ticks)
        ax.grid(axis="x", color=GRID, linewidth=0.6)


def _tests_present(tests: Sequence[str]) -> list[StressTest]:
    present = set(tests)
    return [t for t in StressTest if t.value in present]


def _read_while_importing(read: Callable[[], T], *, scipy: bool = False) -> T:
    """Run the store's query in a worker thread while this one imports matplotlib.

    SQLite lets go of the GIL while it aggregates, so the query (~1.3 s on 100,000 sessions)
    and the imports (~1 s) overlap instead of adding up.
    """
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="posturetest-read") as pool:
        future = pool.submit(read)
        importlib.import_module("matplotlib.figure")
        importlib.import_module("matplotlib.backends.backend_agg")
        if scipy:
            importlib.import_module("scipy.special")
        return future.result()


def _t_quantile(df: int) -> float:
    """Two-sided 95% quantile of Student's t. scipy.special loads in a third of the time of
    scipy.stats (0.3 s against 0.9 s); imported by name because scipy ships no type hints."""
    special = importlib.import_module("scipy.special")
    return float(special.stdtrit(df, 0.975))


# -- compare ----------------------------------------------------------------------------------


def subject_values(store: Store, selection: Selection) -> dict[StressTest, np.ndarray]:
    """Per test, one row per subject: mean subject ease for ligament, muscle, skeleton, then
    mean tester stability in the same order (NaN where the subject has no rated trial).

    Read from the store in batches straight into arrays: 25,000 subjects are a few arrays,
    not 150,000 tuples.
    """
    import numpy as np

    columns = [
        len(results.POSTURES) * r + results.POSTURES.index(p.value)
        for r in range(len(results.RATINGS))
        for p in Posture
    ]
    chunks: dict[str, list[np.ndarray]] = {}
    for batch in results.subject_posture_table(store, selection):
        by_test: dict[str, list[tuple[float | None, ...]]] = {}
        for test, _complete, values in batch:
            by_test.setdefault(test, []).append(values)
        for test, rows in by_test.items():
            chunks.setdefault(test, []).append(np.array(rows, dtype=float)[:, columns])
    return {StressTest(t): np.concatenate(parts) for t, parts in chunks.items()}


def subjects_per_test(store: Store, selection: Selection) -> dict[StressTest, int]:
    """How many subjects have a rated trial of each test, counted as the store streams them."""
    counts: dict[StressTest, int] = {}
    for batch in results.subject_posture_table(store, selection):
        for test, _complete, _values in batch:
            counts[StressTest(test)] = counts.get(StressTest(test), 0) + 1
    return {t: counts[t] for t in StressTest if t in counts}


def _subjects(counts: dict[StressTest, int]) -> str:
    """'12 subjects', or per test when the tests were done by different numbers of subjects."""
    numbers = set(counts.values())
    if len(numbers) == 1:
        return _plural(numbers.pop(), "subject")
    return " and ".join(
        f"{_plural(n, 'subject')} ({TESTS[t].label.lower()})" for t, n in counts.items()
    )


def compare(store: Store, selection: Selection) -> Figure:
    """Per test, both ratings by posture: each subject's value, the distribution, the mean
    with its 95% confidence interval, and lines joining a subject's values when n is small."""
    import numpy as np

    values = _read_while_importing(lambda: subject_values(store, selection), scipy=True)
    tests = [t for t in StressTest if t in values]
    if not tests:
        return _no_data("Ratings by posture")
    counts = {t: len(values[t]) for t in tests}

    fig = _figure(4.6 * len(tests) + 1.6, 9.5)
    axes = fig.subplots(len(results.RATINGS), len(tests), squeeze=False, sharey=True)
    rng = np.random.default_rng(2026)
    sampled = paired = False
    for row, rating in enumerate(results.RATINGS):
        for col, test in enumerate(tests):
            ax = axes[row][col]
            block = values[test][:, row * len(Posture) : (row + 1) * len(Posture)]
            pairs = counts[test] <= PAIRED_LINES_UP_TO
            sampled |= _compare_panel(ax, rng, block, pairs)
            paired |= pairs
            if row == 0:
                ax.set_title(
                    f"{TESTS[test].label}: {_plural(counts[test], 'subject')}",
                    fontsize=12,
                    fontweight="bold",
                )
            if col == 0:
                ax.set_ylabel(scale_label(SCALES[rating], 34), fontsize=10)
    fig.suptitle(
        f"Ligament, muscle and skeleton type compared on {_subjects(counts)}",
        fontsize=14,
        fontweight="bold",
    )
    _compare_legend(fig, sampled, paired)
    return fig


def _compare_panel(ax: Axes, rng: np.random.Generator, block: np.ndarray, paired: bool) -> bool:
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
        mean = float(vals.mean())
        half = _t_quantile(n - 1) * float(vals.std(ddof=1)) / np.sqrt(n) if n >= 2 else None
        ax.errorbar(
            i + 0.36,
            mean,
            yerr=half,
            fmt="D",
            color=INK,
            markersize=6,
            capsize=4,
            elinewidth=1.5,
            zorder=4,
        )
    ax.set_xticks(range(len(Posture)), labels)
    ax.set_xlim(-0.6, len(Posture) - 0.35)
    _rating_axis(ax)
    _tidy(ax)
    return sampled


def _compare_legend(fig: Figure, sampled: bool, paired: bool) -> None:
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
            label="mean with 95% confidence interval",
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


# -- agreement --------------------------------------------------------------------------------


def agreement(store: Store, selection: Selection) -> Figure:
    """Subject ease against tester stability, trial by trial, per test and posture: the area
    of each dot is the number of trials with that pair of ratings."""
    import numpy as np

    title = "Do subject and tester agree?"
    grid, agreeing, subjects = _read_while_importing(
        lambda: (
            results.rating_grid(store, selection),
            results.best_posture_agreement(store, selection),
            subjects_per_test(store, selection),
        )
    )
    tests = _tests_present([row[0] for row in grid])
    if not tests:
        return _no_data(title)
    best = {test: (both, same) for test, both, same in agreeing}
    counts = {(test, posture): np.zeros((11, 11)) for test in tests for posture in Posture}
    for test, posture, ease, stability, count in grid:
        counts[(StressTest(test), Posture(posture))][int(stability), int(ease)] += count
    biggest = max(float(c.max()) for c in counts.values())
    n_trials = int(sum(c.sum() for c in counts.values()))
    ease_x, stability_y = np.meshgrid(np.arange(11), np.arange(11))

    fig = _figure(12, 4.6 * len(tests) + 1.5)
    rows = fig.subfigures(
        len(tests), 1, squeeze=False, height_ratios=[4.6] * (len(tests) - 1) + [5.3]
    )[:, 0]
    for test, sub in zip(tests, rows, strict=True):
        axes = sub.subplots(1, len(Posture), sharex=True, sharey=True)
        for col, (ax, posture) in enumerate(zip(axes, Posture, strict=True)):
            c = counts[(test, posture)]
            total = float(c.sum())
            shown = c > 0
            ax.plot([0, 10], [0, 10], color="#888888", linestyle="--", linewidth=0.9, zorder=1)
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
                    f"{_plural(int(total), 'trial')}, {close:.0%} within 1 point\n"
                    f"subject minus tester: {_signed(gap)} on average"
                )
            else:
                note = "no rated trials\n"
            ax.set_title(f"{POSTURES[posture].label}\n{note}", fontsize=10)
            _rating_axis(ax, "x")
            _rating_axis(ax, "y")
            ax.grid(True, color=GRID, linewidth=0.5)
            ax.set_aspect("equal")
            _tidy(ax)
            if test is tests[-1]:
                ax.set_xlabel(scale_label(SCALES["subject_ease"], 34), fontsize=9)
            if col == 0:
                ax.set_ylabel(scale_label(SCALES["tester_stability"], 34), fontsize=9)
        heading = TESTS[test].label
        both, same = best.get(test, (0, 0))
        if both:
            heading += (
                f": both ranked the same posture best in {same:,} of "
                f"{_plural(both, 'session')} ({same / both:.0%})"
            )
        sub.suptitle(heading, fontsize=12, fontweight="bold")
    fig.suptitle(
        f"{title} Subject ease against tester stability: {_plural(n_trials, 'rated trial')} "
        f"of {_subjects(subjects)}\n"
        "dot area: number of trials with that pair of ratings; dashed line: the same rating",
        fontsize=13,
    )
    return fig


# -- history ----------------------------------------------------------------------------------


def history(store: Store, subject: str) -> Figure:
    """One subject's mean ratings per posture, session after session."""
    rows = results.subject_history(store, subject)
    known = store.subject_codes(subject, limit=100)
    code = next((c for c in known if c.casefold() == subject.casefold()), subject)
    title = f"Subject {code} over time"
    sessions = sorted({(started, session_id) for session_id, started, *_ in rows})
    tests = _tests_present([row[2] for row in rows if row[6]])
    if not tests:
        return _no_data(title)
    index = {session_id: i for i, (_, session_id) in enumerate(sessions)}
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for session_id, _started, test, posture, ease, stability, _n in rows:
        for rating, value in zip(results.RATINGS, (ease, stability), strict=True):
            if value is not None:
                series.setdefault((rating, test, posture), []).append((index[session_id], value))

    fig = _figure(4.8 * len(tests) + 1.6, 8.5)
    axes = fig.subplots(len(results.RATINGS), len(tests), squeeze=False, sharex=True, sharey=True)
    ticks = _session_ticks(len(sessions))
    for row, rating in enumerate(results.RATINGS):
        for col, test in enumerate(tests):
            ax = axes[row][col]
            for posture in Posture:
                points = sorted(series.get((rating, test.value, posture.value), []))
                if not points:
                    continue
                xs, ys = zip(*points, strict=True)
                ax.plot(
                    xs,
                    ys,
                    color=POSTURE_COLOURS[posture],
                    marker=POSTURE_MARKERS[posture],
                    markersize=6 if len(sessions) <= 40 else 3,
                    linewidth=1.8,
                    label=POSTURES[posture].label,
                )
            _rating_axis(ax)
            _tidy(ax)
            ax.set_xticks(ticks, [sessions[i][0][:10] for i in ticks])
            ax.set_xlim(-0.5, max(len(sessions) - 0.5, 0.5))
            ax.tick_params(axis="x", labelrotation=30 if len(ticks) > 4 else 0)
            if row == 0:
                ax.set_title(TESTS[test].label, fontsize=12, fontweight="bold")
            if row == len(results.RATINGS) - 1:
                ax.set_xlabel("Session (the day it started, UTC)")
            if col == 0:
                ax.set_ylabel(scale_label(SCALES[rating], 34), fontsize=10)
    first, last = sessions[0][0][:10], sessions[-1][0][:10]
    span = f"on {first}" if first == last else f"from {first} to {last}"
    fig.suptitle(
        f"{title}: mean ratings by posture in {_plural(len(sessions), 'session')} {span}\n"
        "one subject; each point is the mean of that session's rated trials",
        fontsize=13,
    )
    fig.legend(
        handles=_posture_handles(), loc="outside lower center", ncols=len(Posture), frameon=False
    )
    return fig


def _session_ticks(n: int, most: int = 10) -> list[int]:
    if n <= most:
        return list(range(n))
    step = -(-n // most)
    return list(range(0, n, step))


def _posture_handles() -> list[object]:
    from matplotlib.lines import Line2D

    return [
        Line2D(
            [],
            [],
            color=POSTURE_COLOURS[p],
            marker=POSTURE_MARKERS[p],
            linewidth=1.8,
            label=POSTURES[p].label,
        )
        for p in Posture
    ]


# -- order ------------------------------------------------------------------------------------

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
    rows, subjects = _read_while_importing(
        lambda: (results.order_effect(store, selection), subjects_per_test(store, selection))
    )
    title = "Does the place in the session matter?"
    tests = _tests_present([row[0] for row in rows])
    if not tests:
        return _no_data(title)
    fig = _figure(12, 5.4)
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
        _rating_axis(ax)
        _tidy(ax)
        ax.set_xticks(positions)
        ax.set_xlabel("Position of the trial within its test (1 = the first posture tried)")
        ax.set_ylabel(scale_label(SCALES[rating], 40), fontsize=10)
        ax.set_title(f"Rated by the {SCALES[rating].role.value}", fontsize=11, fontweight="bold")
    fig.suptitle(
        f"{title} Mean rating by position: {_plural(n_trials, 'rated trial')} "
        f"of {_subjects(subjects)}\n"
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


# -- one session ------------------------------------------------------------------------------

SessionMeans = Sequence[tuple[str, str, float | None, float | None, int]]
"""(test, posture, mean subject ease, mean tester stability, rated trials)."""


def session_chart(store: Store, session_id: str) -> Figure:
    """One session: both mean ratings per posture, one panel per test."""
    session = store.session(session_id)
    rows = results.session_posture_means(store, session_id)
    fig = _figure(9, 4.6)
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

    tests = _tests_present([row[0] for row in rows if row[4]])
    if title:
        container.suptitle(title, fontsize=12, fontweight="bold")
    if not tests:
        ax = container.add_subplot()
        ax.set_axis_off()
        ax.text(0.5, 0.5, NO_DATA, ha="center", va="center", color="#555555")
        return
    means = {(t, p): (ease, stability) for t, p, ease, stability, n in rows if n}
    axes = container.subplots(1, len(tests), squeeze=False, sharey=True)[0]
    ease, stability = SCALES["subject_ease"], SCALES["tester_stability"]
    for ax, test in zip(axes, tests, strict=True):
        for i, posture in enumerate(Posture):
            colour = POSTURE_COLOURS[posture]
            pair = means.get((test.value, posture.value), (None, None))
            by_name = {"subject_ease": pair[0], "tester_stability": pair[1]}
            first, second = (by_name[scale.name] for scale in SESSION_CHART_BARS)
            for value, dx, solid in ((first, -0.2, True), (second, 0.2, False)):
                if value is None:
                    ax.text(i + dx, 0.3, "n/a", ha="center", fontsize=8, color="#777777")
                    continue
                bars = ax.bar(
                    i + dx,
                    value,
                    width=0.38,
                    color=colour if solid else to_rgba(colour, 0.25),
                    edgecolor=colour,
                    hatch=None if solid else "///",
                    linewidth=1.2,
                )
                ax.bar_label(bars, [f"{value:.1f}".removesuffix(".0")], padding=2, fontsize=9)
        ax.set_xticks(range(len(Posture)), [POSTURES[p].label for p in Posture])
        ax.set_xlim(-0.6, len(Posture) - 0.4)
        ax.set_ylim(0, 11)
        ax.set_yticks(range(0, 11, 2))
        ax.grid(axis="y", color=GRID, linewidth=0.6)
        ax.set_title(TESTS[test].label, fontsize=11)
        _tidy(ax)
    from matplotlib.patches import Patch

    labels: tuple[str, ...]
    if compact:
        axes[0].set_ylabel("Mean rating, 0 to 10", fontsize=9)
        labels = ("You: ease", "Tester: stability")  # the report speaks to the subject
    else:
        axes[0].set_ylabel(
            f"Mean rating (0 = {ease.low_word} / {stability.low_word},\n"
            f"10 = {ease.high_word} / {stability.high_word})",
            fontsize=9,
        )
        # the terminal's key words, then the question
        labels = tuple(
            f"{SESSION_CHART_LABELS[s.name]} ({s.question.partition(': ')[2]})"
            for s in SESSION_CHART_BARS
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
