"""The history chart: one subject's mean ratings per posture, session after session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from posturetest.domain import POSTURE_COLOURS, POSTURES, SCALES, TESTS, Posture
from posturetest.plots.style import (
    POSTURE_MARKERS,
    figure,
    no_data,
    plural,
    rating_axis,
    scale_label,
    tests_present,
    tidy,
)
from posturetest.store import results

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from posturetest.store import Store


def history(store: Store, subject: str) -> Figure:
    """One subject's mean ratings per posture, session after session."""
    rows = results.subject_history(store, subject)
    known = store.subject_codes(subject, limit=100)
    code = next((c for c in known if c.casefold() == subject.casefold()), subject)
    title = f"Subject {code} over time"
    sessions = sorted({(started, session_id) for session_id, started, *_ in rows})
    tests = tests_present([row[2] for row in rows if row[6]])
    if not tests:
        return no_data(title)
    index = {session_id: i for i, (_, session_id) in enumerate(sessions)}
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for session_id, _started, test, posture, ease, stability, _n in rows:
        for rating, value in zip(results.RATINGS, (ease, stability), strict=True):
            if value is not None:
                series.setdefault((rating, test, posture), []).append((index[session_id], value))

    fig = figure(4.8 * len(tests) + 1.6, 8.5)
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
            rating_axis(ax, SCALES[rating])
            tidy(ax)
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
        f"{title}: mean ratings by posture in {plural(len(sessions), 'session')} {span}\n"
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
