"""One mean and confidence interval (stats.interval) behind the statistics and the compare chart,
and scale ranges and words taken from the scale definitions."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from posturetest import plots, stats
from posturetest.datasette import metadata
from posturetest.domain import (
    SAFETY_KEYS,
    SCALES,
    SUBJECT_EASE,
    TESTER_STABILITY,
    SessionSetup,
    SessionStatus,
    StressTest,
)
from posturetest.report.content import RATINGS_NOTE
from posturetest.stats import CONFIDENCE, mean_ci, t_quantile
from posturetest.store import Store, results
from posturetest.store.selection import Selection


@pytest.mark.parametrize("n", [2, 3, 7, 40, 1000])
def test_mean_ci_is_students_t_interval(n: int) -> None:
    values = np.random.default_rng(n).uniform(0, 10, n)
    low, high = scipy_stats.t.interval(
        CONFIDENCE, n - 1, loc=values.mean(), scale=scipy_stats.sem(values)
    )
    ci = mean_ci(values)
    assert ci.mean == pytest.approx(values.mean(), abs=1e-12)
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-12)


def test_the_cheap_quantile_is_scipy_stats_own() -> None:
    """The charts use scipy.special (faster to import); the numbers must not change."""
    for df in (1, 2, 5, 29, 30, 999, 25_000):
        assert t_quantile(df) == float(scipy_stats.t.ppf(0.5 + CONFIDENCE / 2, df))


def test_mean_ci_of_one_value_has_no_interval_and_of_none_is_refused() -> None:
    ci = mean_ci(np.array([4.0]))
    assert (ci.mean, ci.half, ci.low, ci.high) == (4.0, None, None, None)
    with pytest.raises(ValueError):
        mean_ci(np.array([]))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Twelve subjects, one complete session each, every trial rated at random."""
    rng = random.Random(11)
    with Store(tmp_path / "study.db") as s:
        for i in range(12):
            session = s.create_session(
                SessionSetup(subject=f"S-{i:03}", tester="Robin"),
                started_at=f"2026-03-{i + 1:02}T09:00:00Z",
            )
            s.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
            for trial in s.trials(session.session_id):
                for scale in session.scales:
                    s.record_rating(trial.trial_id, scale.name, rng.choice(scale.values))
            s.end_session(session.session_id, SessionStatus.COMPLETE)
        yield s


def test_chart_and_statistics_show_the_same_interval(store: Store) -> None:
    result = stats.compute(store, Selection())
    fig = plots.compare(store, Selection())
    tests = [t.value for t in StressTest]
    panels = [ax for ax in fig.get_axes() if ax.containers]
    assert len(panels) == len(results.RATINGS) * len(tests)
    for comparison in result["comparisons"]:
        row, col = results.RATINGS.index(comparison["rating"]), tests.index(comparison["test"])
        bars = [c for c in panels[row * len(tests) + col].containers if hasattr(c, "lines")]
        for bar, described in zip(bars, comparison["postures"].values(), strict=True):
            caps = sorted(float(cap.get_ydata()[0]) for cap in bar.lines[1])
            assert bar.lines[0].get_ydata()[0] == pytest.approx(described["mean"], abs=1e-12)
            assert caps == pytest.approx([described["ci_low"], described["ci_high"]], abs=1e-12)
    level = f"{CONFIDENCE:.0%}"
    assert f"{level} CI" in stats.format_text(result)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert f"mean with {level} confidence interval" in legend


def test_datasette_units_and_report_words_come_from_the_scales(tmp_path: Path) -> None:
    tables = metadata(tmp_path / "x.db")["databases"]["x"]["tables"]
    expected = {s.name: f"points ({s.minimum}-{s.maximum})" for s in SCALES.values()}
    assert tables["trial_results"]["units"] == expected == tables["trials"]["units"]
    for scale in (SUBJECT_EASE, TESTER_STABILITY):
        assert f"{scale.minimum} = {scale.low_word}" in RATINGS_NOTE
        assert f"{scale.maximum} = {scale.high_word}" in RATINGS_NOTE
