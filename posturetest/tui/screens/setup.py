"""Setup: who, how, which tests, what order. Everything has a sensible default."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.suggester import Suggester
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet

from posturetest.domain import (
    ORDER_SCHEME_LABELS,
    POSITION_LABELS,
    SUBJECT_CODE_RULE,
    TESTS,
    OrderScheme,
    Position,
    SessionSetup,
    StressTest,
    is_valid_subject_code,
)
from posturetest.domain.plan import MAX_REPETITIONS
from posturetest.store import RecordError, Store, StoreError
from posturetest.tui.screens.base import AppScreen
from posturetest.tui.widgets.keybar import KeyBar


class SubjectCodeSuggester(Suggester):
    """Offers existing subject codes while the tester types."""

    def __init__(self, store: Store) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.store = store

    async def get_suggestion(self, value: str) -> str | None:
        codes = self.store.subject_codes(value, limit=1) if value else []
        return codes[0] if codes else None


class SetupScreen(AppScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "start",
            "Start",
            tooltip="Create the session and go to the safety screen",
            id="start",
        ),
        Binding("escape", "cancel", "Cancel", tooltip="Back to home without saving", id="cancel"),
    ]

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="setup-form"):
            yield Label("New session", classes="screen-title")
            with Horizontal(classes="setup-row"):
                with Vertical():
                    yield Label("Subject code (pseudonymous: no names)", classes="field-label")
                    yield Input(
                        placeholder="e.g. S-014  (→ accepts a suggestion)",
                        id="subject",
                        max_length=32,
                        suggester=SubjectCodeSuggester(self.store),
                    )
                    yield Label("", id="subject-error", classes="field-error")
                with Vertical():
                    yield Label("Tester (optional)", classes="field-label")
                    yield Input(placeholder="initials", id="tester", max_length=64)
            with Horizontal(classes="setup-row"):
                with Vertical():
                    yield Label("Position", classes="field-label")
                    with RadioSet(id="position", compact=True):
                        for position in Position:
                            yield RadioButton(
                                POSITION_LABELS[position],
                                value=position is Position.SITTING,
                                name=position.value,
                            )
                with Vertical():
                    yield Label("Repetitions of each posture", classes="field-label")
                    with RadioSet(id="repetitions", compact=True):
                        for n in range(1, MAX_REPETITIONS + 1):
                            yield RadioButton(str(n), value=n == 1, name=str(n))
                with Vertical():
                    yield Label("Tests", classes="field-label")
                    for test in StressTest:
                        yield Checkbox(
                            TESTS[test].label, value=True, id=f"test-{test.value}", compact=True
                        )
                    yield Label("", id="tests-error", classes="field-error")
            yield Label("Posture order", classes="field-label")
            with RadioSet(id="order", compact=True):
                for scheme in OrderScheme:
                    yield RadioButton(
                        ORDER_SCHEME_LABELS[scheme],
                        value=scheme is OrderScheme.BALANCED,
                        name=scheme.value,
                    )
            yield Input(placeholder="seed (empty: a new one is drawn)", id="seed", type="integer")
            yield Label("Options", classes="field-label")
            yield Checkbox(
                "Blind: hide each one's rating from the other until both are in",
                id="blind",
                compact=True,
            )
            yield Checkbox(
                "Ask the subject about discomfort after each trial",
                value=True,
                id="discomfort",
                compact=True,
            )
            yield Checkbox("Ask the tester how hard they pressed", id="effort", compact=True)
            with Horizontal(id="setup-buttons"):
                yield Button("Start  (ctrl+s)", variant="primary", id="start")
                yield Button("Cancel  (esc)", id="cancel")
        yield KeyBar()

    def on_mount(self) -> None:
        self.query_one("#seed", Input).display = False
        self.query_one("#subject", Input).focus()

    @on(RadioSet.Changed, "#order")
    def _order_changed(self, event: RadioSet.Changed) -> None:
        self.query_one("#seed", Input).display = event.pressed.name == OrderScheme.RANDOM.value

    @on(Input.Changed, "#subject")
    def _subject_changed(self, event: Input.Changed) -> None:
        code = event.value.strip()
        error = "" if not code or is_valid_subject_code(code) else f"Use {SUBJECT_CODE_RULE}."
        self.query_one("#subject-error", Label).update(error)

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _choice(self, radio_set_id: str) -> str:
        pressed = self.query_one(f"#{radio_set_id}", RadioSet).pressed_button
        assert pressed is not None and pressed.name is not None
        return pressed.name

    def read_setup(self) -> SessionSetup | None:
        """The form as a SessionSetup, or None after showing what is wrong next to the field."""
        subject_input = self.query_one("#subject", Input)
        code = subject_input.value.strip()
        tests = tuple(t for t in StressTest if self.query_one(f"#test-{t.value}", Checkbox).value)
        ok = True
        if not is_valid_subject_code(code):
            self.query_one("#subject-error", Label).update(
                f"A subject code is needed: {SUBJECT_CODE_RULE}."
            )
            subject_input.focus()
            ok = False
        if not tests:
            self.query_one("#tests-error", Label).update("Choose at least one test.")
            ok = False
        else:
            self.query_one("#tests-error", Label).update("")
        if not ok:
            return None
        seed_text = self.query_one("#seed", Input).value.strip()
        scheme = OrderScheme(self._choice("order"))
        return SessionSetup(
            subject=code,
            tester=self.query_one("#tester", Input).value.strip(),
            position=Position(self._choice("position")),
            tests=tests,
            repetitions=int(self._choice("repetitions")),
            scheme=scheme,
            blind=self.query_one("#blind", Checkbox).value,
            record_effort=self.query_one("#effort", Checkbox).value,
            record_discomfort=self.query_one("#discomfort", Checkbox).value,
            seed=int(seed_text) if scheme is OrderScheme.RANDOM and seed_text else None,
        )

    def action_start(self) -> None:
        setup = self.read_setup()
        if setup is None:
            return
        try:
            session = self.store.create_session(setup, station=self.posture_app.station)
        except (RecordError, StoreError) as e:
            self.notify(f"Not started: {e}", severity="error", timeout=10)
            return
        self.posture_app.show_next_step(session.session_id)

    def action_cancel(self) -> None:
        self.posture_app.go_home()
