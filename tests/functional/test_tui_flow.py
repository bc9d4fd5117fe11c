"""Pilot tests: a pair drives the app with the keyboard (and the mouse) from home to summary."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from textual.widgets import DataTable, Input

from posturetest.domain import Outcome, SessionSetup, SessionStatus
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.dialogs import CorrectDialog, StopDialog
from posturetest.tui.dialogs.help import HelpScreen
from posturetest.tui.screens.home import HomeScreen
from posturetest.tui.screens.ranking import RankingScreen
from posturetest.tui.screens.safety import SafetyScreen
from posturetest.tui.screens.setup import SetupScreen
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.screens.trial import TrialScreen
from posturetest.tui.widgets.rating import RatingScale
from tests.factories import started_session
from tests.functional.pilot import SIZE, notices, screen_text, session_pilot


def ratings_in_db(db_file: Path) -> list[tuple[int, str, int | None, int | None]]:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(
            "SELECT seq, outcome, tester_stability, subject_ease FROM trials ORDER BY seq"
        ).fetchall()


async def test_home_shows_database_path_and_empty_hint(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = screen_text(app)
        assert "tui.db" in text
        assert "No sessions yet" in text
        assert isinstance(app.screen, HomeScreen)


async def test_full_session_by_keyboard(store: Store, db_file: Path) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        assert isinstance(app.screen, SetupScreen)
        await pilot.press(*"S-014")
        # one test only, to keep the walk short: untick the anterior test
        app.screen.query_one("#test-anterior").value = False  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SafetyScreen)
        await pilot.press(*"nnnnn")
        await pilot.press("ctrl+s")
        await pilot.pause()
        for expected_seq in (1, 2, 3):
            screen = app.screen
            assert isinstance(screen, TrialScreen)
            assert screen.trial.seq == expected_seq
            await pilot.press("7", "enter")  # tester stability
            await pilot.press("1", "0", "enter")  # subject ease: 1 then 0 is 10
            await pilot.press("2", "enter")  # discomfort
            await pilot.pause()
        assert isinstance(app.screen, RankingScreen)
        await pilot.press("3", "1", "enter")  # tester: skeleton, ligament, muscle
        await pilot.press("3", "2", "enter")  # subject: skeleton, muscle, ligament
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        text = screen_text(app)
        assert "tester and subject agree, skeleton type held best." in text
    assert ratings_in_db(db_file) == [(1, "rated", 7, 10), (2, "rated", 7, 10), (3, "rated", 7, 10)]
    session = store.recent_sessions()[0]
    assert session.status is SessionStatus.COMPLETE


async def test_setup_rejects_bad_subject_code(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        await pilot.press(*"bad code!")
        await pilot.pause()
        assert "no spaces in a subject code" in screen_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
    assert store.count("sessions") == 0


async def test_setup_offers_existing_codes(store: Store) -> None:
    store.ensure_subject("S-777")
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "s", "-", "7")
        await pilot.pause()
        await pilot.press("right")  # accept the suggestion
        assert app.screen.query_one("#subject", Input).value == "S-777"


async def test_safety_yes_without_clearance_stops_session(store: Store) -> None:
    session_id = store.create_session(SessionSetup(subject="S-9")).session_id
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, SafetyScreen)
        await pilot.press("y", "n", "n", "n", "n")
        assert "type the clinician who cleared the subject" in screen_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
    session = store.session(session_id)
    assert session.status is SessionStatus.STOPPED
    assert all(t.outcome is Outcome.SKIPPED for t in store.trials(session_id))
    assert store.safety_answers(session_id)["osteoporosis"] is True


async def test_stop_trial_and_go_on(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("5", "enter")  # tester rated, then the subject feels pain
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, StopDialog)
        await pilot.press("1", "g")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
        assert app.screen.trial.seq == 2
    first = store.trials(session_id)[0]
    assert first.outcome is Outcome.STOPPED and first.stop_reason.value == "pain"  # type: ignore[union-attr]
    assert [(c.field, c.old_value, c.new_value) for c in store.corrections(first.trial_id)] == [
        ("tester_stability", 5, None)
    ]


async def test_stop_trial_and_end_session(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("s", "3", "e")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
    assert store.session(session_id).status is SessionStatus.STOPPED
    outcomes = [t.outcome for t in store.trials(session_id)]
    assert outcomes[0] is Outcome.STOPPED and set(outcomes[1:]) == {Outcome.SKIPPED}


async def test_blind_mode_hides_the_tester_rating(store: Store) -> None:
    session_id = started_session(store, blind=True, record_discomfort=False)
    async with session_pilot(store, session_id) as (app, pilot):
        assert "(subject, look away)" in screen_text(app)
        await pilot.press("8", "enter")
        await pilot.pause()
        tester = app.screen.query_one("#rate-tester_stability", RatingScale)
        text = screen_text(app)
        assert tester.masked and "(tester, look away)" in text and "[8]" not in text
        await pilot.press("4", "enter")
        await pilot.pause()
        text = screen_text(app)
        assert "[8]" in text and "[4]" in text  # both revealed once both are in
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen) and app.screen.trial.seq == 2


async def test_correct_previous_rating_is_audited(store: Store) -> None:
    session_id = started_session(store, record_discomfort=False)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("6", "enter", "9", "enter")
        await pilot.pause()
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, CorrectDialog)
        assert "Correct trial 1: vertical test" in screen_text(app)  # named
        await pilot.press("4", "enter")  # tester stability 6 -> 4, then on to subject ease
        await pilot.press("ctrl+s")  # no reason yet: refused, the cursor goes to the reason
        await pilot.pause()
        assert isinstance(app.screen, CorrectDialog)
        assert any("a short reason is needed" in n for n in notices(app))
        await pilot.press(*"typed 6 for 4", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    first = store.trials(session_id)[0]
    assert first.rating("tester_stability") == 4 and first.rating("subject_ease") == 9
    assert [
        (c.field, c.old_value, c.new_value, c.reason) for c in store.corrections(first.trial_id)
    ] == [("tester_stability", 6, 4, "typed 6 for 4")]


async def test_quit_and_resume_keeps_every_rating(store: Store, db_file: Path) -> None:
    session_id = started_session(store, record_discomfort=False)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("6", "enter", "9", "enter")  # trial 1 done
        await pilot.press("3", "enter")  # trial 2: tester only
        await pilot.press("ctrl+q")
    assert ratings_in_db(db_file)[:2] == [(1, "rated", 6, 9), (2, "pending", 3, None)]

    again = PostureTestApp(Store(db_file))
    async with again.run_test(size=SIZE) as pilot:
        await pilot.press("r")
        await pilot.pause()
        screen = again.screen
        assert isinstance(screen, TrialScreen) and screen.trial.seq == 2
        # the tester's rating is kept; the subject's is asked next
        assert screen.query_one("#rate-tester_stability", RatingScale).saved
        assert screen.focused is screen.query_one("#rate-subject_ease", RatingScale)


async def test_escape_goes_home_and_enter_resumes(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert "in progress" in screen_text(app)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)


async def test_home_pages_through_sessions(store: Store) -> None:
    for i in range(45):
        store.create_session(
            SessionSetup(subject=f"P-{i:02d}"),
            started_at=f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
        )
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = app.screen.query_one("#sessions", DataTable)
        seen = [table.get_row_at(i)[1] for i in range(table.row_count)]
        await pilot.press("pagedown")
        seen += [table.get_row_at(i)[1] for i in range(table.row_count)]
        await pilot.press("pagedown")
        seen += [table.get_row_at(i)[1] for i in range(table.row_count)]
        assert "Page 3" in screen_text(app)
        await pilot.press("pageup")
        assert "Page 2" in screen_text(app)
    assert sorted(seen) == [f"P-{i:02d}" for i in range(45)]
    assert seen[0] == "P-44"


async def test_find_by_subject_code(store: Store) -> None:
    store.create_session(SessionSetup(subject="ALPHA-1"))
    store.create_session(SessionSetup(subject="BETA-1"))
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash", *"bet")
        await pilot.pause()
        table = app.screen.query_one("#sessions", DataTable)
        assert [table.get_row_at(i)[1] for i in range(table.row_count)] == ["BETA-1"]


async def test_help_lists_the_keys_of_the_screen(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "Pain, discomfort, could not hold" in text
        assert "1 then 0 gives 10" in text
        await pilot.press("escape")
        assert isinstance(app.screen, TrialScreen)


async def test_mouse_click_sets_a_rating(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        widget = app.screen.query_one("#rate-tester_stability", RatingScale)
        start, _end, n = widget._number_spans[3]
        await pilot.click(widget, offset=(start + 2, 1))
        assert widget.value == n == 3
