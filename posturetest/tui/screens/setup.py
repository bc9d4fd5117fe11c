"""Setup: who, how, which tests, what order. Everything has a sensible default."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, RadioSet

from posturetest.domain import (
    ORDER_SCHEME_LABELS,
    POSITION_LABELS,
    SUBJECT_CODE_RULE,
    TESTER_MAX_LENGTH,
    TESTS,
    OrderScheme,
    Position,
    SessionSetup,
    StressTest,
    short_text_problem,
    subject_code_problem,
)
from posturetest.domain.plan import MAX_REPETITIONS
from posturetest.store import RecordError, StoreError
from posturetest.tui.screens.base import AppScreen
from posturetest.tui.widgets.fields import FieldInput
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.subject_codes import SubjectCodeSuggester
from posturetest.tui.widgets.toggles import Choice, TickBox


class SetupScreen(AppScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "start",
            "Start",
            tooltip="Create the session and go to the safety screen",
            id="start",
        ),
        Binding(
            "enter",
            "enter",
            "Next or start",
            tooltip="In the subject code: on to the tester; anywhere else: start",
            id="setup-enter",
            priority=True,
            show=False,
        ),
        Binding("escape", "cancel", "Cancel", tooltip="Back to home without saving", id="cancel"),
    ]

    def compose(self) -> ComposeResult:
        yield self.header()
        with Vertical(id="setup-form"):
            yield Label("New session", classes="screen-title")
            with Horizontal(classes="setup-row"):
                with Vertical(id="subject-column"):
                    yield Label("Subject code (pseudonymous: no names)", classes="field-label")
                    yield FieldInput(
                        placeholder="e.g. S-014  (→ takes a suggestion)",
                        id="subject",
                        suggester=SubjectCodeSuggester(self.store),
                        compact=True,
                    )
                    yield Label("", id="subject-error", classes="field-error")
                with Vertical(id="tester-column"):
                    yield Label("Tester (optional)", classes="field-label")
                    yield FieldInput(placeholder="initials", id="tester", compact=True)
                    yield Label("", id="tester-error", classes="field-error")
            with Horizontal(classes="setup-row"):
                with Vertical(id="position-column"):
                    yield Label("Position", classes="field-label")
                    with RadioSet(id="position", compact=True):
                        for position in Position:
                            yield Choice(
                                POSITION_LABELS[position],
                                value=position is Position.SITTING,
                                name=position.value,
                            )
                with Vertical(id="repetitions-column"):
                    yield Label("Repetitions", classes="field-label")
                    with RadioSet(id="repetitions", compact=True):
                        for n in range(1, MAX_REPETITIONS + 1):
                            yield Choice(str(n), value=n == 1, name=str(n))
                with Vertical(id="tests-column"):
                    yield Label("Tests", classes="field-label")
                    for test in StressTest:
                        yield TickBox(
                            TESTS[test].label, value=True, id=f"test-{test.value}", compact=True
                        )
                    yield Label("", id="tests-error", classes="field-error")
            yield Label("Posture order", classes="field-label")
            with Horizontal(id="order-row"):
                with RadioSet(id="order", compact=True):
                    for scheme in OrderScheme:
                        yield Choice(
                            ORDER_SCHEME_LABELS[scheme],
                            value=scheme is OrderScheme.BALANCED,
                            name=scheme.value,
                        )
                yield FieldInput(
                    placeholder="seed (empty: drawn)", id="seed", type="integer", compact=True
                )
            yield Label("Options", classes="field-label")
            yield TickBox(
                "Blind: hide each one's rating from the other until both are in",
                id="blind",
                compact=True,
            )
            yield TickBox(
                "Ask the subject about discomfort after each trial",
                value=True,
                id="discomfort",
                compact=True,
            )
            yield TickBox("Ask the tester how hard they pressed", id="effort", compact=True)
            with Horizontal(id="setup-buttons"):
                yield Button("Start  (ctrl+s)", variant="primary", id="start", compact=True)
                yield Button("Cancel  (esc)", id="cancel", compact=True)
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
        problem = subject_code_problem(code) if code else None
        self.query_one("#subject-error", Label).update(f"✗ {problem}" if problem else "")

    @on(Input.Changed, "#tester")
    def _tester_changed(self, event: Input.Changed) -> None:
        problem = short_text_problem(event.value.strip(), TESTER_MAX_LENGTH)
        self.query_one("#tester-error", Label).update(f"✗ {problem}" if problem else "")

    def action_enter(self) -> None:
        """Enter in the subject code goes on to the tester (a scanner ends a code with Enter);
        anywhere else it starts, as ctrl+s does (Esc, or Enter on Cancel, cancels)."""
        focused = self.focused
        if isinstance(focused, Input) and focused.id == "subject":
            self.query_one("#tester", Input).focus()
        elif isinstance(focused, Button) and focused.id == "cancel":
            self.action_cancel()
        else:
            self.action_start()

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
        tester = self.query_one("#tester", Input).value.strip()
        if problem := short_text_problem(tester, TESTER_MAX_LENGTH):
            self.query_one("#tester-error", Label).update(f"✗ {problem}")
            self.query_one("#tester", Input).focus()
            ok = False
        if problem := subject_code_problem(code):
            self.query_one("#subject-error", Label).update(
                f"✗ {problem}" + (f" ({SUBJECT_CODE_RULE})" if not code else "")
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
            tester=tester,
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
