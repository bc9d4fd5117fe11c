"""SVG snapshots of every screen at a default 80x24 terminal and at 120x36
(pytest-textual-snapshot).

Update after an intended change with: .venv/bin/python -m pytest tests/functional/test_snapshots.py
--snapshot-update, then look at the new SVGs before committing them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from posturetest.domain import Posture, Role, SessionSetup, StressTest
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from tests.factories import rate_trials, started_session

DB_LABEL = "~/.local/share/posturetest/posturetest.db"
SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 36)], ids=["80x24", "120x36"])

Before = Callable[[Pilot[object]], Awaitable[None]]


def make_app(store: Store) -> PostureTestApp:
    app = PostureTestApp(store, station="snapshot")
    app.db_label = DB_LABEL  # the real path is a temporary folder that changes every run
    return app


async def settle(pilot: Pilot[object]) -> None:
    """No toasts, no blinking cursor: the same picture every run."""
    await pilot.pause()
    for widget in pilot.app.screen.query(Input):
        widget.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    await pilot.pause()


def at_step(session_id: str, *keys: str) -> Before:
    async def before(pilot: Pilot[object]) -> None:
        app = pilot.app
        assert isinstance(app, PostureTestApp)
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press(*keys)
        await settle(pilot)

    return before


def snap(snap_compare, store: Store, size: tuple[int, int], before: Before) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(store), terminal_size=size, run_before=before)


@SIZES
def test_home(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    for i, code in enumerate(["S-012", "S-013", "S-014"]):
        store.create_session(SessionSetup(subject=code), started_at=f"2026-11-2{i}T09:15:00Z")
    finished = started_session(store, subject="S-011")
    rate_trials(store, finished, upto=2)
    snap(snap_compare, store, size, settle)


@SIZES
def test_setup(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    store.ensure_subject("S-014")

    async def before(pilot: Pilot[object]) -> None:
        await pilot.press("n", *"S-01")
        await settle(pilot)

    snap(snap_compare, store, size, before)


@SIZES
def test_safety_with_a_yes(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session = store.create_session(
        SessionSetup(subject="S-014", tester="AK"), started_at="2026-11-24T09:15:00Z"
    )
    snap(snap_compare, store, size, at_step(session.session_id, "n", "y", "n", "n", "n", *"Dr"))


@SIZES
def test_trial(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id, upto=1)
    snap(snap_compare, store, size, at_step(session_id, "7", "enter", "8"))


@SIZES
def test_trial_blind(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK", blind=True)
    snap(snap_compare, store, size, at_step(session_id, "7", "enter"))


@SIZES
def test_stop_dialog(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK")
    snap(snap_compare, store, size, at_step(session_id, "s", "2"))


@SIZES
def test_correction_dialog(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id, upto=1)
    snap(snap_compare, store, size, at_step(session_id, "u", "4", "enter"))


@SIZES
def test_ranking(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tests=(StressTest.VERTICAL,))
    rate_trials(store, session_id)
    snap(snap_compare, store, size, at_step(session_id, "3"))


@SIZES
def test_summary(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id)
    best_first = (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)
    for test in StressTest:
        store.record_ranking(session_id, test, Role.TESTER, best_first)
        store.record_ranking(
            session_id,
            test,
            Role.SUBJECT,
            best_first[::-1] if test is StressTest.ANTERIOR else best_first,
        )
    # every trial and ranking is in: the session completes, then the summary
    snap(snap_compare, store, size, at_step(session_id))


@SIZES
def test_results(snap_compare, store: Store, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    for i in range(3):
        session_id = started_session(store, subject=f"S-02{i}")
        rate_trials(store, session_id)
        for test in StressTest:
            for role in Role:
                store.record_ranking(session_id, test, role, list(Posture))
        store.end_session(session_id, store.session(session_id).status.__class__("complete"))

    async def before(pilot: Pilot[object]) -> None:
        await pilot.press("s")
        app = pilot.app
        await app.workers.wait_for_complete()
        await settle(pilot)

    snap(snap_compare, store, size, before)
