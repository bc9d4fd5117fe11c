"""Issue 10: a default 80x24 terminal, blind pairs, fast hands, and steps that say the truth.

Keys sent "without pauses" are posted to the app all at once, the way a terminal delivers a
paste or a scanner's burst, before the app has handled the first of them.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from time import monotonic

import pytest
from textual import events
from textual.pilot import Pilot
from textual.widgets._toast import Toast

from posturetest.domain import SAFETY_KEYS, Posture, Role, SessionSetup, StressTest
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.dialogs import CorrectDialog, StopDialog
from posturetest.tui.dialogs.help import HelpScreen
from posturetest.tui.keys import all_bindings, load_keymap
from posturetest.tui.screens.home import HomeScreen
from posturetest.tui.screens.ranking import RankingScreen
from posturetest.tui.screens.safety import SafetyScreen
from posturetest.tui.screens.setup import SetupScreen
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.screens.trial import TrialScreen
from posturetest.tui.widgets.keybar import shown_keys
from tests.factories import rate_trials, started_session
from tests.functional.pilot import notices, terminal_text

SMALL = (80, 24)
LARGE = (120, 36)


def burst(app: PostureTestApp, *keys: str) -> None:
    """Post every key at once: nothing is handled before the last one is queued."""
    for key in keys:
        character = key if len(key) == 1 else {"tab": "\t", "enter": "\r"}.get(key)
        app.post_message(events.Key(key, character))


async def settle(pilot: Pilot[int], timeout: float = 20.0) -> None:
    """Wait until every key posted has been handled whole (a loaded machine takes longer)."""
    app = pilot.app
    assert isinstance(app, PostureTestApp)
    await pilot.pause()
    deadline = monotonic() + timeout
    while app.keys_pending and monotonic() < deadline:
        await pilot.pause(0.02)
    await pilot.pause()


def sessions(store: Store) -> list[tuple[str, str]]:
    return list(
        store.db.execute(
            "SELECT sub.code, s.tester FROM sessions s JOIN subjects sub USING (subject_id) "
            "ORDER BY s.started_at, s.rowid"
        )
    )


# -- fast hands -------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(3))
async def test_keys_typed_ahead_land_in_their_fields(store: Store, attempt: int) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        burst(app, "n", *"F-001", "tab", *"Z1", "ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SafetyScreen)
    assert sessions(store) == [("F-001", "Z1")]


async def test_a_pasted_row_with_a_tab_fills_both_fields(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("n")
        app.post_message(events.Paste("F-002\tZ2\n"))
        await settle(pilot)
        assert isinstance(app.screen, SafetyScreen)
    assert sessions(store) == [("F-002", "Z2")]


async def test_a_scanner_code_ending_in_enter_goes_on_to_the_tester(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        burst(app, "n", *"S-014", "enter", *"AK", "enter")
        await settle(pilot)
        assert isinstance(app.screen, SafetyScreen)
    assert sessions(store) == [("S-014", "AK")]


async def test_a_whole_trial_typed_at_once_is_stored_as_typed(store: Store) -> None:
    session_id = started_session(store, record_discomfort=False)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        burst(app, "7", "enter", "1", "0", "enter", "3", "enter", "4", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TrialScreen) and app.screen.trial.seq == 3
    first, second = store.trials(session_id)[:2]
    assert (first.rating("tester_stability"), first.rating("subject_ease")) == (7, 10)
    assert (second.rating("tester_stability"), second.rating("subject_ease")) == (3, 4)


# -- what is typed is what is stored ----------------------------------------------------------


async def test_a_code_too_long_is_refused_visibly_not_cut(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("n", *("A" * 33))
        await pilot.pause()
        assert "too long: 33 characters, at most 32" in terminal_text(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SetupScreen)
    assert sessions(store) == []


async def test_a_space_in_a_code_is_named(store: Store) -> None:
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("n", *"S 014", "ctrl+s")
        await pilot.pause()
        text = terminal_text(app)
        assert "no spaces" in text and "a subject code is needed" not in text
    assert sessions(store) == []


# -- truthful steps ---------------------------------------------------------------------------


async def test_after_a_yes_the_cursor_is_in_the_clinician_field(store: Store) -> None:
    session = store.create_session(SessionSetup(subject="S-020"))
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session.session_id)
        await pilot.pause()
        await pilot.press("y", *"nnnn")
        await pilot.pause()
        assert app.focused is not None and app.focused.id == "cleared-by"
        assert "type the clinician who cleared the subject" in terminal_text(app)
        await pilot.press(*"Dr Lee", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    cleared = store.db.execute(
        "SELECT cleared_by FROM sessions WHERE session_id = ?", (session.session_id,)
    ).fetchone()
    assert cleared == ("Dr Lee",)


async def test_enter_continues_the_safety_check(store: Store) -> None:
    session = store.create_session(SessionSetup(subject="S-021"))
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session.session_id)
        await pilot.pause()
        await pilot.press(*"nnnnn", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)


async def test_home_counts_rated_trials_and_shows_the_rest_apart(store: Store) -> None:
    stopped = store.create_session(SessionSetup(subject="S-030"))
    store.record_safety(stopped.session_id, {k: k == SAFETY_KEYS[0] for k in SAFETY_KEYS})
    half = started_session(store, subject="S-031")
    rate_trials(store, half, upto=2)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        await pilot.pause()
        text = terminal_text(app)
    assert re.search(r"S-030 .* 0 of 6, 6 skipped", text)
    assert re.search(r"S-031 .* 2 of 6", text)
    assert "6 of 6" not in text


async def test_session_kept_is_said_only_when_it_can_be_resumed(store: Store) -> None:
    done = started_session(store, subject="S-040", tests=(StressTest.VERTICAL,))
    rate_trials(store, done)
    for role in Role:
        store.record_ranking(done, StressTest.VERTICAL, role, list(Posture))
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        app.show_next_step(done)
        await pilot.pause()
        assert isinstance(app.screen, SummaryScreen)
        app.clear_notifications()
        await pilot.press("escape")
        await pilot.pause()
        assert not any("resume" in n for n in notices(app))
        app.show_next_step(started_session(store, subject="S-041"))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert any("Session kept: resume it from home" in n for n in notices(app))


async def test_blind_correction_never_shows_the_other_rating(store: Store) -> None:
    session_id = started_session(store, blind=True, record_discomfort=False)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("7", "enter")  # the tester's 7; now the subject's turn
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, CorrectDialog)
        assert "[7]" not in terminal_text(app)
        assert any("No rated trial to correct yet" in n for n in notices(app))
        await pilot.press("4", "enter")  # both in: revealed
        await pilot.pause()
        assert "⏎ Next" in terminal_text(app)  # the reveal shows Enter in the key bar
        await pilot.press("u")
        await pilot.pause()
        assert isinstance(app.screen, CorrectDialog)
        assert "Correct trial 1: vertical test" in terminal_text(app)


async def test_the_testers_ranking_asks_the_subject_to_look_away(store: Store) -> None:
    session_id = started_session(store, blind=True, tests=(StressTest.VERTICAL,))
    rate_trials(store, session_id)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        assert isinstance(app.screen, RankingScreen)
        assert "(subject, look away)" in terminal_text(app)
        await pilot.press("3", "1", "enter")
        await pilot.pause()
        text = terminal_text(app)
        assert "(tester, look away)" in text and "1. Skeleton" not in text


async def test_a_note_for_the_current_trial_is_stored_and_exported(
    store: Store, db_file: Path
) -> None:
    session_id = started_session(store)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        await pilot.press(*"left knee sore", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    assert store.trials(session_id)[0].note == "left knee sore"
    out = subprocess.run(
        [sys.executable, "-m", "posturetest", "export", "--db", str(db_file)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "left knee sore" in out


async def test_other_as_a_stop_reason_asks_for_a_note(store: Store) -> None:
    session_id = started_session(store)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("s", "4", "g")
        await pilot.pause()
        assert isinstance(app.screen, StopDialog)
        assert any("needs a short note" in n for n in notices(app))
        await pilot.press("n", *"phone rang", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TrialScreen)
    first = store.trials(session_id)[0]
    assert first.outcome.value == "stopped" and first.note == "phone rang"


async def test_discard_from_home_keeps_the_session_marked(store: Store, db_file: Path) -> None:
    session_id = started_session(store, subject="OOPS-1")
    rate_trials(store, session_id, upto=1)
    store.record_rating(store.trials(session_id)[1].trial_id, "tester_stability", 6)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert "discarded" in terminal_text(app)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        assert any("Every session is finished" in n for n in notices(app))
    with sqlite3.connect(db_file) as conn:
        status, reason = conn.execute(
            "SELECT status, end_reason FROM sessions WHERE session_id = ?", (session_id,)
        ).fetchone()
        audit = conn.execute("SELECT DISTINCT reason FROM corrections").fetchall()
    assert (status, reason) == ("stopped", "discarded")
    assert audit == [("session discarded",)]


async def test_one_notice_at_a_time_away_from_the_ratings(store: Store) -> None:
    session_id = started_session(store)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL, notifications=True) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        app.notify("first")
        app.notify("second")
        await pilot.pause()
        await pilot.pause(0.2)
        assert notices(app) == ["second"]
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 1
        ratings = app.screen.query_one("#ratings").region
        assert toasts[0].region.bottom <= ratings.y  # above the scales, never over them


# -- keys -------------------------------------------------------------------------------------


def test_every_binding_has_an_id() -> None:
    missing = [f"{owner.__name__}: {b.key}" for owner, b in all_bindings() if not b.id]
    assert missing == []


async def test_a_keys_file_remaps_and_the_bar_and_help_follow(store: Store) -> None:
    session_id = started_session(store)
    app = PostureTestApp(store, keymap={"stop-trial": "x"})
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        assert " x Stop trial" in terminal_text(app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert re.search(r"\bx\s+Pain, discomfort", terminal_text(app))
        assert not re.search(r"\bs\s+Pain, discomfort", terminal_text(app))
        await pilot.press("escape", "x")
        await pilot.pause()
        assert isinstance(app.screen, StopDialog)


def test_a_bad_keys_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text('stop-trail = "x"\n')
    with pytest.raises(ValueError, match="stop-trail"):
        load_keymap(keys)
    result = subprocess.run(
        [sys.executable, "-m", "posturetest", "--db", str(tmp_path / "a.db")],
        capture_output=True,
        text=True,
        env={"POSTURETEST_KEYS": str(keys), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "stop-trail" in result.stderr
    assert not (tmp_path / "a.db").exists()


# -- every screen at 80x24 --------------------------------------------------------------------


def _words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z][A-Za-z'-]{2,}", text))


async def _screen_at(store: Store, size: tuple[int, int], name: str) -> str:
    app = PostureTestApp(store)
    app.db_label = "~/study.db"  # the same file name at both sizes (a long path is shortened)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if name == "setup":
            await pilot.press("n")
        elif name == "safety":
            session = store.create_session(SessionSetup(subject=f"SF-{size[0]}"))
            app.show_next_step(session.session_id)
            await pilot.pause()
            await pilot.press("y", *"nnnn")
        elif name in ("trial", "stop", "correct"):
            session_id = started_session(store, subject=f"TR-{size[0]}", tester="AK")
            rate_trials(store, session_id, upto=1)
            app.show_next_step(session_id)
            await pilot.pause()
            await pilot.press({"trial": "7", "stop": "s", "correct": "u"}[name])
        elif name == "summary":
            session_id = started_session(store, subject=f"SM-{size[0]}", tester="AK")
            rate_trials(store, session_id)
            for test in StressTest:
                for role in Role:
                    store.record_ranking(session_id, test, role, list(Posture)[::-1])
            app.show_next_step(session_id)
        elif name == "ranking":
            session_id = started_session(
                store, subject=f"RK-{size[0]}", tests=(StressTest.VERTICAL,)
            )
            rate_trials(store, session_id)
            app.show_next_step(session_id)
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        assert shown_keys(app.screen)[-1].description == "Help"
        text = terminal_text(app)
        assert text.rstrip().endswith("Help")  # the key bar, never cut before ? Help
        if name in ("stop", "correct"):  # the dialog's own words (it covers the trial)
            box = app.screen.query_one("Vertical").region
            lines = text.splitlines()[box.y : box.bottom]
            text = "\n".join(line[box.x : box.right] for line in lines)
        return text


@pytest.mark.parametrize(
    "name", ["home", "setup", "safety", "trial", "stop", "correct", "ranking", "summary"]
)
async def test_every_word_at_120x36_is_on_screen_at_80x24(tmp_path: Path, name: str) -> None:
    texts = []
    for size in (LARGE, SMALL):
        store = Store(tmp_path / f"{size[0]}.db")
        try:
            texts.append(await _screen_at(store, size, name))
        finally:
            store.close()
    large, small = texts
    missing = _words(large) - _words(small) - {"LARGE"}
    assert not missing, f"{name}: at 80x24 these words are gone: {sorted(missing)}"


async def test_the_readme_sketch_is_the_trial_screen_at_80x24(store: Store) -> None:
    """The README's screen sketch is what the app draws (its key bar, its header, its scales)."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    sketch = readme.split("## A trial, as it looks on screen", 1)[1].split("```text\n", 1)[1]
    sketch_lines = sketch.split("```", 1)[0].rstrip("\n").splitlines()
    session_id = started_session(store, subject="S-014", tester="AK")
    rate_trials(store, session_id, upto=1)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.db_label = "~/.local/share/posturetest/posturetest.db"
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("7", "enter", "8")
        await pilot.pause()
        app.clear_notifications()
        await pilot.pause()
        drawn = [line for line in terminal_text(app).splitlines() if line.strip()]
    assert sketch_lines[1:] == drawn[1:]  # the header's path is the sketch's own


async def test_ticks_and_choices_show_without_colour(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = PostureTestApp(store)
    assert app.no_color  # Textual draws in monochrome
    async with app.run_test(size=SMALL) as pilot:
        await pilot.press("n")
        await pilot.pause()
        text = terminal_text(app)
        assert "▐ ▌ Blind" in text and "▐✓▌ Ask the subject about discomfort" in text
        assert "▐●▌ Sitting" in text and "▐○▌ Standing" in text
        app.screen.query_one("#blind").focus()
        await pilot.press("space")
        await pilot.pause()
        assert "▐✓▌ Blind" in terminal_text(app)


async def test_where_question_mark_is_text_f1_is_help(store: Store) -> None:
    session_id = started_session(store)
    app = PostureTestApp(store)
    async with app.run_test(size=SMALL) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        await pilot.press("n", *"why?")
        await pilot.pause()
        assert terminal_text(app).rstrip().endswith("F1 Help")
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "enter")
        await pilot.pause()
    assert store.trials(session_id)[0].note == "why?"


async def test_a_long_database_path_keeps_the_name_and_the_file_in_view(tmp_path: Path) -> None:
    deep = tmp_path / ("a-folder-with-a-long-name-" * 4) / "study-site-2.db"
    deep.parent.mkdir()
    store = Store(deep)
    try:
        app = PostureTestApp(store)
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            top = terminal_text(app).splitlines()[0]
    finally:
        store.close()
    assert top.lstrip().startswith("posturetest") and top.endswith("study-site-2.db")
    assert "…" in top and len(top) <= SMALL[0]
