"""Pilot tests for the results in the TUI: the terminal chart, the save keys, the results screen."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from posturetest.domain import Posture, Role, SessionStatus, StressTest
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.screens.home import HomeScreen
from posturetest.tui.screens.results import ResultsScreen
from posturetest.tui.screens.summary import SummaryScreen
from posturetest.tui.widgets.chart import ComparisonChart, StressTestChart, rgb
from tests.factories import rate_trials, started_session
from tests.functional.pilot import SIZE, notices, screen_text, session_pilot


def complete_session(store: Store, subject: str = "S-014") -> str:
    session_id = started_session(store, subject=subject, tester="AK")
    rate_trials(store, session_id)
    best_first = (Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT)
    for test in StressTest:
        store.record_ranking(session_id, test, Role.TESTER, best_first)
        store.record_ranking(session_id, test, Role.SUBJECT, best_first)
    return session_id


def test_posture_colours_are_the_okabe_ito_ones() -> None:
    assert rgb("#E69F00") == (230, 159, 0)
    assert rgb("#009E73", 0.5) == (0, 79, 58)


async def test_summary_draws_the_comparison_with_the_means(store: Store) -> None:
    session_id = complete_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        assert isinstance(app.screen, SummaryScreen)
        chart = app.screen.query_one(ComparisonChart)
        text = screen_text(app)
        assert "Vertical test" in text and "Anterior test" in text
        assert "Subject: ease" in text and "Tester: stability" in text
        assert len(chart.query(StressTestChart)) == 2
        # the table of means sits below the charts, on the same screen
        # rate_trials gives ligament 3, muscle 5, skeleton 8 (subject one less)
        for value in ("3.0", "5.0", "8.0", "2.0", "4.0", "7.0"):
            assert value in text
        assert len(chart.summaries) == 2


@pytest.mark.parametrize(
    ("key", "suffix"), [("c", "_chart.png"), ("r", "_report.pdf"), ("e", "_trials.csv")]
)
async def test_save_keys_write_files_and_say_where(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, suffix: str
) -> None:
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(tmp_path))
    session_id = complete_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press(key)
        await app.workers.wait_for_complete()
        await pilot.pause()
        saved = list(tmp_path.glob(f"S-014_*{suffix}"))
        assert len(saved) == 1
        assert any(f"Saved {saved[0]}" in n for n in notices(app))
    data = saved[0].read_bytes()
    if suffix.endswith(".png"):
        assert data.startswith(b"\x89PNG")
    elif suffix.endswith(".pdf"):
        assert len(PdfReader(saved[0]).pages) == 1
    else:
        assert data.decode().count("\n") == 1 + len(store.trials(session_id))


async def test_save_failure_is_a_notice_not_a_crash(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(tmp_path / "no" / "such" / "folder"))
    session_id = complete_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert any("Could not save" in n for n in notices(app))
        assert isinstance(app.screen, SummaryScreen)


async def test_results_screen_shows_statistics_and_history(store: Store) -> None:
    for code in ("S-1", "S-2", "S-3"):
        store.end_session(complete_session(store, code), SessionStatus.COMPLETE)
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ResultsScreen)
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "vertical" in text.lower() and "skeleton" in text.lower()
        await pilot.press("slash", *"s-2", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = screen_text(app)
        assert "Subject s-2" in text and "2026-11-24 09:15:00" in text
        await pilot.press("escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
