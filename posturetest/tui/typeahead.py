"""Keys typed ahead land where they were meant to: one key is handled whole before the next.

Textual forwards a key to the focused widget's message queue and handles the screen's own
bindings (Tab, Enter on a field) only when the key bubbles back up; keys that arrived meanwhile
have already been sent to the old focus. So a scanner's or a fast typist's `F-001<Tab>Z1` put
`Z1` in the subject field. Here each key (and each paste) waits until the one before it has
been handled everywhere it travels (the focused widget, its parents, the screen, a screen it
opened): then the next one is sent to whatever has the focus by then.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import monotonic
from typing import Any

from textual import events
from textual.app import App
from textual.message_pump import MessagePump

SETTLE_LIMIT_S = 1.0
"""A key never waits longer than this for the one before it (an animation, a worker)."""
ROUNDS_LIMIT = 40
QUIET_ROUNDS = 2


class TypeAheadApp(App[int]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._typed_ahead: deque[events.Event] = deque()
        self._key_in_flight = False
        self._settle_token = 0

    @property
    def keys_pending(self) -> int:
        """Keys received and not yet handled whole (0 once the last one has settled)."""
        return len(self._typed_ahead) + int(self._key_in_flight)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            self._typed_ahead.extend(as_keys(event))
            if not self._key_in_flight:
                await self._next_key()
            return
        await super().on_event(event)

    async def _next_key(self) -> None:
        if not self._typed_ahead:
            self._key_in_flight = False
            return
        self._key_in_flight = True
        event = self._typed_ahead.popleft()
        try:
            await super().on_event(event)
        finally:
            self._when_settled()

    def _when_settled(self) -> None:
        """Call _next_key once every message the key caused has been handled (or at the limit)."""
        self._settle_token += 1
        token = self._settle_token
        deadline = monotonic() + SETTLE_LIMIT_S

        def release() -> None:
            if token == self._settle_token:
                self._settle_token += 1  # only once
                limit.stop()
                self.call_later(self._next_key)

        limit = self.set_timer(SETTLE_LIMIT_S, release)
        self._settle_round(release, lambda: token != self._settle_token, deadline, ROUNDS_LIMIT)

    def _settle_round(
        self,
        release: Callable[[], None],
        released: Callable[[], bool],
        deadline: float,
        rounds: int,
        quiet: int = 0,
    ) -> None:
        """Post a marker to every pump and look again when all have run. A round's end proves
        every message posted before it began handled; a handler still running (it awaited) may
        post more, so the key is released after QUIET_ROUNDS rounds in a row that end with every
        queue empty."""
        try:
            screen = self.screen
        except Exception:  # no screen (closing)
            release()
            return
        pumps: list[MessagePump] = [self, *screen.walk_children(with_self=True)]
        remaining = 0

        def one_done() -> None:
            nonlocal remaining
            remaining -= 1
            if remaining == 0 and not released():  # (the time limit may have released it)
                busy = self._moved_on(screen) or any(_queued(p) for p in pumps)
                now_quiet = 0 if busy else quiet + 1
                if now_quiet < QUIET_ROUNDS and rounds > 1 and monotonic() < deadline:
                    self._settle_round(release, released, deadline, rounds - 1, now_quiet)
                else:
                    release()

        for pump in pumps:
            if pump.call_later(one_done):
                remaining += 1
        if remaining == 0:
            release()

    def _moved_on(self, screen: object) -> bool:
        try:
            return self.screen is not screen or not self.screen.is_mounted
        except Exception:
            return False


def as_keys(event: events.Event) -> list[events.Event]:
    """A paste that holds a tab or a line break (a row copied from a spreadsheet, a scanner in
    paste mode) is typed key by key, so Tab and Enter move between fields as typed ones do."""
    if not isinstance(event, events.Paste) or not any(c in event.text for c in "\t\r\n"):
        return [event]
    keys: list[events.Event] = []
    for character in event.text.replace("\r\n", "\n"):
        if character == "\t":
            keys.append(events.Key("tab", None))
        elif character in "\r\n":
            keys.append(events.Key("enter", "\r"))
        else:
            keys.append(events.Key(_key_name(character), character))
    return keys


def _key_name(character: str) -> str:
    from textual.keys import _character_to_key

    return _character_to_key(character)


def _queued(pump: MessagePump) -> bool:
    """Messages wait in the pump's queue (the marker that runs this check is already taken)."""
    queue = getattr(pump, "_message_queue", None)
    return queue is not None and queue.qsize() > 0
