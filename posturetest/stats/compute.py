"""The numbers of a study's statistics: do the postures differ, do subject and tester agree,
does order matter?

Per test and rating the unit is one value per subject and posture: the mean of that subject's
rated trials in the selected sessions (repetitions and repeat sessions averaged first), because
trials of one person are not independent. Only subjects with all three postures rated enter a
comparison (a matched design); the others are left out and counted as `excluded`. The numbers
describing each posture (n, mean, median, confidence interval) are of those same subjects, so
the table and the tests always speak about one group of people.

numpy and scipy are imported inside the functions: importing this module costs nothing, and the
command line's --help, export and the terminal app never load them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from typing import TYPE_CHECKING, Any

from posturetest.domain import SUBJECT_EASE, TESTER_STABILITY, TESTS, Posture, StressTest
from posturetest.stats.interval import mean_ci
from posturetest.store import Store, results
from posturetest.store.selection import Selection

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

MIN_SUBJECTS = 10
"""Below this the Friedman chi-square approximation is unreliable: a warning says so."""

POSTURE_NAMES: tuple[str, ...] = tuple(p.value for p in Posture)
PAIRS: tuple[tuple[str, str], ...] = tuple(combinations(POSTURE_NAMES, 2))

RATING_WORDS: dict[str, tuple[str, str]] = {
    SUBJECT_EASE.name: ("subject ease", "rated easiest by subjects"),
    TESTER_STABILITY.name: ("tester stability", "rated most stable by testers"),
}
"""Each rating as a noun, and what its best posture was, in plain words."""


def compute(store: Store, selection: Selection) -> dict[str, Any]:
    """Every statistic of the selected sessions, as plain JSON-ready values (None, never NaN).

    {"comparisons": [...], "agreement": {...}, "order_effect": {...}, "warnings": [...]}; see
    `_comparison`, `_agreement` and `_order_effect` for what each part holds.

    The store is read in a worker thread while this one imports scipy (~0.8 s): SQLite lets go
    of the interpreter while it aggregates, so on two cores the import costs no time. numpy is
    imported first, so the two threads never import the same module.
    """
    import numpy as np

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stats-read") as pool:
        reading = pool.submit(_read, store, selection)
        _scipy_stats()
        tests, complete, values, fine, best = reading.result()

    warnings_: list[str] = []
    comparisons: list[dict[str, Any]] = []
    present = [t for t in StressTest if fine.has(t.value)]
    for test in present:
        index = results.TESTS.index(test.value)
        rows = tests == index
        excluded = int(np.count_nonzero(rows & ~complete))
        matched = values[rows & complete]
        for r, rating in enumerate(results.RATINGS):
            columns = [results.POSTURES.index(p) + r * len(results.POSTURES) for p in POSTURE_NAMES]
            comparison = _comparison(test.value, rating, matched[:, columns], excluded)
            comparisons.append(comparison)
            if comparison["warning"]:
                warnings_.append(prefixed(comparison))
    if not present:
        warnings_.append("No rated trials in the selected sessions: nothing to compare.")
    return {
        "comparisons": comparisons,
        "agreement": _agreement(fine, best, present),
        "order_effect": _order_effect(fine, present),
        "warnings": warnings_,
    }


def _read(
    store: Store, selection: Selection
) -> tuple[
    npt.NDArray[np.int8], npt.NDArray[np.bool_], FloatArray, _Grid, list[tuple[str, int, int]]
]:
    """Everything the statistics need from the store: two passes over the trials, aggregated
    by SQLite (about 1.5 s for 600,000 trials), and the rankings."""
    tests, complete, values = _subject_table(store, selection)
    fine = _Grid(results.rating_position_grid(store, selection))
    return tests, complete, values, fine, results.best_posture_agreement(store, selection)


def _scipy_stats() -> Any:
    """scipy.stats, imported where it is used: it takes ~0.8 s, which only `stats` should pay."""
    from scipy import stats  # type: ignore[import-untyped]

    return stats


def _subject_table(
    store: Store, selection: Selection
) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.bool_], FloatArray]:
    """`results.subject_posture_table` as arrays, built batch by batch: the test's index in
    `results.TESTS`, whether all three postures are rated, and the six means (NaN for None)."""
    import numpy as np

    tests, complete, values = [], [], []
    for batch in results.subject_posture_table(store, selection):
        tests.append(np.fromiter((results.TESTS.index(r[0]) for r in batch), np.int8, len(batch)))
        complete.append(np.fromiter((r[1] for r in batch), np.bool_, len(batch)))
        values.append(np.array([r[2] for r in batch], dtype=np.float64))
    width = len(results.RATINGS) * len(results.POSTURES)
    if not tests:
        return np.zeros(0, np.int8), np.zeros(0, np.bool_), np.zeros((0, width))
    return np.concatenate(tests), np.concatenate(complete), np.concatenate(values)


def _finite(value: Any) -> float | None:
    """A float for JSON, or None for NaN, infinity or nothing."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _describe(x: FloatArray) -> dict[str, Any]:
    """n, mean, median and the confidence interval of the mean (None when n < 2)."""
    import numpy as np

    n = int(x.size)
    if n == 0:
        return {"n": 0, "mean": None, "median": None, "ci_low": None, "ci_high": None}
    ci = mean_ci(x)
    return {
        "n": n,
        "mean": ci.mean,
        "median": float(np.median(x)),
        "ci_low": ci.low,
        "ci_high": ci.high,
    }


def _comparison(test: str, rating: str, x: FloatArray, excluded: int) -> dict[str, Any]:
    """One test and rating: the postures described, Friedman with Kendall's W, pairwise Wilcoxon.

    `x` has one row per subject with all three postures, one column per posture. Friedman
    (scipy.stats.friedmanchisquare) needs two subjects at least; with fewer, or when every
    subject gave all three postures the same value (scipy returns NaN: the statistic is 0/0),
    statistic, p and W are None. W = chi2 / (n (k - 1)), from scipy's tie-corrected chi2.
    Each pair gets scipy.stats.wilcoxon(a, b) with its defaults; when every difference is zero
    (nothing to rank) or scipy returns NaN, that pair's statistic and p are None. Holm's
    correction runs over the pairs that have a p-value.
    """
    stats = _scipy_stats()
    n = int(x.shape[0])
    k = len(POSTURE_NAMES)
    friedman: dict[str, float | None] = {"statistic": None, "p": None, "kendall_w": None}
    pairwise: list[dict[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n >= 2:
            try:
                chi2, p = stats.friedmanchisquare(*(x[:, j] for j in range(k)))
            except ValueError:
                chi2 = p = None
            chi2, p = _finite(chi2), _finite(p)
            if chi2 is not None and p is not None:
                friedman = {"statistic": chi2, "p": p, "kendall_w": chi2 / (n * (k - 1))}
        for a, b in PAIRS:
            xa, xb = x[:, POSTURE_NAMES.index(a)], x[:, POSTURE_NAMES.index(b)]
            statistic = p = None
            if n and bool((xa != xb).any()):
                try:
                    found = stats.wilcoxon(xa, xb)
                    statistic, p = _finite(found.statistic), _finite(found.pvalue)
                except ValueError:
                    pass
            if statistic is None or p is None:
                statistic = p = None
            pairwise.append({"a": a, "b": b, "statistic": statistic, "p": p})
    for pair, adjusted in zip(pairwise, holm([pair["p"] for pair in pairwise]), strict=True):
        pair["p_holm"] = adjusted
    return {
        "test": test,
        "rating": rating,
        "n": n,
        "excluded": excluded,
        "postures": {p: _describe(x[:, j]) for j, p in enumerate(POSTURE_NAMES)},
        "friedman": friedman,
        "pairwise": pairwise,
        "warning": _small_sample_warning(n),
    }


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down correction: the i-th smallest of m p-values times (m - i), 0-based,
    then a running maximum so the order is kept, capped at 1. None stays None and does not
    count in m."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted


def _small_sample_warning(n: int) -> str | None:
    if n == 0:
        return "No subject has rated trials of all three postures: nothing to compare."
    if n == 1:
        return "Only 1 subject has all three postures rated: too few for any test."
    if n < MIN_SUBJECTS:
        return (
            f"Only {n} subjects have all three postures rated: with fewer than {MIN_SUBJECTS}, "
            "the Friedman chi-square approximation is unreliable, so read its p-value as rough."
        )
    return None


def label(test: str, rating: str) -> str:
    """'Vertical test, subject ease'."""
    return f"{TESTS[StressTest(test)].label}, {RATING_WORDS[rating][0]}"


def prefixed(comparison: dict[str, Any]) -> str:
    """A comparison's warning, saying which test and rating it is about."""
    return f"{label(comparison['test'], comparison['rating'])}: {comparison['warning']}"


def _spearman(x: Any, y: Any) -> float | None:
    """scipy's Spearman rho, or None where it is undefined (fewer than 2 values, or constant)."""
    stats = _scipy_stats()
    if len(x) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _finite(stats.spearmanr(x, y).statistic)


class _Grid:
    """`results.rating_position_grid` as columns: one entry per combination, with its count."""

    def __init__(self, rows: list[tuple[str, str, int, int, int, int]]) -> None:
        import numpy as np

        self.test = np.array([row[0] for row in rows], dtype=str)
        self.position = np.array([row[2] for row in rows], dtype=np.int64)
        self.ratings = {
            rating: np.array([row[3 + r] for row in rows], dtype=np.int64)
            for r, rating in enumerate(results.RATINGS)
        }
        self.count = np.array([row[5] for row in rows], dtype=np.int64)

    def has(self, test: str) -> bool:
        return bool((self.test == test).any())


def _agreement(
    grid: _Grid, best: list[tuple[str, int, int]], tests: list[StressTest]
) -> dict[str, Any]:
    """Do subject and tester agree?

    `overall` and `by_test`: scipy.stats.spearmanr between subject_ease and tester_stability
    over the rated trials (n of them), the counts of the grid expanded into one value per trial
    with numpy.repeat. No p-value: trials of one subject are not independent, so scipy's p
    would claim more certainty than the data hold. `best_posture`: per test, the sessions in
    which both ranked the postures, how many put the same posture first, and that share.
    """
    import numpy as np

    ease, stability = (grid.ratings[r] for r in results.RATINGS)

    def rho(mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
        counts = grid.count[mask]
        x = np.repeat(ease[mask], counts)
        y = np.repeat(stability[mask], counts)
        return {"n": int(counts.sum()), "rho": _spearman(x, y)}

    ranked = {test: (both, same) for test, both, same in best}
    # A test can be ranked in a session none of whose trials were rated (all stopped, say).
    shown = [*tests, *(StressTest(t) for t in ranked if StressTest(t) not in tests)]
    sessions = {t: ranked.get(t.value, (0, 0)) for t in shown}
    return {
        "overall": rho(np.ones(grid.count.size, dtype=np.bool_)),
        "by_test": [{"test": t.value, **rho(grid.test == t.value)} for t in tests],
        "best_posture": [
            {
                "test": t.value,
                "sessions": both,
                "same": same,
                "share": same / both if both else None,
            }
            for t, (both, same) in sessions.items()
        ],
    }


def _order_effect(grid: _Grid, tests: list[StressTest]) -> dict[str, Any]:
    """Ratings by the trial's position among its test's trials in the session (1 = first).

    `by_position`, per test, rating and position: the mean rating and the number of rated
    trials (the same numbers as `results.order_effect`). `trend`, per test and rating:
    `spearman_rho` is scipy's Spearman rho between position and the mean rating at that
    position (one point per position, unweighted: does the mean rise or fall steadily?);
    `slope` is the least-squares change in rating per position step, fitted to every rated
    trial. Descriptive only, no p-value: trials of one subject are not independent.
    """
    import numpy as np

    by_position: list[dict[str, Any]] = []
    trend: list[dict[str, Any]] = []
    for test in tests:
        mask = grid.test == test.value
        position, count = grid.position[mask], grid.count[mask]
        places = np.unique(position)
        for rating in results.RATINGS:
            value = grid.ratings[rating][mask]
            means = []
            for place in places:
                at = position == place
                n = int(count[at].sum())
                means.append(float(int((value[at] * count[at]).sum())) / n)
                by_position.append(
                    {
                        "test": test.value,
                        "rating": rating,
                        "position": int(place),
                        "mean": means[-1],
                        "n": n,
                    }
                )
            weights = count.astype(np.float64)
            dx = position - np.average(position, weights=weights)
            dy = value - np.average(value, weights=weights)
            spread = float((weights * dx * dx).sum())
            trend.append(
                {
                    "test": test.value,
                    "rating": rating,
                    "spearman_rho": _spearman(places, np.array(means)),
                    "slope": float((weights * dx * dy).sum()) / spread if spread > 0 else None,
                }
            )
    return {"by_position": by_position, "trend": trend}
