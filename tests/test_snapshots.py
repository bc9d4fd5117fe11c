"""SVG snapshots of the main screens at a fixed size (pytest-textual-snapshot).

Update after an intended change with: .venv/bin/python -m pytest tests/test_snapshots.py
--snapshot-update, then look at the new SVGs before committing them.
"""

from __future__ import annotations

from textual.pilot import Pilot
from textual.widgets import Input

from posturetest.domain import Posture, Role, SessionSetup, StressTest
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from tests.conftest import SIZE, rate_trials, started_session

DB_LABEL = "~/.local/share/posturetest/posturetest.db"


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
    await pilot.pause()


def test_home(snap_compare, store: Store) -> None:  # type: ignore[no-untyped-def]
    for i, code in enumerate(["S-012", "S-013", "S-014"]):
        store.create_session(SessionSetup(subject=code), started_at=f"2026-11-2{i}T09:15:00Z")
    finished = started_session(store, subject="S-011")
    rate_trials(store, finished, upto=2)
    assert snap_compare(make_app(store), terminal_size=SIZE, run_before=settle)


def test_setup(snap_compare, store: Store) -> None:  # type: ignore[no-untyped-def]
    store.ensure_subject("S-014")

    async def before(pilot: Pilot[object]) -> None:
        await pilot.press("n", *"S-01")
        await settle(pilot)

    assert snap_compare(make_app(store), terminal_size=SIZE, run_before=before)


def test_trial(snap_compare, store: Store) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id, upto=1)

    async def before(pilot: Pilot[object]) -> None:
        app = pilot.app
        assert isinstance(app, PostureTestApp)
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("7", "enter", "8")
        await settle(pilot)

    assert snap_compare(make_app(store), terminal_size=SIZE, run_before=before)


def test_ranking(snap_compare, store: Store) -> None:  # type: ignore[no-untyped-def]
    session_id = started_session(store, subject="S-014", tests=(StressTest.VERTICAL,))
    rate_trials(store, session_id)

    async def before(pilot: Pilot[object]) -> None:
        app = pilot.app
        assert isinstance(app, PostureTestApp)
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("3")
        await settle(pilot)

    assert snap_compare(make_app(store), terminal_size=SIZE, run_before=before)


def test_summary(snap_compare, store: Store) -> None:  # type: ignore[no-untyped-def]
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

    async def before(pilot: Pilot[object]) -> None:
        app = pilot.app
        assert isinstance(app, PostureTestApp)
        app.show_next_step(session_id)  # every trial and ranking is in: completes, then summary
        await settle(pilot)

    assert snap_compare(make_app(store), terminal_size=SIZE, run_before=before)
