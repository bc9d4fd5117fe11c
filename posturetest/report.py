"""The one-page session report (PDF) to hand to the subject after a session.

Plain words for the person who was tested: who, when, the ratings, the chart, both rankings and
which posture held best, and a clear note that none of this is a diagnosis. matplotlib is
imported inside the functions, as everywhere outside `plots`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from posturetest import __version__
from posturetest.domain import (
    POSITION_LABELS,
    POSTURE_COLOURS,
    POSTURES,
    SESSION_STATUS_LABELS,
    STOP_REASON_LABELS,
    TESTS,
    Outcome,
    Posture,
    Role,
    Session,
    SessionStatus,
    StressTest,
    StressTestSummary,
    Trial,
    summarise,
)
from posturetest.store import results

if TYPE_CHECKING:
    from matplotlib.figure import Figure, SubFigure
    from matplotlib.typing import ColorType

    from posturetest.store import Store

PAGE = (8.27, 11.69)
"""A4 portrait, in inches."""
MARGIN = 0.7
FOOTER = 0.6
"""Room kept at the bottom of the page for the footer line."""
INK = "#222222"
TEXT_WIDTH = 92
"""Characters per line of body text at 10 pt across the page."""

DISCLAIMER = (
    "Please note: this is not a diagnosis. These tests show how steadily you held three "
    "postures under a gentle push on one day, as you and your tester felt it. They cannot find "
    "or rule out any condition, and they do not replace a clinician. If you have pain, or "
    "questions about your back or your posture, please talk to a doctor or a physiotherapist."
)


UNFINISHED = {
    SessionStatus.IN_PROGRESS: "The session is not finished yet: this is how things stood so far.",
    SessionStatus.STOPPED: "The session was stopped early, so some postures may have fewer "
    "ratings than planned.",
}


@dataclass(frozen=True)
class PostureResult:
    posture: Posture
    ease: float | None
    stability: float | None
    rated: int
    planned: int


def _posture_name(posture: Posture) -> str:
    """'the skeleton type', for the middle of a sentence."""
    return "the " + POSTURES[posture].label.lower()


def _names(postures: Sequence[Posture]) -> str:
    """'the muscle type', 'the muscle and skeleton types'."""
    words = [POSTURES[p].label.lower().removesuffix(" type") for p in postures]
    if len(words) == 1:
        return f"the {words[0]} type"
    return "the " + ", ".join(words[:-1]) + f" and {words[-1]} types"


def _top(values: dict[Posture, float | None]) -> list[Posture]:
    """The posture(s) with the highest mean (ties kept), none if nothing was rated."""
    known = {p: v for p, v in values.items() if v is not None}
    if not known:
        return []
    best = max(known.values())
    return [p for p, v in known.items() if abs(v - best) < 1e-9]


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".removesuffix(".0")


def when(started_at: str) -> str:
    """'24 November 2026, 09:15 UTC' from an ISO 8601 UTC time."""
    try:
        moment = datetime.strptime(started_at, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return started_at
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def summary_sentence(
    test: StressTest, summary: StressTestSummary | None, means: list[PostureResult]
) -> str:
    """Which posture held best in one test, in plain words, from both rankings and the means."""
    label = TESTS[test].label
    if not any(m.rated for m in means):
        return f"{label}: no trial was rated, so there is nothing to compare."
    by_ease = _top({m.posture: m.ease for m in means})
    by_stability = _top({m.posture: m.stability for m in means})
    subject = summary.best_by_rank(Role.SUBJECT) if summary else None
    tester = summary.best_by_rank(Role.TESTER) if summary else None
    if subject is not None and tester is not None:
        if subject is tester:
            text = (
                f"{label}: {_posture_name(subject)} held best. You found it the easiest to keep, "
                "and your tester saw it as the most stable."
            )
        else:
            text = (
                f"{label}: you found {_posture_name(subject)} the easiest to keep, while your "
                f"tester saw {_posture_name(tester)} as the most stable."
            )
        if by_ease == by_stability == [subject] == [tester]:
            return text + " The ratings after each trial say the same."
        return (
            text
            + f" By the ratings, {_names(by_ease)} scored highest for ease and "
            + (f"{_names(by_stability)} for stability.")
        )
    rated = [m.posture for m in means if m.rated]
    if by_ease == by_stability == rated and len(rated) > 1:
        return (
            f"{label}: {_names(rated)} got the same ratings, so by the numbers none held "
            "better than the others."
        )
    if by_ease == by_stability:
        return (
            f"{label}: by the ratings, {_names(by_ease)} held best: the easiest for you and "
            "the most stable for your tester."
        )
    return (
        f"{label}: by the ratings, {_names(by_ease)} felt the easiest to you, and "
        f"{_names(by_stability)} looked the most stable to your tester."
    )


def _results(
    store: Store, session_id: str, trials: Sequence[Trial]
) -> tuple[
    list[tuple[str, str, float | None, float | None, int]], dict[StressTest, list[PostureResult]]
]:
    rows = results.session_posture_means(store, session_id)
    means = {(StressTest(t), Posture(p)): (e, s, n) for t, p, e, s, n in rows}
    planned: dict[tuple[StressTest, Posture], int] = {}
    for trial in trials:
        planned[(trial.test, trial.posture)] = planned.get((trial.test, trial.posture), 0) + 1
    tests = [t for t in StressTest if any(k[0] is t for k in planned)]
    by_test = {
        test: [
            PostureResult(p, *means.get((test, p), (None, None, 0)), planned.get((test, p), 0))
            for p in Posture
        ]
        for test in tests
    }
    return list(rows), by_test


def _stopped(trials: Sequence[Trial]) -> str:
    stopped = [t for t in trials if t.outcome is Outcome.STOPPED]
    if not stopped:
        return ""
    items = [
        f"{TESTS[t.test].label.lower()}, {POSTURES[t.posture].label.lower()}"
        + (f" ({STOP_REASON_LABELS[t.stop_reason].lower()})" if t.stop_reason else "")
        for t in stopped
    ]
    trials_word = "trial was" if len(stopped) == 1 else "trials were"
    return f"{len(stopped)} {trials_word} stopped, and that is fine: " + "; ".join(items) + "."


def build_report(store: Store, session_id: str) -> Figure:
    """The report page as a figure (RecordError if there is no such session)."""
    from matplotlib.figure import Figure

    from posturetest.plots import draw_session

    session = store.session(session_id)
    trials = store.trials(session_id)
    summaries = {s.test: s for s in summarise(trials, store.rankings(session_id), session.scales)}
    rows, by_test = _results(store, session_id, trials)

    fig = Figure(figsize=PAGE)
    page = _Page(fig)
    page.text("Your posture stress test", size=20, weight="bold")
    page.text("A short report of one session, to take home", size=10, colour="#666666")
    page.gap(0.12)
    page.facts(_facts(session))
    page.gap(0.15)
    page.heading("Your ratings")
    page.ratings(by_test)
    if note := _stopped(trials):
        page.text(note, size=9, colour="#444444")

    dry = _Page(None)
    _conclusions(dry, by_test, summaries, session.status)
    room = PAGE[1] - page.y - (dry.y - MARGIN) - FOOTER
    page.heading("Mean ratings by posture")
    chart = page.area(min(max(room - 0.45, 2.0), 3.4))
    draw_session(chart, rows, "", compact=True)
    page.gap(0.1)
    _conclusions(page, by_test, summaries, session.status)
    fig.text(
        MARGIN / PAGE[0],
        0.4 / PAGE[1],
        f"posturetest {__version__} · protocol {session.protocol_version} · session {session_id}",
        fontsize=7,
        color="#888888",
    )
    return fig


def _conclusions(
    page: _Page,
    by_test: dict[StressTest, list[PostureResult]],
    summaries: dict[StressTest, StressTestSummary],
    status: SessionStatus,
) -> None:
    """Everything below the chart: both rankings, the plain summary and the note."""
    page.heading("How you each ranked the postures")
    page.rankings([(test, summaries.get(test)) for test in by_test])
    page.gap(0.08)
    page.heading("In short")
    for test, means in by_test.items():
        page.text(summary_sentence(test, summaries.get(test), means), size=10)
        page.gap(0.03)
    if status in UNFINISHED:
        page.text(UNFINISHED[status], size=10)
        page.gap(0.03)
    page.gap(0.08)
    page.note(DISCLAIMER)


def _facts(session: Session) -> list[tuple[str, str]]:
    tests = [TESTS[t].label.removesuffix(" test").lower() for t in session.tests]
    return [
        ("Subject", session.subject),
        ("Tester", session.tester or "not recorded"),
        ("Date", when(session.started_at)),
        ("Position", POSITION_LABELS[session.position]),
        ("Tests", (" and ".join(tests) + (" test" if len(tests) == 1 else " tests")).capitalize()),
        ("Session", SESSION_STATUS_LABELS[session.status]),
    ]


class _Page:
    """Text, tables and a chart laid out top to bottom, in inches from the top of the page.

    Without a figure it only measures, so the chart can take the room the rest leaves.
    """

    def __init__(self, fig: Figure | None) -> None:
        self.fig = fig
        self.y = MARGIN

    @staticmethod
    def _x(inches: float) -> float:
        return inches / PAGE[0]

    @staticmethod
    def _y(inches: float) -> float:
        return 1 - inches / PAGE[1]

    def gap(self, inches: float) -> None:
        self.y += inches

    def text(
        self, text: str, *, size: float = 10, weight: str = "normal", colour: str = INK
    ) -> None:
        lines = textwrap.wrap(text, int(TEXT_WIDTH * 10 / size)) or [""]
        if self.fig is not None:
            self.fig.text(
                self._x(MARGIN),
                self._y(self.y),
                "\n".join(lines),
                fontsize=size,
                fontweight=weight,
                color=colour,
                va="top",
                linespacing=1.35,
            )
        self.y += len(lines) * size * 1.35 / 72 + 0.04

    def heading(self, text: str) -> None:
        self.text(text, size=12.5, weight="bold")
        self.gap(0.02)

    def facts(self, facts: list[tuple[str, str]]) -> None:
        """Two columns of 'label value' pairs."""
        half = (len(facts) + 1) // 2
        top = self.y
        for column, chunk in enumerate((facts[:half], facts[half:])):
            x = MARGIN + column * (PAGE[0] - 2 * MARGIN) / 2
            for row, (label, value) in enumerate(chunk):
                if self.fig is None:
                    continue
                y = self._y(top + row * 0.24)
                self.fig.text(self._x(x), y, label, fontsize=9.5, color="#666666", va="top")
                self.fig.text(self._x(x + 0.85), y, value, fontsize=10, fontweight="bold", va="top")
        self.y = top + half * 0.24

    def area(self, height: float) -> SubFigure:
        """A subfigure across the page, `height` inches tall, at the current place."""
        assert self.fig is not None
        grid = self.fig.add_gridspec(
            3, 1, height_ratios=[self.y, height, PAGE[1] - self.y - height]
        )
        sub = self.fig.add_subfigure(grid[1])
        sub.subplots_adjust(
            left=(MARGIN + 0.4) / PAGE[0],
            right=1 - MARGIN / PAGE[0],
            bottom=0.35 / height,
            top=1 - 0.62 / height,
            wspace=0.08,
        )
        self.y += height
        return sub

    def table(
        self,
        header: list[str],
        cells: list[list[str]],
        widths: list[float],
        tints: list[list[ColorType]] | None = None,
        size: float = 9.5,
    ) -> None:
        from matplotlib.transforms import Bbox

        row_height = 0.22
        height = row_height * (len(cells) + 1)
        if self.fig is not None:
            ax = self.fig.add_axes(
                (
                    self._x(MARGIN),
                    self._y(self.y + height),
                    self._x(PAGE[0] - 2 * MARGIN),
                    height / PAGE[1],
                )
            )
            ax.set_axis_off()
            table = ax.table(
                cellText=cells or [[""] * len(header)],
                cellColours=tints or None,
                colLabels=header,
                colWidths=widths,
                cellLoc="center",
                bbox=Bbox.from_bounds(0, 0, 1, 1),
            )
            table.auto_set_font_size(False)
            table.set_fontsize(size)
            for (row, _col), cell in table.get_celld().items():
                cell.set_edgecolor("#cccccc")
                cell.set_linewidth(0.6)
                if row == 0:
                    cell.set_text_props(fontweight="bold")
                    cell.set_facecolor("#f0f0f0")
        self.y += height + 0.08

    def ratings(self, by_test: dict[StressTest, list[PostureResult]]) -> None:
        from matplotlib.colors import to_rgba

        cells: list[list[str]] = []
        tints: list[list[ColorType]] = []
        for test, rows in by_test.items():
            for i, r in enumerate(rows):
                cells.append(
                    [
                        TESTS[test].label if i == 0 else "",
                        POSTURES[r.posture].label,
                        _number(r.ease),
                        _number(r.stability),
                        f"{r.rated} of {r.planned}",
                    ]
                )
                tint = to_rgba(POSTURE_COLOURS[r.posture], 0.25)
                tints.append(["white", tint, "white", "white", "white"])
        self.table(
            ["Test", "Posture", "You: ease", "Tester: stability", "Trials rated"],
            cells,
            [0.2, 0.22, 0.18, 0.22, 0.18],
            tints,
        )
        self.text(
            "Each rating is 0 to 10, the mean of the rated trials. For you, 0 = could not hold "
            "it and 10 = effortless; for your tester, 0 = collapsed and 10 = rock steady.",
            size=8.5,
            colour="#555555",
        )

    def rankings(self, tests: list[tuple[StressTest, StressTestSummary | None]]) -> None:
        cells = []
        for test, summary in tests:
            orders = [summary.rankings.get(role) if summary else None for role in RANK_ROLES]
            agree = summary.agree_on_best if summary else None
            cells.append(
                [
                    TESTS[test].label,
                    *(_ranked(order) for order in orders),
                    "–" if agree is None else ("yes" if agree else "no"),
                ]
            )
        self.table(
            ["Test", "You: easiest first", "Tester: most stable first", "Same best?"],
            cells,
            [0.16, 0.35, 0.35, 0.14],
            size=9,
        )

    def note(self, text: str) -> None:
        from matplotlib.patches import FancyBboxPatch

        lines = textwrap.wrap(text, TEXT_WIDTH + 4)
        height = len(lines) * 9.5 * 1.35 / 72 + 0.24
        if self.fig is not None:
            self.fig.patches.append(
                FancyBboxPatch(
                    (self._x(MARGIN), self._y(self.y + height)),
                    self._x(PAGE[0] - 2 * MARGIN),
                    height / PAGE[1],
                    boxstyle="round,pad=0.004",
                    facecolor="#fff6e0",
                    edgecolor="#e69f00",
                    linewidth=1,
                    transform=self.fig.transFigure,
                    figure=self.fig,
                )
            )
            self.fig.text(
                self._x(MARGIN + 0.15),
                self._y(self.y + 0.12),
                "\n".join(lines),
                fontsize=9.5,
                va="top",
                linespacing=1.35,
            )
        self.y += height


RANK_ROLES = (Role.SUBJECT, Role.TESTER)


def _ranked(order: tuple[Posture, ...] | None) -> str:
    if not order:
        return "not ranked"
    return "  ".join(
        f"{rank} {POSTURES[p].label.removesuffix(' type')}" for rank, p in enumerate(order, 1)
    )


def write_report(store: Store, session_id: str, path: Path) -> None:
    """Write the one-page report as a PDF (ValueError for another suffix, RecordError for an
    unknown session), whole or not at all."""
    from posturetest.plots import save

    path = Path(path)
    if path.suffix.lower() != ".pdf":
        raise ValueError(f"{path.name}: the report is written as a .pdf file")
    fig = build_report(store, session_id)
    session = store.session(session_id)
    save(
        fig,
        path,
        metadata={
            "Title": f"Posture stress test: {session.subject}, {session.started_at[:10]}",
            "Subject": "Session report (not a diagnosis)",
        },
    )
