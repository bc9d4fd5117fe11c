"""What the charts read from the store, and reading it while matplotlib is imported."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from posturetest.domain import Posture, StressTest
from posturetest.store import results

if TYPE_CHECKING:
    import numpy as np

    from posturetest.store import Store
    from posturetest.store.selection import Selection

T = TypeVar("T")


def read_while_importing(read: Callable[[], T], *, scipy: bool = False) -> T:
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
