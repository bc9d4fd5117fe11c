"""Summary: both ratings by test and posture, both rankings, and whether the pair agrees."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Label, Static

from posturetest.domain import (
    POSTURES,
    TESTS,
    Outcome,
    Role,
    SessionStatus,
    TestSummary,
    summarise,
)
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.keybar import KeyBar

BAR_WIDTH = 10


def bar(value: float | None) -> Text:
    """A mean on the 0-10 scale as a short bar with its number."""
    if value is None:
        return Text("–", style="dim")
    filled = round(value / 10 * BAR_WIDTH)
    return Text("█" * filled + "░" * (BAR_WIDTH - filled) + f" {value:4.1f}")


def ranking_text(summary: TestSummary, role: Role) -> str:
    order = summary.rankings.get(role)
    if not order:
        return "not ranked"
    return " > ".join(POSTURES[p].label.split(" ")[0] for p in order)


class SummaryScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Home", tooltip="Back to the list of sessions", id="leave"),
        Binding("h", "leave", "Home", show=False),
    ]

    def compose(self) -> ComposeResult:
        session = self.session
        trials = self.store.trials(self.session_id)
        summaries = summarise(trials, self.store.rankings(self.session_id), session.scales)
        yield self.header()
        with VerticalScroll(id="summary"):
            yield Label(self.context_line(), classes="context")
            status = {
                SessionStatus.COMPLETE: "complete",
                SessionStatus.STOPPED: "stopped early",
                SessionStatus.IN_PROGRESS: "in progress",
            }[session.status]
            yield Label(
                f"SESSION SUMMARY · {session.started_at[:10]} · {status}", classes="screen-title"
            )
            if not session.safety_passed:
                yield Static(
                    "No trials were run: the safety check found a reason not to apply pressure.",
                    classes="explain",
                )
            stopped = [t for t in trials if t.outcome is Outcome.STOPPED]
            for summary in summaries:
                yield Static(self._test_table(summary), classes="summary-table")
                yield Static(self._verdict(summary), classes="explain")
            if stopped:
                lines = [
                    f"Trial {t.seq} ({t.test.value}, {t.posture.value}) stopped: "
                    f"{t.stop_reason.value.replace('_', ' ') if t.stop_reason else ''}"
                    for t in stopped
                ]
                yield Static("\n".join(lines), id="stopped-trials", classes="explain")
        yield KeyBar()

    def _test_table(self, summary: TestSummary) -> Table:
        table = Table(title=TESTS[summary.test].label, title_justify="left", expand=False)
        table.add_column("Posture")
        for scale in self.session.scales:
            table.add_column(f"{scale.name.replace('_', ' ')} (mean)")
        table.add_column("trials rated", justify="right")
        for row in summary.postures:
            table.add_row(
                POSTURES[row.posture].label,
                *[bar(row.means[s.name]) for s in self.session.scales],
                str(row.n_rated),
            )
        return table

    def _verdict(self, summary: TestSummary) -> str:
        lines = [
            f"Tester's ranking (most stable first): {ranking_text(summary, Role.TESTER)}",
            f"Subject's ranking (easiest first):    {ranking_text(summary, Role.SUBJECT)}",
        ]
        agree = summary.agree_on_best
        if agree is True:
            best = summary.best_by_rank(Role.TESTER)
            assert best is not None
            lines.append(f"They agree: {POSTURES[best].label.lower()} held best.")
        elif agree is False:
            lines.append("They disagree on which posture held best.")
        return "\n".join(lines)
