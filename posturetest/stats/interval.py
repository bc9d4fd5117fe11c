"""The mean and its confidence interval, defined once for the statistics and the charts.

numpy arrays come in, but nothing heavy is imported here until `t_quantile` is called.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

CONFIDENCE = 0.95
"""The level of every confidence interval: in `stats`, its text and JSON, and the charts."""


class MeanCI(NamedTuple):
    """A mean and the half-width of its t-interval (None below two values)."""

    mean: float
    half: float | None

    @property
    def low(self) -> float | None:
        return None if self.half is None else self.mean - self.half

    @property
    def high(self) -> float | None:
        return None if self.half is None else self.mean + self.half


def t_quantile(df: int) -> float:
    """The two-sided CONFIDENCE quantile of Student's t with `df` degrees of freedom.

    scipy.special loads in a third of the time of scipy.stats (0.3 s against 0.9 s), which the
    charts would pay, and gives the same numbers (scipy.stats.t.ppf calls stdtrit). Imported by
    name because scipy ships no type hints.
    """
    special = importlib.import_module("scipy.special")
    return float(special.stdtrit(df, 0.5 + CONFIDENCE / 2))


def mean_ci(values: npt.NDArray[np.float64]) -> MeanCI:
    """The mean of `values` (one at least, no NaN) with its CONFIDENCE t-interval."""
    n = int(values.size)
    if n == 0:
        raise ValueError("the mean of no values")
    mean = float(values.mean())
    if n < 2:
        return MeanCI(mean, None)
    return MeanCI(mean, t_quantile(n - 1) * float(values.std(ddof=1)) / n**0.5)
