"""Charts of the ratings, drawn with matplotlib from the store's SQL aggregates.

The store aggregates (one value per subject and posture, joint counts, means by position), so
a chart of 100,000 sessions reads a few hundred thousand numbers, never one object per trial.
matplotlib is imported inside each function, while the store's query runs in a worker thread:
it costs ~0.5-1 s, and `posturetest --help`, export and the TUI never need it. Figures are
`matplotlib.figure.Figure` objects, never pyplot ones: no global state, no window, safe in a
worker thread.

One module per chart (by_posture: compare, rating_pairs: agreement, over_time: history,
by_position: order, session: one session), on `style` (looks and saving) and `reading` (what
they read from the store).
"""

from posturetest.plots.by_position import order
from posturetest.plots.by_posture import compare
from posturetest.plots.over_time import history
from posturetest.plots.rating_pairs import agreement
from posturetest.plots.reading import subject_values, subjects_per_test
from posturetest.plots.session import draw_session, session_chart
from posturetest.plots.style import (
    FORMATS,
    NO_DATA,
    POSTURE_COLOURS,
    POSTURE_MARKERS,
    chart_format,
    save,
    scale_label,
)

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
