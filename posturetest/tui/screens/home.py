"""Home: recent sessions a page at a time, find by subject, start or resume a session."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.widgets import DataTable, Input, Label, Static

from posturetest.domain import SESSION_STATUS_LABELS, SessionStatus
from posturetest.store import RecordError, SessionRow, StoreError
from posturetest.tui.screens.base import AppScreen
from posturetest.tui.widgets.fields import FieldInput
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.session_table import SessionTable

PAGE_SIZE = 20


def status_label(row: SessionRow) -> str:
    return "discarded" if row.end_reason == "discarded" else SESSION_STATUS_LABELS[row.status]


def trials_cell(row: SessionRow) -> str:
    """Rated trials of all, with stopped and skipped ones apart ("0 of 6, 6 skipped" for a
    session that ended at the safety check)."""
    parts = [f"{row.rated} of {row.total}"]
    if row.stopped:
        parts.append(f"{row.stopped} stopped")
    if row.skipped:
        parts.append(f"{row.skipped} skipped")
    return ", ".join(parts)


class HomeScreen(AppScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new_session", "New session", tooltip="Set up a new session", id="new"),
        Binding(
            "enter",
            "open_session",
            "Open",
            tooltip="Resume the session, or see its summary",
            id="open",
        ),
        Binding(
            "r",
            "resume_latest",
            "Resume",
            tooltip="Resume the newest unfinished session",
            id="resume",
        ),
        Binding(
            "slash",
            "find",
            "Find",
            key_display="/",
            tooltip="Find sessions by subject code",
            id="find",
        ),
        Binding(
            "pagedown",
            "next_page",
            "Older",
            key_display="PgDn",
            tooltip="Older sessions",
            id="older",
            priority=True,
        ),
        Binding(
            "pageup",
            "previous_page",
            "Newer",
            key_display="PgUp",
            tooltip="Newer sessions",
            id="newer",
            priority=True,
        ),
        Binding(
            "s",
            "results",
            "Results",
            tooltip="Statistics over all complete sessions, or one subject's history",
            id="results",
        ),
        Binding(
            "d",
            "discard",
            "Discard",
            tooltip="Discard an unfinished session started by mistake (kept, marked discarded)",
            id="discard",
        ),
        Binding("q", "app.quit", "Quit", tooltip="Leave the app", id="home-quit", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._cursors: list[tuple[str, str] | None] = [None]
        """Keyset cursors of the pages seen so far: page k starts before _cursors[k]."""
        self._rows: list[SessionRow] = []
        self._subject = ""
        self._has_more = False

    def compose(self) -> ComposeResult:
        yield self.header()
        with Horizontal(id="home-bar"):
            yield Label("Recent sessions", id="home-title")
            yield FieldInput(placeholder="find subject code  (/)", id="find")
        yield SessionTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("", id="home-empty")
        yield Label("", id="page-label")
        yield KeyBar()

    def on_mount(self) -> None:
        table = self.query_one("#sessions", DataTable)
        table.add_columns("Started (UTC)", "Subject", "Position", "Status", "Trials rated")
        self.reload()
        table.focus()

    # -- loading ------------------------------------------------------------------------------

    def reload(self) -> None:
        """Back to the first page (after a session changed)."""
        self._cursors = [None]
        self._load_page()

    def _load_page(self) -> None:
        rows = self.store.recent_sessions(
            limit=PAGE_SIZE + 1, before=self._cursors[-1], subject_prefix=self._subject
        )
        self._has_more = len(rows) > PAGE_SIZE
        self._rows = rows[:PAGE_SIZE]
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for row in self._rows:
            table.add_row(
                row.started_at.replace("T", " ")[:16],
                row.subject,
                row.position.value,
                status_label(row),
                trials_cell(row),
                key=row.session_id,
            )
        empty = self.query_one("#home-empty", Static)
        if self._rows:
            empty.update("")
            empty.display = False
        else:
            empty.display = True
            empty.update(
                f"No sessions for subject codes starting {self._subject!r}."
                if self._subject
                else "No sessions yet. Press n to set up the first one."
            )
        page = len(self._cursors)
        more = "  PgDn: older" if self._has_more else ""
        newer = "  PgUp: newer" if page > 1 else ""
        self.query_one("#page-label", Label).update(f"Page {page}{newer}{more}")

    # -- actions ------------------------------------------------------------------------------

    def action_next_page(self) -> None:
        if self._has_more and self._rows:
            self._cursors.append(self._rows[-1].cursor)
            self._load_page()

    def action_previous_page(self) -> None:
        if len(self._cursors) > 1:
            self._cursors.pop()
            self._load_page()

    def action_find(self) -> None:
        self.query_one("#find", Input).focus()

    @on(Input.Changed, "#find")
    def _find_changed(self, event: Input.Changed) -> None:
        self._subject = event.value.strip()
        self.reload()

    def action_results(self) -> None:
        from posturetest.tui.screens.results import ResultsScreen

        self.app.push_screen(ResultsScreen())

    def action_new_session(self) -> None:
        from posturetest.tui.screens.setup import SetupScreen

        self.app.push_screen(SetupScreen())

    @on(Input.Submitted, "#find")
    def _find_submitted(self) -> None:
        self.query_one("#sessions", DataTable).focus()

    @on(DataTable.RowSelected, "#sessions")
    def _row_selected(self) -> None:
        self.action_open_session()

    def _selected(self) -> SessionRow | None:
        table = self.query_one("#sessions", DataTable)
        if not self._rows or table.cursor_row is None:
            return None
        return self._rows[min(table.cursor_row, len(self._rows) - 1)]

    def action_open_session(self) -> None:
        row = self._selected()
        if row is None:
            self.notify("No session selected. Press n to start one.", severity="warning")
            return
        self.posture_app.show_next_step(row.session_id)

    def action_discard(self) -> None:
        from posturetest.tui.dialogs import DiscardDialog

        row = self._selected()
        if row is None:
            self.notify("No session selected.", severity="warning")
            return
        if row.status is not SessionStatus.IN_PROGRESS:
            self.notify("Only an unfinished session can be discarded.", severity="warning")
            return
        what = f"{row.subject}'s session of {row.started_at[:16].replace('T', ' ')}"

        def answered(discard: bool | None) -> None:
            if not discard:
                return
            try:
                self.store.discard_session(row.session_id)
            except (RecordError, StoreError) as e:
                self.notify(f"Not discarded: {e}", severity="error", timeout=10)
                return
            self.notify(f"Discarded {what}; it is kept in the file, marked discarded.")
            self.reload()

        self.app.push_screen(DiscardDialog(what), answered)

    def action_resume_latest(self) -> None:
        rows = self.store.recent_sessions(limit=1, unfinished_only=True)
        if not rows:
            self.notify("Every session is finished. Press n to start a new one.")
            return
        self.notify(f"Resuming {rows[0].subject}'s session of {rows[0].started_at[:10]}.")
        self.posture_app.show_next_step(rows[0].session_id)
