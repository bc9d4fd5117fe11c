"""What every screen shares: the header with the database path, the footer, the store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar, cast

from textual.binding import Binding, BindingType
from textual.screen import Screen

from posturetest.domain import Session, SessionStatus
from posturetest.store import Store
from posturetest.tui.widgets.header import AppHeader

if TYPE_CHECKING:
    from posturetest.tui.app import PostureTestApp


class AppScreen(Screen[None]):
    @property
    def posture_app(self) -> PostureTestApp:
        return cast("PostureTestApp", self.app)

    @property
    def store(self) -> Store:
        return self.posture_app.store

    @contextmanager
    def worker_store(self) -> Iterator[Store]:
        """A connection of its own for a worker thread, so the UI's stays free (workers only
        read: charts, statistics, exports)."""
        if self.store.path == ":memory:":
            yield self.store
            return
        with Store(self.store.path, readonly=True) as store:
            yield store

    def header(self) -> AppHeader:
        return AppHeader(self.posture_app.db_label)


class SessionScreen(AppScreen):
    """A step of one session. Escape leaves it for home; the session stays resumable."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape", "leave", "Home", tooltip="Back to home; resume this session later", id="leave"
        ),
    ]

    def __init__(self, session_id: str) -> None:
        super().__init__()
        self.session_id = session_id
        self.session: Session = self.store.session(session_id)

    def context_line(self) -> str:
        s = self.session
        parts = [s.subject, s.position.value, f"{s.order_scheme.value} order"]
        if s.tester:
            parts.insert(1, f"tester {s.tester}")
        if s.blind:
            parts.append("blind")
        return " · ".join(parts)

    def action_leave(self) -> None:
        """Home; the notice that the session can be resumed only when it can."""
        if self.store.session(self.session_id).status is SessionStatus.IN_PROGRESS:
            self.notify("Session kept: resume it from home at any time.")
        self.posture_app.go_home()
