"""The Textual app: owns the store for its lifetime and moves a session from step to step."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from textual.app import SystemCommand
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.screen import Screen

from posturetest.config import display_path
from posturetest.domain import (
    FinishStep,
    RankingStep,
    SafetyStep,
    SessionStatus,
    SummaryStep,
    TrialStep,
    next_step,
)
from posturetest.store import RecordError, Store, StoreError
from posturetest.tui.typeahead import TypeAheadApp
from posturetest.tui.widgets.keybar import HELP_KEYS

if TYPE_CHECKING:
    from posturetest.tui.screens.base import SessionScreen


class PostureTestApp(TypeAheadApp):
    """A subject and a tester, one terminal, one session at a time."""

    TITLE = "posturetest"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (30, "-tall")]
    """A default 80x24 terminal gets the compact layouts (every word still on screen)."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            tooltip="Leave the app; every confirmed rating is saved",
            id="quit",
            priority=True,
        ),
        *HELP_KEYS,
    ]

    def __init__(
        self, store: Store, *, station: str = "", keymap: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        if keymap:
            self.set_keymap(keymap)
        self.store = store
        self.station = station
        self.db_label = display_path(store.path)
        self._quit_anyway = False
        self.store_failure: StoreError | None = None
        """A problem of the file that ended the app (run_app reports it as one line)."""

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """One notice at a time: a new one replaces the one showing (they show at the top
        right, away from the ratings and the ranking: see app.tcss). Like Textual's, safe to
        call from a thread: the clearing is queued ahead of the notice."""
        self.call_later(self.clear_notifications)
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _handle_exception(self, error: Exception) -> None:
        """A problem of the database file (damaged, gone read-only) ends the app with one line
        about the file, not as a crash."""
        if isinstance(error, StoreError):
            self.store_failure = error
            self._return_code = 2
            self._close_messages_no_wait()
            return
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        """An unexpected error: one line for the user, the full report to a private file.

        Overrides Textual's printing of a traceback at exit; every confirmed rating is already
        committed, so the message can say so.
        """
        if not self._exit_renderables:
            return
        import io

        from rich.console import Console

        from posturetest.outputs import write_crash_log

        report = io.StringIO()
        console = Console(file=report, width=120, color_system=None)
        for renderable in self._exit_renderables:
            console.print(renderable)
        self._exit_renderables.clear()
        try:  # a private file (0600), there only once whole
            details = f"Details: {write_crash_log(report.getvalue())}"
        except OSError as e:
            details = f"The details could not be saved ({e.strerror or e})."
        self.error_console.print(
            "posturetest: an unexpected error closed the app; every confirmed rating is saved. "
            f"{details}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def get_default_screen(self) -> Screen[Any]:
        from posturetest.tui.screens.home import HomeScreen

        return HomeScreen()

    def on_ready(self) -> None:
        """After the first paint: load what the first save will need, off the UI thread, and
        hear the answer of the store's check of the file (a damaged file takes no rating)."""
        self.set_timer(1.0, self._warm_store)
        self.run_worker(self._await_check, thread=True, name="check-file", group="check")

    def _await_check(self) -> None:
        self.store.wait_checked()
        if self.store.damaged:
            self.call_from_thread(self._damaged, self.store.damaged)

    def _damaged(self, problem: str) -> None:
        from posturetest.tui.dialogs import DamagedDialog

        self.push_screen(DamagedDialog(self.db_label, problem))

    async def action_quit(self) -> None:
        """Quit; but a rating still waiting for the file asks for a second ctrl+q first."""
        unsaved = getattr(self.screen, "has_unsaved_rating", None)
        if unsaved is not None and unsaved() and not self._quit_anyway:
            self._quit_anyway = True
            self.notify(
                "A rating is still waiting to be saved. Press ctrl+q again to quit without it.",
                severity="warning",
                timeout=8,
            )
            return
        self.exit()

    def _warm_store(self) -> None:
        """Import sqlite-utils (~80 ms) in a thread before the first write needs it; the thread
        runs no SQL on the app's connection."""
        self.run_worker(_import_sqlite_utils, thread=True, name="warm-store", group="warm")

    def action_help(self) -> None:
        from posturetest.tui.dialogs.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))
        else:
            self.screen.dismiss()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The command palette offers what the current screen's keys do (its own, inherited and
        its focused widget's, as the key bar shows them), then the app's own."""
        for node, binding, enabled, tooltip in screen.active_bindings.values():
            if node is not self and enabled and binding.description and binding.show:
                yield SystemCommand(
                    binding.description,
                    tooltip or binding.description,
                    partial(self.run_action, binding.action, node),
                )
        yield from super().get_system_commands(screen)

    # -- moving through a session -------------------------------------------------------------

    def show_next_step(self, session_id: str) -> None:
        """Work out the next step from what is stored and show its screen."""
        from posturetest.tui.screens.ranking import RankingScreen
        from posturetest.tui.screens.safety import SafetyScreen
        from posturetest.tui.screens.summary import SummaryScreen
        from posturetest.tui.screens.trial import TrialScreen

        store = self.store
        session = store.session(session_id)
        step = next_step(session, store.trials(session_id), store.rankings(session_id))
        if isinstance(step, FinishStep):
            try:
                store.end_session(session_id, SessionStatus.COMPLETE)
            except (RecordError, StoreError) as e:
                self.notify(
                    f"Every rating is saved, but the session could not be closed: {e}. "
                    "Press Enter to try again.",
                    severity="error",
                    timeout=10,
                )
                return
            self.notify("Session complete: every trial and ranking is saved.")
            step = SummaryStep()
        screen: SessionScreen
        if isinstance(step, SafetyStep):
            screen = SafetyScreen(session_id)
        elif isinstance(step, TrialStep):
            screen = TrialScreen(session_id, step.trial.trial_id)
        elif isinstance(step, RankingStep):
            screen = RankingScreen(session_id, step.test, step.roles)
        else:
            screen = SummaryScreen(session_id)
        self.show_session_screen(screen)

    def show_session_screen(self, screen: Screen[Any]) -> None:
        """Session screens replace each other above home, so Escape always leads home."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if len(self.screen_stack) == 1:
            self.push_screen(screen)
        else:
            self.switch_screen(screen)

    def go_home(self) -> None:
        from posturetest.tui.screens.home import HomeScreen

        while len(self.screen_stack) > 1:
            self.pop_screen()
        if isinstance(self.screen, HomeScreen):
            self.screen.reload()


def _import_sqlite_utils() -> None:
    import sqlite_utils  # noqa: F401
