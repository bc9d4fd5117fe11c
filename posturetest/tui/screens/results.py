"""Results: the statistics over all complete sessions, or one subject's history."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Input, Label, Static

from posturetest.tui.screens.base import AppScreen
from posturetest.tui.widgets.fields import FieldInput
from posturetest.tui.widgets.keybar import KeyBar


class ResultsScreen(AppScreen):
    AUTO_FOCUS = "#results"
    """The statistics have focus (arrows scroll them), so a and / work as keys at once."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "find",
            "Subject",
            key_display="/",
            tooltip="Show one subject's sessions over time",
            id="results-subject",
        ),
        Binding(
            "a",
            "show_all",
            "All subjects",
            tooltip="Statistics over all complete sessions",
            id="results-all",
        ),
        Binding(
            "escape",
            "app.pop_screen",
            "Home",
            tooltip="Back to the list of sessions",
            id="results-home",
        ),
    ]

    def compose(self) -> ComposeResult:
        yield self.header()
        with Horizontal(id="results-bar"):
            yield Label("Results", id="results-title", classes="screen-title")
            yield FieldInput(
                placeholder="subject code for their history  (/)",
                id="results-subject",
            )
        with VerticalScroll(id="results"):
            yield Static("Computing the statistics...", id="results-body")
        yield KeyBar()

    def on_mount(self) -> None:
        self.action_show_all()

    def action_find(self) -> None:
        self.query_one("#results-subject", Input).focus()

    def action_show_all(self) -> None:
        self.query_one("#results-body", Static).update("Computing the statistics...")
        self._compute_all()

    @on(Input.Submitted, "#results-subject")
    def _subject_submitted(self, event: Input.Submitted) -> None:
        code = event.value.strip()
        if code:
            self.query_one("#results-body", Static).update(f"Loading {code}...")
            self._load_history(code)

    @work(thread=True, exclusive=True, group="results")
    def _compute_all(self) -> None:
        try:
            from posturetest import stats
            from posturetest.store.selection import Selection

            with self.worker_store() as store:
                text = stats.format_text(stats.compute(store, Selection(complete_only=True)))
        except Exception as e:  # a failure becomes a message on screen, never a crash
            text = f"Could not compute the statistics: {e}"
        self.app.call_from_thread(self._show, text)

    @work(thread=True, exclusive=True, group="results")
    def _load_history(self, code: str) -> None:
        try:
            from posturetest.store.results import subject_history

            with self.worker_store() as store:
                rows = subject_history(store, code)
        except Exception as e:  # a failure becomes a message on screen, never a crash
            self.app.call_from_thread(self._show, f"Could not load {code}: {e}")
            return
        if not rows:
            self.app.call_from_thread(self._show, f"No rated trials for subject {code}.")
            return
        table = Table(title=f"Subject {code}: mean ratings per session", title_justify="left")
        for column in (
            "started (UTC)",
            "test",
            "posture",
            "subject ease",
            "tester stability",
            "trials rated",
        ):
            table.add_column(column)
        for _sid, started, test, posture, ease, stability, n in rows:
            table.add_row(
                started.replace("T", " ").removesuffix("Z"),
                test,
                posture,
                "–" if ease is None else f"{ease:.1f}",
                "–" if stability is None else f"{stability:.1f}",
                str(n),
            )
        self.app.call_from_thread(self._show, table)

    def _show(self, body: object) -> None:
        self.query_one("#results-body", Static).update(body)  # type: ignore[arg-type]
