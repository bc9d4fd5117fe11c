"""Helpers for the Pilot tests: the app opened on a session, and what its screen shows."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual.pilot import Pilot
from textual.widgets._toast import Toast

from posturetest.store import Store
from posturetest.tui.app import PostureTestApp

SIZE = (120, 36)
"""Every Pilot test and snapshot runs at this terminal size."""


@asynccontextmanager
async def session_pilot(
    store: Store, session_id: str
) -> AsyncIterator[tuple[PostureTestApp, Pilot[int]]]:
    """The app opened on a session's next step, as Enter on home would (toasts shown)."""
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        yield app, pilot


def notices(app: object) -> list[str]:
    """The text of the toasts the current screen is showing, one string a toast (the app must
    run with `run_test(notifications=True)`, else no toast is ever shown)."""
    screen = app.screen  # type: ignore[attr-defined]
    return [toast.render().plain for toast in screen.query(Toast)]


def screen_text(app: object) -> str:
    """Everything the screen shows, as plain text (read from Textual's own screenshot)."""
    svg = app.export_screenshot()  # type: ignore[attr-defined]
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg)
    return html.unescape(" ".join(texts)).replace("\xa0", " ")


def terminal_text(app: object) -> str:
    """What the terminal shows right now, as plain text lines (toasts included)."""
    screen = app.screen  # type: ignore[attr-defined]
    strips = screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)
