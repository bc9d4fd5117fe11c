"""After a test: the tester, then the subject, rank the postures (best first)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Label, Static

from posturetest.domain import POSTURES, TESTS, Posture, Role, StressTest, rankable_postures
from posturetest.store import RecordError, StoreError
from posturetest.tui.screens.base import SessionScreen
from posturetest.tui.widgets.keybar import KeyBar

PROMPTS = {
    Role.TESTER: "Tester: rank the postures, most stable first.",
    Role.SUBJECT: "Subject: rank the postures, easiest to hold first.",
}


class RankingScreen(SessionScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "1",
            "pick(1)",
            "Pick",
            key_display="1-3",
            tooltip="Add the posture with this number as the next rank",
            id="pick",
        ),
        Binding("2", "pick(2)", "Pick", show=False, id="pick-2"),
        Binding("3", "pick(3)", "Pick", show=False, id="pick-3"),
        Binding("backspace", "undo", "Undo", tooltip="Take back the last pick", id="undo"),
        Binding(
            "enter",
            "confirm",
            "Confirm",
            tooltip="Save this ranking",
            id="confirm-ranking",
        ),
    ]

    def __init__(self, session_id: str, test: StressTest, roles: tuple[Role, ...]) -> None:
        super().__init__(session_id)
        self.test = test
        self.roles = list(roles)
        block = [t for t in self.store.trials(session_id) if t.test is test]
        self.postures = rankable_postures(block)
        self.picked: list[Posture] = []

    @property
    def role(self) -> Role:
        return self.roles[0]

    def compose(self) -> ComposeResult:
        yield self.header()
        with VerticalScroll(id="ranking"):
            yield Label(self.context_line(), classes="context")
            yield Label(
                f"{TESTS[self.test].label.upper()} DONE · RANK THE POSTURES", classes="screen-title"
            )
            yield Label("", id="ranking-prompt")
            with Horizontal(id="posture-buttons"):
                for i, posture in enumerate(self.postures, start=1):
                    button = Button(f"{i}  {POSTURES[posture].label}", id=f"pick-{posture.value}")
                    button.can_focus = False  # keys go to the screen; the mouse still clicks
                    yield button
            yield Static("", id="ranking-picked")
        yield KeyBar()

    def on_mount(self) -> None:
        self._refresh()

    def _refresh(self) -> None:
        other = "tester" if self.role is Role.SUBJECT else "subject"
        hint = f"   ({other}, look away)" if self.session.blind else ""
        self.query_one("#ranking-prompt", Label).update(PROMPTS[self.role] + hint)
        lines = [f"{rank}. {POSTURES[p].label}" for rank, p in enumerate(self.picked, start=1)]
        if len(self.picked) == len(self.postures):
            lines.append("\nEnter saves this ranking; Backspace takes back the last pick.")
        else:
            lines.append(
                f"\nPress the number of the posture for place {len(self.picked) + 1} (or click it)."
            )
        self.query_one("#ranking-picked", Static).update("\n".join(lines))
        for posture in self.postures:
            self.query_one(f"#pick-{posture.value}", Button).disabled = posture in self.picked

    def action_pick(self, number: int) -> None:
        if not 1 <= number <= len(self.postures):
            return
        posture = self.postures[number - 1]
        if posture in self.picked:
            return
        self.picked.append(posture)
        remaining = [p for p in self.postures if p not in self.picked]
        if len(remaining) == 1:
            self.picked.append(remaining[0])
        self._refresh()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("pick-"):
            self.action_pick(self.postures.index(Posture(event.button.id[5:])) + 1)

    def action_undo(self) -> None:
        if self.picked:
            self.picked.pop()
            if len(self.picked) == len(self.postures) - 1:
                self.picked.pop()
        self._refresh()

    def action_confirm(self) -> None:
        if len(self.picked) != len(self.postures):
            self.notify("Rank every posture first.", severity="warning")
            return
        try:
            self.store.record_ranking(self.session_id, self.test, self.role, self.picked)
        except (RecordError, StoreError) as e:
            self.notify(f"Not saved: {e}", severity="error", timeout=10)
            return
        who = self.role.value
        self.notify(f"The {who}'s ranking is saved.", timeout=2)
        self.roles.pop(0)
        self.picked = []
        if self.roles:
            self._refresh()
        else:
            self.posture_app.show_next_step(self.session_id)
