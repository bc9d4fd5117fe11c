"""How every chart looks and is written: colours, markers, figure set-up, axes, labels, saving.

matplotlib is imported inside the functions (see the package's docstring).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from posturetest.domain import POSTURE_COLOURS, TESTS, Posture, StressTest
from posturetest.domain.scales import Scale

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "FORMATS",
    "GRID",
    "INK",
    "NO_DATA",
    "POSTURE_COLOURS",
    "POSTURE_MARKERS",
    "chart_format",
    "figure",
    "no_data",
    "plural",
    "rating_axis",
    "save",
    "scale_label",
    "signed",
    "subjects_phrase",
    "tests_present",
    "tidy",
]

FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
"""File suffix -> the format matplotlib writes."""

POSTURE_MARKERS: dict[Posture, str] = {
    Posture.LIGAMENT: "o",
    Posture.MUSCLE: "s",
    Posture.SKELETON: "^",
}
"""A marker shape per posture, so lines can be told apart without colour too."""

NO_DATA = "No rated trials match."
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


def signed(value: float) -> str:
    """'+0.3', '-1.2', and '0.0' rather than '-0.0'."""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def subjects_phrase(counts: dict[StressTest, int]) -> str:
    """'12 subjects', or per test when the tests were done by different numbers of subjects."""
    numbers = set(counts.values())
    if len(numbers) == 1:
        return plural(numbers.pop(), "subject")
    return " and ".join(
        f"{plural(n, 'subject')} ({TESTS[t].label.lower()})" for t, n in counts.items()
    )


def tests_present(tests: Sequence[str]) -> list[StressTest]:
    """The tests named in `tests`, in the protocol's order."""
    present = set(tests)
    return [t for t in StressTest if t.value in present]


def figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def no_data(title: str) -> Figure:
    """A chart that says nothing matched, instead of empty axes."""
    fig = figure(8, 3.5)
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


def tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.set_axisbelow(True)


def rating_axis(ax: Axes, scale: Scale, axis: str = "y") -> None:
    """The scale's range with every whole number marked."""
    limits = (scale.minimum - 0.5, scale.maximum + 0.5)
    if axis == "y":
        ax.set_ylim(*limits)
        ax.set_yticks(scale.values)
        ax.grid(axis="y", color=GRID, linewidth=0.6)
    else:
        ax.set_xlim(*limits)
        ax.set_xticks(scale.values)
        ax.grid(axis="x", color=GRID, linewidth=0.6)
