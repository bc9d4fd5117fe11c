"""Statistics of a study: `compute` gives the numbers as JSON-ready values, `format_text` and
`sentence` put them in words; `mean_ci` (the mean and its CONFIDENCE interval) is shared with
the charts."""

from posturetest.stats.compute import MIN_SUBJECTS, PAIRS, POSTURE_NAMES, compute, holm
from posturetest.stats.interval import CONFIDENCE, MeanCI, mean_ci, t_quantile
from posturetest.stats.text import ALPHA, format_text, sentence

__all__ = [
    "ALPHA",
    "CONFIDENCE",
    "MIN_SUBJECTS",
    "PAIRS",
    "POSTURE_NAMES",
    "MeanCI",
    "compute",
    "format_text",
    "holm",
    "mean_ci",
    "sentence",
    "t_quantile",
]
