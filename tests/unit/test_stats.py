"""Statistics: the results SQL and `posturetest stats`, checked against scipy on the same data.

Studies are built through the Store API; expected numbers are computed here, independently,
from the stored rows (SQL on the `trial_results` view, then numpy and scipy directly).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import date
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from posturetest import stats
from posturetest.cli import main
from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Posture,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.store import Store, results
from posturetest.store.selection import Selection

V, A = StressTest.VERTICAL, StressTest.ANTERIOR
LIG, MUS, SKE = Posture.LIGAMENT, Posture.MUSCLE, Posture.SKELETON
POSTURES = ("ligament", "muscle", "skeleton")
Values = Callable[[StressTest, Posture, int], tuple[int, int] | None]
"""(test, posture, rep) -> (subject_ease, tester_stability), or None to stop that trial."""


# -- building studies ------------------------------------------------------------------------


def add_session(
    store: Store,
    subject: str,
    values: Values,
    *,
    started_at: str = "2026-03-02T09:00:00Z",
    tests: tuple[StressTest, ...] = (V, A),
    repetitions: int = 1,
    scheme: OrderScheme = OrderScheme.BALANCED,
    end: SessionStatus | None = SessionStatus.COMPLETE,
    rankings: dict[tuple[StressTest, Role], tuple[Posture, ...]] | None = None,
) -> str:
    """One session rated (and ranked) through the store; trials whose value is None are
    stopped."""
    with store.write():
        session = store.create_session(
            SessionSetup(
                subject=subject,
                tests=tests,
                repetitions=repetitions,
                scheme=scheme,
                record_discomfort=False,
            ),
            started_at=started_at,
        )
        store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
        for trial in store.trials(session.session_id):
            value = values(trial.test, trial.posture, trial.rep)
            if value is None:
                store.stop_trial(trial.trial_id, StopReason.COULD_NOT_HOLD)
                continue
            store.record_rating(trial.trial_id, "subject_ease", value[0])
            store.record_rating(trial.trial_id, "tester_stability", value[1])
        for (test, role), order in (rankings or {}).items():
            store.record_ranking(session.session_id, test, role, order)
        if end is not None:
            store.end_session(session.session_id, end)
    return session.session_id


def table(rows: dict[Posture, tuple[int, int]]) -> Values:
    """Values by posture, the same in both tests and every repetition; a posture left out is
    stopped."""

    def values(test: StressTest, posture: Posture, rep: int) -> tuple[int, int] | None:
        return rows.get(posture)

    return values


FIXED = {
    # subject: {posture: (subject_ease, tester_stability)}; ties within and across subjects.
    "S-01": {LIG: (3, 4), MUS: (5, 5), SKE: (8, 9)},
    "S-02": {LIG: (2, 2), MUS: (2, 6), SKE: (7, 7)},
    "S-03": {LIG: (4, 3), MUS: (6, 6), SKE: (6, 8)},
    "S-04": {LIG: (5, 5), MUS: (4, 4), SKE: (9, 9)},
    "S-05": {LIG: (1, 2), MUS: (3, 3), SKE: (7, 6)},
    "S-06": {LIG: (3, 3), MUS: (3, 5), SKE: (8, 8)},
    "S-07": {LIG: (4, 4), MUS: (6, 5)},  # skeleton stopped: left out and counted
}


@pytest.fixture
def memory_store() -> Iterator[Store]:
    s = Store(":memory:")
    yield s
    s.close()


@pytest.fixture
def fixed_store(memory_store: Store) -> Store:
    for subject, rows in FIXED.items():
        add_session(memory_store, subject, table(rows))
    return memory_store


# -- independent reference -------------------------------------------------------------------


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def rated_rows(store: Store, where: str = "", params: tuple[Any, ...] = ()) -> list[Any]:
    return store.conn.execute(
        "SELECT test, subject, posture, subject_ease, tester_stability FROM trial_results "
        f"WHERE outcome = 'rated'{where}",
        params,
    ).fetchall()


def unit_values(rows: list[Any]) -> dict[tuple[str, str], dict[str, dict[str, float]]]:
    """(test, rating) -> subject -> posture -> mean of the subject's rated trials."""
    sums: dict[tuple[str, str, str, str], list[int]] = {}
    for test, subject, posture, ease, stability in rows:
        for rating, value in (("subject_ease", ease), ("tester_stability", stability)):
            sums.setdefault((test, rating, subject, posture), []).append(value)
    out: dict[tuple[str, str], dict[str, dict[str, float]]] = {}
    for (test, rating, subject, posture), values in sums.items():
        out.setdefault((test, rating), {}).setdefault(subject, {})[posture] = float(np.mean(values))
    return out


def holm_reference(p: list[float]) -> list[float]:
    """Holm by its definition: p_(i) adjusted = max over j <= i of min(1, (m - j) p_(j))."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    m = len(p)
    adjusted = [0.0] * m
    for rank, i in enumerate(order):
        adjusted[i] = max(min(1.0, (m - j) * p[order[j]]) for j in range(rank + 1))
    return adjusted


def expected_comparison(by_subject: dict[str, dict[str, float]]) -> dict[str, Any]:
    complete = {s: v for s, v in by_subject.items() if len(v) == 3}
    x = np.array([[v[p] for p in POSTURES] for v in complete.values()], dtype=float).reshape(-1, 3)
    n = x.shape[0]
    postures = {}
    for j, posture in enumerate(POSTURES):
        col = x[:, j]
        if n >= 2:
            half = scipy_stats.t.ppf(0.975, n - 1) * np.std(col, ddof=1) / math.sqrt(n)
            ci: tuple[float | None, float | None] = (col.mean() - half, col.mean() + half)
        else:
            ci = (None, None)
        postures[posture] = {
            "n": n,
            "mean": float(col.mean()) if n else None,
            "median": float(np.median(col)) if n else None,
            "ci_low": ci[0],
            "ci_high": ci[1],
        }
    friedman: dict[str, float | None] = {"statistic": None, "p": None, "kendall_w": None}
    if n >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chi2, p = scipy_stats.friedmanchisquare(x[:, 0], x[:, 1], x[:, 2])
        if np.isfinite(chi2):
            friedman = {"statistic": chi2, "p": p, "kendall_w": chi2 / (n * 2)}
    pairwise = []
    for i, j in combinations(range(3), 2):
        if n and np.any(x[:, i] != x[:, j]):
            result = scipy_stats.wilcoxon(x[:, i], x[:, j])
            pairwise.append((float(result.statistic), float(result.pvalue)))
        else:
            pairwise.append((None, None))
    present = [p for _, p in pairwise if p is not None]
    adjusted = iter(holm_reference(present))
    return {
        "n": n,
        "excluded": len(by_subject) - n,
        "postures": postures,
        "friedman": friedman,
        "pairwise": [
            {
                "a": POSTURES[i],
                "b": POSTURES[j],
                "statistic": s,
                "p": p,
                "p_holm": next(adjusted) if p is not None else None,
            }
            for (i, j), (s, p) in zip(combinations(range(3), 2), pairwise, strict=True)
        ],
    }


def assert_comparison_matches(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["n"] == want["n"]
    assert got["excluded"] == want["excluded"]
    for posture in POSTURES:
        for key, value in want["postures"][posture].items():
            assert close(got["postures"][posture][key], value), (posture, key, got, want)
    for key, value in want["friedman"].items():
        assert close(got["friedman"][key], value), (key, got["friedman"], want["friedman"])
    for g, w in zip(got["pairwise"], want["pairwise"], strict=True):
        assert (g["a"], g["b"]) == (w["a"], w["b"])
        for key in ("statistic", "p", "p_holm"):
            assert close(g[key], w[key]), (key, g, w)


def assert_matches_reference(store: Store, result: dict[str, Any], rows: list[Any]) -> None:
    units = unit_values(rows)
    tests = [t.value for t in StressTest if any(r[0] == t.value for r in rows)]
    assert [(c["test"], c["rating"]) for c in result["comparisons"]] == [
        (t, r) for t in tests for r in results.RATINGS
    ]
    for comparison in result["comparisons"]:
        want = expected_comparison(units[(comparison["test"], comparison["rating"])])
        assert_comparison_matches(comparison, want)


def text_of(result: dict[str, Any]) -> str:
    return " ".join(stats.format_text(result).split())


# -- fixed data against scipy ----------------------------------------------------------------


def test_fixed_study_matches_scipy_directly(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    by_rating = {
        (c["test"], c["rating"]): c for c in result["comparisons"] if c["test"] == "vertical"
    }
    complete = [rows for rows in FIXED.values() if len(rows) == 3]
    for r, rating in enumerate(results.RATINGS):
        x = np.array([[rows[p][r] for p in (LIG, MUS, SKE)] for rows in complete], dtype=float)
        got = by_rating[("vertical", rating)]
        assert got["n"] == 6 and got["excluded"] == 1
        chi2, p = scipy_stats.friedmanchisquare(x[:, 0], x[:, 1], x[:, 2])
        assert close(got["friedman"]["statistic"], chi2)
        assert close(got["friedman"]["p"], p)
        assert close(got["friedman"]["kendall_w"], chi2 / (6 * 2))
        ps = []
        for pair, (i, j) in zip(got["pairwise"], combinations(range(3), 2), strict=True):
            w = scipy_stats.wilcoxon(x[:, i], x[:, j])
            assert close(pair["statistic"], w.statistic) and close(pair["p"], w.pvalue)
            ps.append(w.pvalue)
        assert all(
            close(pair["p_holm"], h)
            for pair, h in zip(got["pairwise"], holm_reference(ps), strict=True)
        )
        skeleton = x[:, 2]
        half = scipy_stats.t.ppf(0.975, 5) * skeleton.std(ddof=1) / math.sqrt(6)
        assert close(got["postures"]["skeleton"]["ci_low"], skeleton.mean() - half)
        assert close(got["postures"]["skeleton"]["ci_high"], skeleton.mean() + half)
        assert close(got["postures"]["skeleton"]["median"], float(np.median(skeleton)))
    assert_matches_reference(fixed_store, result, rated_rows(fixed_store))


def test_fewer_than_ten_subjects_gets_a_plain_warning(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    for comparison in result["comparisons"]:
        assert "fewer than 10" in comparison["warning"]
        assert "unreliable" in comparison["warning"]
        assert "n = 6; with fewer than 10 subjects this p is rough)" in stats.sentence(comparison)
    assert len(result["warnings"]) == len(result["comparisons"])
    assert "Only 6 subjects have all three postures rated: with fewer than 10" in text_of(result)


def test_ten_subjects_or_more_have_no_warning(memory_store: Store) -> None:
    for i in range(10):
        add_session(memory_store, f"T-{i}", table({LIG: (i % 4, 3), MUS: (5, 5), SKE: (9, 8)}))
    result = stats.compute(memory_store, Selection())
    assert all(c["n"] == 10 and c["warning"] is None for c in result["comparisons"])
    assert result["warnings"] == []
    assert "Warning" not in stats.format_text(result)


def test_holm_by_hand() -> None:
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert stats.holm([0.5, None, 0.01]) == pytest.approx([0.5, None, 0.02])
    assert stats.holm([0.9, 0.8, 0.7]) == [1.0, 1.0, 1.0]


def test_a_subject_missing_a_posture_is_left_out_and_counted(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    vertical = [c for c in result["comparisons"] if c["test"] == "vertical"]
    assert {c["excluded"] for c in vertical} == {1}
    assert {c["postures"]["ligament"]["n"] for c in vertical} == {6}
    text = text_of(result)
    assert "6 subjects with all three postures rated; 1 left out (a posture missing)" in text


def test_one_subject_gives_nulls_and_no_crash(memory_store: Store) -> None:
    add_session(memory_store, "ONE", table({LIG: (2, 3), MUS: (5, 4), SKE: (9, 9)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = stats.compute(memory_store, Selection())
    comparison = result["comparisons"][0]
    assert comparison["n"] == 1
    assert comparison["postures"]["skeleton"] == {
        "n": 1,
        "mean": 9.0,
        "median": 9.0,
        "ci_low": None,
        "ci_high": None,
    }
    assert comparison["friedman"] == {"statistic": None, "p": None, "kendall_w": None}
    assert "too few for any test" in comparison["warning"]
    assert "could not be compared: only one subject" in text_of(result)
    json.dumps(result, allow_nan=False)


def test_all_equal_values_give_nulls_not_a_crash(memory_store: Store) -> None:
    for i in range(4):
        add_session(memory_store, f"EQ-{i}", table({LIG: (i, 5), MUS: (i, 5), SKE: (i, 5)}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = stats.compute(memory_store, Selection())
    for comparison in result["comparisons"]:
        assert comparison["n"] == 4
        assert comparison["friedman"] == {"statistic": None, "p": None, "kendall_w": None}
        assert all(p["statistic"] is None and p["p_holm"] is None for p in comparison["pairwise"])
    text = text_of(result)
    assert "every subject gave all three postures the same value" in text
    assert "was rated" not in text
    # tester stability is 5 everywhere: Spearman is undefined, not NaN
    assert result["agreement"]["overall"] == {"n": 24, "rho": None}
    json.dumps(result, allow_nan=False)


def test_no_rated_trials(memory_store: Store) -> None:
    result = stats.compute(memory_store, Selection())
    assert result["comparisons"] == []
    assert result["warnings"] == ["No rated trials in the selected sessions: nothing to compare."]
    assert result["agreement"] == {
        "overall": {"n": 0, "rho": None},
        "by_test": [],
        "best_posture": [],
    }
    assert result["order_effect"] == {"by_position": [], "trend": []}
    assert "No rated trials" in stats.format_text(result)


def test_json_shape_keys_exactly(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    assert set(result) == {"comparisons", "agreement", "order_effect", "warnings"}
    for comparison in result["comparisons"]:
        assert list(comparison) == [
            "test",
            "rating",
            "n",
            "excluded",
            "postures",
            "friedman",
            "pairwise",
            "warning",
        ]
        assert list(comparison["postures"]) == list(POSTURES)
        for described in comparison["postures"].values():
            assert list(described) == ["n", "mean", "median", "ci_low", "ci_high"]
        assert list(comparison["friedman"]) == ["statistic", "p", "kendall_w"]
        assert [(p["a"], p["b"]) for p in comparison["pairwise"]] == list(combinations(POSTURES, 2))
        for pair in comparison["pairwise"]:
            assert list(pair) == ["a", "b", "statistic", "p", "p_holm"]
    assert set(result["agreement"]) == {"overall", "by_test", "best_posture"}
    assert set(result["order_effect"]) == {"by_position", "trend"}
    assert [c["test"] for c in result["comparisons"]] == ["vertical"] * 2 + ["anterior"] * 2


# -- sentences: never more than the p-values allow -------------------------------------------


def test_no_difference_is_not_reported_as_a_best_posture(memory_store: Store) -> None:
    """Each subject's postures are a rotation of the same three values: no posture is better."""
    rotations = [(3, 5, 7), (5, 7, 3), (7, 3, 5)]
    for i in range(12):
        lig, mus, ske = rotations[i % 3]
        add_session(
            memory_store, f"N-{i:02}", table({LIG: (lig, lig), MUS: (mus, mus), SKE: (ske, ske)})
        )
    result = stats.compute(memory_store, Selection())
    text = text_of(result)
    for comparison in result["comparisons"]:
        assert comparison["friedman"]["p"] >= 0.05
        sentence = stats.sentence(comparison)
        assert "showed no clear difference between the postures (Friedman p = " in sentence
        assert "was rated" not in sentence and "easiest" not in sentence
        assert sentence in " ".join(stats.format_text(result).split())
    assert "Under the vertical test, subject ease showed no clear difference" in text


def clear_study(store: Store, subjects: int = 12) -> None:
    """Skeleton clearly highest; ligament and muscle nearly the same."""
    for i in range(subjects):
        lig, mus = (3, 4) if i % 2 else (4, 3)
        add_session(store, f"C-{i:02}", table({LIG: (lig, lig), MUS: (mus, mus), SKE: (8, 9)}))


def test_a_clear_difference_names_the_top_posture_and_the_pairs_that_hold(
    memory_store: Store,
) -> None:
    clear_study(memory_store)
    result = stats.compute(memory_store, Selection())
    comparison = result["comparisons"][0]
    assert comparison["friedman"]["p"] < 0.05
    by_pair = {(p["a"], p["b"]): p for p in comparison["pairwise"]}
    assert by_pair[("ligament", "muscle")]["p"] is not None
    assert by_pair[("ligament", "muscle")]["p_holm"] >= 0.05
    assert by_pair[("ligament", "skeleton")]["p_holm"] < 0.05
    sentence = stats.sentence(comparison)
    assert sentence.startswith(
        "Under the vertical test, the skeleton posture was rated easiest by subjects on average"
    )
    assert "ligament vs skeleton" in sentence and "muscle vs skeleton" in sentence
    assert sentence.endswith(
        f"ligament vs muscle (Holm p = {by_pair[('ligament', 'muscle')]['p_holm']:.3f}) does not."
    )
    stability = stats.sentence(result["comparisons"][1])
    assert "the skeleton posture was rated most stable by testers" in stability


def test_top_posture_is_named_only_below_alpha(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    for comparison in result["comparisons"]:
        sentence = stats.sentence(comparison)
        p = comparison["friedman"]["p"]
        assert ("was rated" in sentence) == (p is not None and p < 0.05), sentence


# -- agreement and order ---------------------------------------------------------------------


def test_agreement_is_spearman_over_trials(fixed_store: Store) -> None:
    result = stats.compute(fixed_store, Selection())
    rows = rated_rows(fixed_store)
    ease = [r[3] for r in rows]
    stability = [r[4] for r in rows]
    overall = result["agreement"]["overall"]
    assert overall["n"] == len(rows)
    assert close(overall["rho"], scipy_stats.spearmanr(ease, stability).statistic)
    for row in result["agreement"]["by_test"]:
        mine = [r for r in rows if r[0] == row["test"]]
        want = scipy_stats.spearmanr([r[3] for r in mine], [r[4] for r in mine]).statistic
        assert row["n"] == len(mine) and close(row["rho"], want)


def test_best_posture_agreement_counts_sessions(memory_store: Store) -> None:
    values = table({LIG: (2, 2), MUS: (5, 5), SKE: (9, 9)})
    add_session(
        memory_store,
        "R-1",
        values,
        rankings={(V, Role.SUBJECT): (SKE, MUS, LIG), (V, Role.TESTER): (SKE, LIG, MUS)},
    )
    add_session(
        memory_store,
        "R-2",
        values,
        end=None,
        rankings={
            (V, Role.SUBJECT): (MUS, SKE, LIG),
            (V, Role.TESTER): (SKE, MUS, LIG),
            (A, Role.SUBJECT): (MUS, SKE, LIG),  # the tester never ranked the anterior test
        },
    )
    assert results.best_posture_agreement(memory_store, Selection()) == [("vertical", 2, 1)]
    assert results.best_posture_agreement(memory_store, Selection(complete_only=True)) == [
        ("vertical", 1, 1)
    ]
    result = stats.compute(memory_store, Selection())
    assert result["agreement"]["best_posture"] == [
        {"test": "vertical", "sessions": 2, "same": 1, "share": 0.5},
        {"test": "anterior", "sessions": 0, "same": 0, "share": None},
    ]
    text = text_of(result)
    assert "vertical 1 of 2 sessions (50%)" in text
    assert "anterior no session has both rankings" in text


def positions_reference(store: Store) -> list[Any]:
    """(test, rating, position, mean, n) with positions from a window function over all trials."""
    rows = store.conn.execute(
        """SELECT test, position, subject_ease, tester_stability FROM (
            SELECT test, outcome, subject_ease, tester_stability,
                row_number() OVER (PARTITION BY session_id, test ORDER BY seq) AS position
            FROM trial_results) WHERE outcome = 'rated'"""
    ).fetchall()
    out = []
    for test in sorted({r[0] for r in rows}):
        for r, rating in enumerate(results.RATINGS):
            for position in sorted({row[1] for row in rows if row[0] == test}):
                values = [row[2 + r] for row in rows if row[0] == test and row[1] == position]
                out.append((test, rating, position, float(np.mean(values)), len(values)))
    return out


def test_order_effect_by_position_within_the_test(memory_store: Store) -> None:
    def by_rep(test: StressTest, posture: Posture, rep: int) -> tuple[int, int] | None:
        if posture is MUS and rep == 1 and test is A:
            return None  # stopped: keeps its place in the sequence
        return ((rep - 1) * 3 + POSTURES.index(posture.value) + 1, 10 - rep)

    for i, scheme in enumerate(OrderScheme):
        add_session(memory_store, f"O-{i}", by_rep, repetitions=2, scheme=scheme)
    add_session(memory_store, "O-9", by_rep, repetitions=3, tests=(A,))
    rows = results.order_effect(memory_store, Selection())
    assert [(t, r, p, n) for t, r, p, _, n in rows] == [
        (t, r, p, n) for t, r, p, _, n in positions_reference(memory_store)
    ]
    assert all(
        close(a[3], b[3]) for a, b in zip(rows, positions_reference(memory_store), strict=True)
    )
    assert max(p for t, _, p, _, _ in rows if t == "anterior") == 9
    result = stats.compute(memory_store, Selection())
    by_position = [tuple(d.values()) for d in result["order_effect"]["by_position"]]
    assert sorted(by_position) == sorted(rows)
    trials = memory_store.conn.execute(
        """SELECT test, row_number() OVER (PARTITION BY session_id, test ORDER BY seq),
            subject_ease, outcome FROM trial_results"""
    ).fetchall()
    for trend in result["order_effect"]["trend"]:
        if trend["rating"] != "subject_ease":
            continue
        mine = [(p, e) for t, p, e, o in trials if t == trend["test"] and o == "rated"]
        slope = np.polyfit([p for p, _ in mine], [e for _, e in mine], 1)[0]
        assert close(trend["slope"], float(slope))
        means = [(p, m) for t, r, p, m, _ in rows if t == trend["test"] and r == "subject_ease"]
        rho = scipy_stats.spearmanr([p for p, _ in means], [m for _, m in means]).statistic
        assert close(trend["spearman_rho"], rho)


# -- the results SQL -------------------------------------------------------------------------


def test_subject_posture_means_average_sessions_and_repetitions(memory_store: Store) -> None:
    add_session(memory_store, "M-1", lambda t, p, r: (r, 10 - r), repetitions=2)
    add_session(
        memory_store,
        "m-1",
        lambda t, p, r: (6, 6) if p is not SKE else None,
        started_at="2026-03-09T09:00:00Z",
    )
    add_session(memory_store, "M-2", table({LIG: (1, 1), MUS: (2, 2), SKE: (3, 3)}), end=None)
    rows = results.subject_posture_means(memory_store, Selection(), "subject_ease")
    assert rows[:3] == [
        ("anterior", "M-1", "ligament", (1 + 2 + 6) / 3, 3),
        ("anterior", "M-1", "muscle", (1 + 2 + 6) / 3, 3),
        ("anterior", "M-1", "skeleton", 1.5, 2),
    ]
    assert len(rows) == 12
    assert rows == sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    stability = results.subject_posture_means(memory_store, Selection(), "tester_stability")
    assert stability[2] == ("anterior", "M-1", "skeleton", 8.5, 2)
    complete = results.subject_posture_means(
        memory_store, Selection(complete_only=True), "subject_ease"
    )
    assert {r[1] for r in complete} == {"M-1"}
    with pytest.raises(ValueError, match="unknown rating"):
        results.subject_posture_means(memory_store, Selection(), "discomfort")


def test_rating_grid_counts_rated_trials(fixed_store: Store) -> None:
    grid = results.rating_grid(fixed_store, Selection())
    counted = fixed_store.conn.execute(
        "SELECT test, posture, subject_ease, tester_stability, count(*) FROM trial_results "
        "WHERE outcome = 'rated' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
    ).fetchall()
    assert grid == [tuple(r) for r in counted]
    assert sum(r[4] for r in grid) == 2 * (6 * 3 + 2)


def test_subject_history_is_case_insensitive_and_keeps_gaps(memory_store: Store) -> None:
    later = add_session(
        memory_store,
        "H-1",
        table({LIG: (2, 3), MUS: (5, 5)}),
        started_at="2026-04-01T09:00:00Z",
    )
    earlier = add_session(
        memory_store,
        "H-1",
        table({LIG: (4, 4), MUS: (5, 6), SKE: (9, 8)}),
        started_at="2026-03-01T09:00:00Z",
    )
    add_session(memory_store, "H-2", table({LIG: (1, 1), MUS: (1, 1), SKE: (1, 1)}))
    rows = results.subject_history(memory_store, "h-1")
    assert [r[0] for r in rows] == [earlier] * 6 + [later] * 6
    assert rows[0] == (earlier, "2026-03-01T09:00:00Z", "anterior", "ligament", 4.0, 4.0, 1)
    assert rows[-1] == (later, "2026-04-01T09:00:00Z", "vertical", "skeleton", None, None, 0)
    assert results.subject_history(memory_store, "nobody") == []


def test_session_posture_means(memory_store: Store) -> None:
    session = add_session(memory_store, "P-1", lambda t, p, r: (r + 1, 2 * r), repetitions=3)
    rows = results.session_posture_means(memory_store, session)
    assert rows == [
        (test, posture, 3.0, 4.0, 3) for test in ("anterior", "vertical") for posture in POSTURES
    ]
    assert results.session_posture_means(memory_store, "no-such-session") == []


def test_pending_half_ratings_are_not_counted(memory_store: Store) -> None:
    add_session(memory_store, "Q-1", table({}), end=None)  # every trial stopped
    open_session = memory_store.create_session(
        SessionSetup(subject="Q-2", record_discomfort=False), started_at="2026-05-01T09:00:00Z"
    )
    memory_store.record_safety(open_session.session_id, {k: False for k in SAFETY_KEYS})
    first = memory_store.trials(open_session.session_id)[0]
    memory_store.record_rating(first.trial_id, "subject_ease", 7)  # tester not yet rated
    assert results.rating_grid(memory_store, Selection()) == []
    assert results.subject_posture_means(memory_store, Selection(), "subject_ease") == []
    rows = results.session_posture_means(memory_store, open_session.session_id)
    assert all(r[2] is None and r[4] == 0 for r in rows)


# -- filters ---------------------------------------------------------------------------------


@pytest.fixture
def dated_store(memory_store: Store) -> Store:
    for i in range(8):
        day = f"2026-06-{10 + i:02}T08:30:00Z"
        add_session(
            memory_store,
            f"F-{i % 4}",
            table({LIG: (i % 5, 3), MUS: ((i * 3) % 7, 5), SKE: (9 - i % 3, 8)}),
            started_at=day,
            end=(SessionStatus.STOPPED, SessionStatus.COMPLETE, None)[i % 3],
        )
    return memory_store


@pytest.mark.parametrize(
    ("selection", "where", "params"),
    [
        (Selection(), "", ()),
        (Selection(subjects=("f-1", "F-2")), " AND subject IN ('F-1', 'F-2')", ()),
        (
            Selection(since=date(2026, 6, 12), until=date(2026, 6, 14)),
            " AND session_started_at >= '2026-06-12' AND session_started_at < '2026-06-15'",
            (),
        ),
        (Selection(complete_only=True), " AND session_status = 'complete'", ()),
        (
            Selection(subjects=("F-3",), complete_only=True),
            " AND subject = 'F-3' AND session_status = 'complete'",
            (),
        ),
    ],
)
def test_filters_select_the_same_rows_as_export(
    dated_store: Store, selection: Selection, where: str, params: tuple[Any, ...]
) -> None:
    result = stats.compute(dated_store, selection)
    rows = rated_rows(dated_store, where, params)
    assert_matches_reference(dated_store, result, rows)
    assert result["agreement"]["overall"]["n"] == len(rows)
    assert sum(d["n"] for d in result["order_effect"]["by_position"]) == 2 * len(rows)


def test_session_filter(dated_store: Store) -> None:
    sessions = [r[0] for r in dated_store.conn.execute("SELECT session_id FROM sessions")]
    result = stats.compute(dated_store, Selection(session_ids=tuple(sessions[:2])))
    rows = rated_rows(dated_store, " AND session_id IN (?, ?)", tuple(sessions[:2]))
    assert_matches_reference(dated_store, result, rows)


# -- hypothesis: any study -------------------------------------------------------------------

rating = st.integers(0, 10)
trial_value = st.one_of(st.none(), st.tuples(rating, rating))


@st.composite
def studies(draw: st.DrawFn) -> list[tuple[int, OrderScheme, list[tuple[int, int] | None], bool]]:
    subjects = draw(st.integers(1, 7))
    study = []
    for _ in range(subjects):
        repetitions = draw(st.integers(1, 2))
        scheme = draw(st.sampled_from(list(OrderScheme)))
        values = draw(st.lists(trial_value, min_size=6 * repetitions, max_size=6 * repetitions))
        study.append((repetitions, scheme, values, draw(st.booleans())))
    return study


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(study=studies())
def test_any_study_matches_scipy(
    study: list[tuple[int, OrderScheme, list[tuple[int, int] | None], bool]],
) -> None:
    with Store(":memory:") as store:
        for i, (repetitions, scheme, values, ranked) in enumerate(study):
            planned = iter(values)
            tester = (LIG, MUS, SKE) if i % 2 else (SKE, LIG, MUS)
            add_session(
                store,
                f"H-{i}",
                lambda t, p, r, planned=planned: next(planned),
                repetitions=repetitions,
                scheme=scheme,
                end=None,
                rankings={(V, Role.SUBJECT): (SKE, MUS, LIG), (V, Role.TESTER): tester}
                if ranked
                else None,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            result = stats.compute(store, Selection())
        rows = rated_rows(store)
        assert_matches_reference(store, result, rows)
        overall = result["agreement"]["overall"]
        assert overall["n"] == len(rows)
        if len(rows) >= 2 and len({r[3] for r in rows}) > 1 and len({r[4] for r in rows}) > 1:
            want = scipy_stats.spearmanr([r[3] for r in rows], [r[4] for r in rows]).statistic
            assert close(overall["rho"], want)
        else:
            assert overall["rho"] is None
        by_position = sorted(tuple(d.values()) for d in result["order_effect"]["by_position"])
        reference = sorted(positions_reference(store))
        assert [r[:3] + r[4:] for r in by_position] == [r[:3] + r[4:] for r in reference]
        assert all(close(a[3], b[3]) for a, b in zip(by_position, reference, strict=True))
        ranked_sessions = sum(1 for _, _, _, ranked in study if ranked)
        best = result["agreement"]["best_posture"]
        assert sum(b["sessions"] for b in best) == ranked_sessions
        text = stats.format_text(result)
        for comparison in result["comparisons"]:
            p = comparison["friedman"]["p"]
            sentence = stats.sentence(comparison)
            assert ("was rated" in sentence) == (p is not None and p < 0.05)
            if "was rated" in sentence:
                top = max(POSTURES, key=lambda x: comparison["postures"][x]["mean"])
                assert f"the {top} posture was rated" in sentence
        json.dumps(result, allow_nan=False)
        assert text.endswith("\n")


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "study.db"
    with Store(path) as store:
        for subject, rows in FIXED.items():
            add_session(store, subject, table(rows), started_at="2026-03-02T09:00:00Z")
        add_session(store, "LATE", table(FIXED["S-01"]), started_at="2026-09-01T09:00:00Z")
    return path


def test_cli_json_is_the_computed_result(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--db", str(db_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    with Store(db_path) as store:
        assert printed == stats.compute(store, Selection())
    assert printed["comparisons"][0]["n"] == 7


def test_cli_filters_like_export(db_path: Path) -> None:
    args = ["stats", "--db", str(db_path), "--format", "json", "--until", "2026-06-30"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["comparisons"][0]["n"] == 6
    result = CliRunner().invoke(
        main, ["stats", "--db", str(db_path), "--format", "json", "--subject", "late"]
    )
    assert json.loads(result.stdout)["comparisons"][0]["n"] == 1


def test_cli_text_is_a_table_with_sentences(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--db", str(db_path)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "posture n median mean 95% CI" in text
    assert "Under the vertical test," in text and "Under the anterior test," in text
    assert "Friedman: chi² = " in text
    assert "Wilcoxon signed-rank, Holm-corrected:" in text
    assert "Agreement between subject and tester" in text
    assert result.stderr == ""


def test_cli_missing_database_is_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "typo.db"
    result = CliRunner().invoke(main, ["stats", "--db", str(target)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"posturetest: {target} does not exist (no database there)"
    ]
    assert not target.exists()


def test_cli_not_a_database_is_exit_2(tmp_path: Path) -> None:
    target = tmp_path / "notes.db"
    target.write_text("hello")
    result = CliRunner().invoke(main, ["stats", "--db", str(target)])
    assert result.exit_code == 2
    assert "not a SQLite database" in result.stderr
    assert "Traceback" not in result.output
    assert target.read_text() == "hello"


def test_cli_bad_format_is_a_usage_error(db_path: Path) -> None:
    result = CliRunner().invoke(main, ["stats", "--db", str(db_path), "--format", "csv"])
    assert result.exit_code == 2
    assert "'csv' is not one of 'text', 'json'" in result.stderr


# -- import hygiene --------------------------------------------------------------------------


def loaded_after(code: str) -> set[str]:
    probe = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return {m.split(".")[0] for m in probe.stdout.split()}


@pytest.mark.parametrize("module", ["posturetest.store.results", "posturetest.stats"])
def test_results_and_stats_import_no_heavy_library(module: str) -> None:
    loaded = loaded_after(f"import {module}")
    assert "posturetest" in loaded
    assert not loaded & {"scipy", "numpy", "matplotlib", "pandas", "textual"}


def test_stats_help_imports_no_heavy_library() -> None:
    loaded = loaded_after(
        "from posturetest.cli import main\ntry:\n    main(['stats', '--help'])\n"
        "except SystemExit:\n    pass"
    )
    assert not loaded & {"scipy", "numpy", "matplotlib", "pandas", "textual"}
