"""Pilot tests for the remaining keys and mouse paths of each screen."""

from __future__ import annotations

from textual.command import CommandList, CommandPalette
from textual.widgets import Button, Checkbox, Input, RadioButton

from posturetest.domain import (
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
    plan_session,
)
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.dialogs import StopDialog
from posturetest.tui.screens.home import HomeScreen
from posturetest.tui.screens.ranking import RankingScreen
from posturetest.tui.screens.safety import SafetyScreen
from posturetest.tui.screens.setup import SetupScreen
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.screens.trial import TrialScreen
from posturetest.tui.widgets.keybar import KeyBar
from posturetest.tui.widgets.rating import RatingScale
from tests.factories import rate_trials, started_session
from tests.functional.pilot import SIZE, notices, screen_text, session_pilot


async def test_setup_choices_are_stored(store: Store) -> None:
    app = PostureTestApp(store, station="lab-2")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", *"R-1")
        await pilot.press("tab", *"JD")
        screen = app.screen
        assert isinstance(screen, SetupScreen)
        await pilot.click(screen.query_one("#position RadioButton:last-of-type", RadioButton))
        await pilot.click(screen.query_one("#repetitions RadioButton:last-of-type", RadioButton))
        await pilot.click(screen.query_one("#test-vertical", Checkbox))
        order_buttons = list(screen.query("#order RadioButton").results(RadioButton))
        await pilot.click(order_buttons[1])  # random
        await pilot.pause()
        seed = screen.query_one("#seed", Input)
        assert seed.display
        seed.value = "4242"
        for option in ("#blind", "#effort", "#discomfort"):
            await pilot.click(screen.query_one(option, Checkbox))
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SafetyScreen)
    row = store.recent_sessions()[0]
    session = store.session(row.session_id)
    assert (session.subject, session.tester, session.station) == ("R-1", "JD", "lab-2")
    assert session.position is Position.STANDING and session.repetitions == 3
    assert session.tests == (StressTest.ANTERIOR,)
    assert session.order_scheme is OrderScheme.RANDOM and session.order_seed == 4242
    assert session.blind and session.record_effort and not session.record_discomfort
    planned = plan_session(
        tests=(StressTest.ANTERIOR,), repetitions=3, scheme=OrderScheme.RANDOM, seed=4242
    )
    stored = [(t.seq, t.test, t.posture, t.rep) for t in store.trials(row.session_id)]
    assert stored == [(p.seq, p.test, p.posture, p.rep) for p in planned]


async def test_setup_needs_a_test(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", *"S-1")
        for test in StressTest:
            app.screen.query_one(f"#test-{test.value}", Checkbox).value = False
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert "Choose at least one test." in screen_text(app)
    assert store.count("sessions") == 0


async def test_setup_escape_and_button_cancel(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n", "escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("n")
        await pilot.click(app.screen.query_one("#cancel", Button))
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
    assert store.count("sessions") == 0


async def test_safety_cleared_by_clinician_goes_on(store: Store) -> None:
    session_id = store.create_session(SessionSetup(subject="S-2")).session_id
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("n", "n", "y", "n", "n")
        await pilot.pause()
        cleared = app.screen.query_one("#cleared-by", Input)
        assert cleared.display
        cleared.value = "Dr Lee"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    session = store.session(session_id)
    assert session.safety_passed and session.status is SessionStatus.IN_PROGRESS
    assert store.safety_answers(session_id)["spinal_condition"] is True


async def test_safety_needs_every_answer(store: Store) -> None:
    session_id = store.create_session(SessionSetup(subject="S-3")).session_id
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("n", "n", "ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SafetyScreen)
        assert "3 question(s) still to answer" in screen_text(app)
    assert store.safety_answers(session_id) == {}


async def test_rating_keys_arrows_home_end_and_enter_without_value(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        rating = app.screen.query_one("#rate-tester_stability", RatingScale)
        await pilot.press("enter")  # nothing chosen yet: nothing saved
        assert not rating.saved
        await pilot.press("right")
        assert rating.value == 6
        await pilot.press("left", "left")
        assert rating.value == 4
        await pilot.press("end")
        assert rating.value == 10
        await pilot.press("home")
        assert rating.value == 0
        await pilot.press("1", "0", "0")  # 1, then 10, then 0
        assert rating.value == 0
        await pilot.press("9", "right", "right")  # capped at 10
        assert rating.value == 10
    assert store.trials(session_id)[0].rating("tester_stability") is None


async def test_stop_dialog_escape_keeps_the_trial(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, StopDialog)
        await pilot.press("g")  # no reason yet: stays open
        assert isinstance(app.screen, StopDialog)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    assert store.trials(session_id)[0].outcome is Outcome.PENDING


async def test_stop_dialog_by_mouse(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("s")
        await pilot.pause()
        await pilot.click("#reasons", offset=(4, 3))  # third option: could not hold
        await pilot.pause()
        await pilot.click("#go-on")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    first = store.trials(session_id)[0]
    assert first.outcome is Outcome.STOPPED
    assert first.stop_reason is not None and first.stop_reason.value == "could_not_hold"


async def test_ranking_undo_and_mouse(store: Store) -> None:
    session_id = started_session(store, tests=(StressTest.VERTICAL,))
    rate_trials(store, session_id)
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, RankingScreen)
        await pilot.press("enter")  # incomplete: not saved
        await pilot.press("1", "2")  # ligament, muscle, (skeleton auto)
        await pilot.press("backspace")  # takes back muscle (and the automatic last place)
        await pilot.click("#pick-skeleton")
        await pilot.press("enter")
        await pilot.pause()
        assert "Subject: rank" in screen_text(app)
        await pilot.press("3", "2", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
    rankings = {r.role: r.order for r in store.rankings(session_id)}
    assert rankings[Role.TESTER] == (Posture.LIGAMENT, Posture.SKELETON, Posture.MUSCLE)
    assert rankings[Role.SUBJECT] == (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)
    assert store.session(session_id).status is SessionStatus.COMPLETE


async def test_ranking_only_postures_that_were_rated(store: Store) -> None:
    session_id = started_session(store, tests=(StressTest.VERTICAL,), record_discomfort=False)
    trials = store.trials(session_id)
    store.stop_trial(trials[0].trial_id, StopReason.PAIN)
    rate_trials(store, session_id)
    async with session_pilot(store, session_id) as (app, pilot):
        screen = app.screen
        assert isinstance(screen, RankingScreen)
        assert len(screen.query(Button)) == 2
        await pilot.press("1", "enter", "2", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
    assert all(len(r.order) == 2 for r in store.rankings(session_id))


async def test_open_a_finished_session_shows_its_summary(store: Store) -> None:
    session_id = started_session(store, tests=(StressTest.ANTERIOR,))
    store.end_session(session_id, SessionStatus.STOPPED)
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        assert "stopped early" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_resume_with_nothing_unfinished_says_so(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert any("Every session is finished" in n for n in notices(app))


async def test_key_bar_click_presses_the_key(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.screen.query_one(KeyBar)
        start = next(s for row, s, _e, key in bar._spans if key == "n" and row == 0)
        await pilot.click(bar, offset=(start + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)


def palette_offers(app: PostureTestApp) -> list[str]:
    """The commands the open command palette lists, as their shown text."""
    listed = app.screen.query_one(CommandList)
    return [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]


async def test_command_palette_offers_the_screen_actions(store: Store) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, TrialScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"stop tr")
        await pilot.pause(0.3)
        offered = palette_offers(app)
        assert any("Stop trial" in text for text in offered), offered
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, StopDialog)


async def test_command_palette_on_the_trial_screen_offers_the_inherited_home(
    store: Store,
) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, TrialScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"home")
        await pilot.pause(0.3)
        offered = palette_offers(app)
        assert any(text.startswith("Home") for text in offered), offered
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
    assert store.session(session_id).status is SessionStatus.IN_PROGRESS  # kept, resumable


async def test_home_help_and_quit(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Set up a new session" in screen_text(app)
        await pilot.press("escape", "q")
        await pilot.pause()
    assert app.return_code == 0
