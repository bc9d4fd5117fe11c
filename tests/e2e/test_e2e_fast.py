"""End to end at 80x24: a whole blind session typed in one burst, as a fast typist or a paste
would send it (one `tmux send-keys` call: no pause between the keys), with a correction; then
the app is killed with SIGKILL, started again, and the file holds exactly what was typed."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

from tests.e2e.test_e2e_tmux import POSTURETEST, STARTUP_TIMEOUT, Tmux, pytestmark, tmux  # noqa: F401

SMALL = (80, 24)

WHOLE_SESSION = (
    # home -> setup: subject, tester; untick the anterior test, tick blind, untick discomfort
    "n", "E2E-FAST", "Tab", "AK",
    "Tab", "Tab", "Tab", "Tab", "Space",  # position, repetitions, vertical, anterior: off
    "Tab", "Tab", "Space",  # order, blind: on
    "Tab", "Space",  # discomfort: off
    "C-s",
    # safety: five noes, Enter continues
    "nnnnn", "Enter",
    # trial 1 (blind): tester 7, subject 10 (1 then 0), the reveal, Enter
    "7", "Enter", "1", "0", "Enter", "Enter",
    # trial 2: tester 3, subject 4; at the reveal, correct the tester's 3 to 5 with a reason
    "3", "Enter", "4", "Enter",
    "u", "5", "Enter", "Enter", "typo", "Enter", "Enter",
    # trial 3: tester 8, subject 9
    "8", "Enter", "9", "Enter", "Enter",
    # rankings: tester skeleton, ligament, muscle; subject skeleton, muscle, ligament
    "3", "1", "Enter", "3", "2", "Enter",
)  # fmt: skip


def test_a_whole_session_typed_in_one_burst_at_80x24(tmux: Tmux, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "fast.db"
    command = (str(POSTURETEST), "--db", str(db))
    app = tmux.start("fast", command, tmp_path / "fast.exit", size=SMALL)
    app.wait_for("No sessions yet", timeout=STARTUP_TIMEOUT)
    app.keys(*WHOLE_SESSION)
    screen = app.wait_for("SESSION SUMMARY", timeout=30)
    assert "tester and subject agree, skeleton type held best" in screen
    assert screen.rstrip().endswith("Help")

    os.kill(app.app_pid(), signal.SIGKILL)
    app.wait_exit()
    again = tmux.start("again", command, tmp_path / "again.exit", size=SMALL)
    home = again.wait_for("E2E-FAST", timeout=STARTUP_TIMEOUT)
    assert "complete" in home and "3 of 3" in home

    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        session = conn.execute(
            "SELECT tester, blind, tests, record_discomfort, status FROM sessions"
        ).fetchone()
        trials = conn.execute(
            "SELECT seq, posture, outcome, tester_stability, subject_ease FROM trials ORDER BY seq"
        ).fetchall()
        corrections = conn.execute(
            "SELECT field, old_value, new_value, reason FROM corrections"
        ).fetchall()
        rankings = conn.execute("SELECT role, posture FROM rankings ORDER BY role, rank").fetchall()
    assert session == ("AK", 1, "vertical", 0, "complete")
    assert [(seq, outcome, s, e) for seq, _p, outcome, s, e in trials] == [
        (1, "rated", 7, 10),
        (2, "rated", 5, 4),
        (3, "rated", 8, 9),
    ]
    assert corrections == [("tester_stability", 3, 5, "typo")]
    order = [p for _s, p, *_ in trials]
    tester = [p for role, p in rankings if role == "tester"]
    subject = [p for role, p in rankings if role == "subject"]
    assert tester == ["skeleton", "ligament", "muscle"] and subject == [
        "skeleton",
        "muscle",
        "ligament",
    ]
    assert sorted(order) == ["ligament", "muscle", "skeleton"]
