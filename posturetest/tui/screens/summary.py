"""Summary: both ratings by test and posture, both rankings, and whether the pair agrees."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import ClassVar

from rich import box
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Label, Static

from posturetest.domain import (
    POSTURES,
    SESSION_STATUS_LABELS,
    TESTS,
    Outcome,
    Posture,
    Role,
    Session,
    StressTestSummary,
    summarise,
)
from posturetest.domain.session import PostureSummary
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.chart import ComparisonChart
from posturetest.tui.widgets.keybar import KeyBar

SCALE_SHORT = {
    "tester_stability": "stability",
    "subject_ease": "ease",
    "discomfort": "discomfort",
    "tester_effort": "effort",
}
"""Column heads short enough for two tests' columns side by side at 80 columns."""


def mean_cell(value: float | None) -> Text:
    """A mean for the table (the chart above draws it)."""
    if value is None:
        return Text("–", style="dim")
    return Text(f"{value:.1f}", justify="right")


def ranking_text(summary: StressTestSummary, role: Role) -> str:
    order = summary.rankings.get(role)
    if not order:
        return "not ranked"
    return " > ".join(POSTURES[p].label.split(" ")[0] for p in order)


def output_name(session: Session, kind: str, suffix: str) -> Path:
    """Where a saved file goes: the folder the app was started from, named so it sorts."""
    folder = Path(os.environ.get("POSTURETEST_OUTPUT_DIR") or Path.cwd())
    return (
        folder
        / f"{session.subject}_{session.started_at[:10]}_{session.session_id[:8]}_{kind}{suffix}"
    )


class SummaryScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "c",
            "save_chart",
            "Save chart",
            tooltip="Save the comparison as a PNG image",
            id="save-chart",
        ),
        Binding(
            "r",
            "save_report",
            "Save report",
            tooltip="Save a one-page PDF report to hand to the subject",
            id="save-report",
        ),
        Binding(
            "e",
            "save_export",
            "Export CSV",
            tooltip="Save this session's trials as CSV (the interchange format)",
            id="save-export",
        ),
        Binding("escape", "leave", "Home", tooltip="Back to the list of sessions", id="leave"),
        Binding("h", "leave", "Home", show=False, id="summary-home"),
    ]

    def action_save_chart(self) -> None:
        self._save("chart", ".png")

    def action_save_report(self) -> None:
        self._save("report", ".pdf")

    def action_save_export(self) -> None:
        self._save("trials", ".csv")

    def _save(self, kind: str, suffix: str) -> None:
        target = output_name(self.session, kind, suffix)
        self.notify(f"Saving {target.name}...", timeout=2)
        self.run_worker(
            partial(self._write, kind, target), thread=True, group="save", name=f"save-{kind}"
        )

    def _write(self, kind: str, target: Path) -> None:
        """In a worker thread: matplotlib and the report take a second or two."""
        from posturetest.outputs import atomic_text, check_file

        try:
            check_file(target)
            with self.worker_store() as store:
                if kind == "chart":
                    from posturetest import plots

                    plots.save(plots.session_chart(store, self.session_id), target)
                elif kind == "report":
                    from posturetest.report import write_report

                    write_report(store, self.session_id, target)
                else:
                    from posturetest.export import write_csv
                    from posturetest.store.selection import Selection

                    with atomic_text(target) as out:
                        write_csv(store, Selection(session_ids=(self.session_id,)), out)
        except Exception as e:  # any failure becomes a notice, never a crash
            self.app.call_from_thread(
                self.notify, f"Could not save {target.name}: {e}", severity="error", timeout=10
            )
            return
        self.app.call_from_thread(self.notify, f"Saved {target}", timeout=8)

    def compose(self) -> ComposeResult:
        session = self.session
        trials = self.store.trials(self.session_id)
        summaries = summarise(trials, self.store.rankings(self.session_id), session.scales)
        yield self.header()
        with Vertical(id="summary"):
            yield Label(self.context_line(), classes="context")
            status = SESSION_STATUS_LABELS[session.status]
            yield Label(
                f"SESSION SUMMARY · {session.started_at[:10]} · {status}", classes="screen-title"
            )
            if not session.safety_passed:
                yield Static(
                    "No trials were run: the safety check found a reason not to apply pressure.",
                    classes="explain",
                )
            if any(row.n_rated for s in summaries for row in s.postures):
                yield ComparisonChart(summaries, id="comparison")
            if summaries:
                yield Static(self._table(summaries), id="summary-table")
                yield Static("\n".join(self._verdict(s) for s in summaries), id="summary-rankings")
            stopped = [t for t in trials if t.outcome is Outcome.STOPPED]
            if stopped:
                lines = [
                    f"Trial {t.seq} ({t.test.value}, {t.posture.value}) stopped: "
                    f"{t.stop_reason.value.replace('_', ' ') if t.stop_reason else ''}"
                    for t in stopped
                ]
                yield Static("; ".join(lines), id="stopped-trials")
        yield KeyBar()

    def _table(self, summaries: list[StressTestSummary]) -> Table:
        """One table for every test: a column per test and posture; rows for the mean of each
        scale, the trials rated and both rankings (fits 80 columns with both tests)."""
        table = Table(
            box=box.SIMPLE_HEAD, expand=False, padding=(0, 1), pad_edge=False, show_edge=False
        )
        table.add_column("mean of")
        columns: list[tuple[StressTestSummary, Posture]] = []
        for summary in summaries:
            for i, row in enumerate(summary.postures):
                head = TESTS[summary.test].label.split()[0] if i == 0 else ""
                table.add_column(
                    f"{head}\n{POSTURES[row.posture].label.split()[0]}", justify="right"
                )
                columns.append((summary, row.posture))

        def posture_row(summary: StressTestSummary, posture: Posture) -> PostureSummary:
            return next(r for r in summary.postures if r.posture is posture)

        for scale in self.session.scales:
            table.add_row(
                SCALE_SHORT[scale.name],
                *[mean_cell(posture_row(s, p).means[scale.name]) for s, p in columns],
            )
        table.add_row("trials rated", *[str(posture_row(s, p).n_rated) for s, p in columns])
        for role, label in ((Role.TESTER, "tester rank"), (Role.SUBJECT, "subject rank")):
            cells = []
            for summary, posture in columns:
                order = summary.rankings.get(role) or ()
                cells.append(str(order.index(posture) + 1) if posture in order else "–")
            table.add_row(label, *cells)
        return table

    def _verdict(self, summary: StressTestSummary) -> str:
        test = TESTS[summary.test].label
        agree = summary.agree_on_best
        if agree is True:
            best = summary.best_by_rank(Role.TESTER)
            assert best is not None
            return f"{test}: tester and subject agree, {POSTURES[best].label.lower()} held best."
        if agree is False:
            return f"{test}: tester and subject disagree on which posture held best."
        return (
            f"{test}: not ranked by both (1 = most stable for the tester, easiest for the subject)."
        )
