"""End to end: the real `posturetest` command in a tmux pane, killed mid-trial and resumed.

A pair runs a whole session from the keyboard. Half-way through trial 2 the process is killed
with SIGKILL (a power cut, a closed laptop); the command is started again on the same file, the
session is resumed, and every rating confirmed before the kill must still be there. The screen
is read with `tmux capture-pane` and every key is followed by a wait for what it should show:
no fixed sleeps.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("tmux") is None,
        reason="tmux is not installed: the end-to-end test drives the app in a tmux pane",
    ),
]

WIDTH, HEIGHT = 120, 36
POLL = 0.1
STARTUP_TIMEOUT = 20.0
"""The first screen waits longer: a cold start imports Textual."""

STABILITY = "Tester: how stable and motionless did the subject stay?"
EASE = "Subject: how easily did you keep your position?"
DISCOMFORT = "Subject: how much discomfort did you feel?"
SAVED = "✓ saved"

POSTURETEST = Path(sys.executable).parent / "posturetest"


class Pane:
    """One tmux session on a private server: send keys to it, read its screen, wait on it."""

    def __init__(self, tmux: Tmux, target: str, exit_file: Path | None = None) -> None:
        self.tmux = tmux
        self.target = target
        self.exit_file = exit_file

    def screen(self) -> str:
        return self.tmux.run("capture-pane", "-p", "-t", self.target)

    def display(self, fmt: str) -> str:
        return self.tmux.run("display-message", "-p", "-t", self.target, fmt).strip()

    def key(self, key: str) -> None:
        """One key, by tmux name (`n`, `7`, `Enter`, `C-s`)."""
        self.tmux.run("send-keys", "-t", self.target, key)

    def keys(self, *keys: str) -> None:
        """Many keys in one tmux call: they reach the app with no pause between them."""
        self.tmux.run("send-keys", "-t", self.target, *keys)

    def type(self, text: str) -> None:
        """Literal text, not parsed as key names."""
        self.tmux.run("send-keys", "-t", self.target, "-l", text)

    def wait_until(self, predicate: Callable[[str], bool], what: str, timeout: float = 10.0) -> str:
        """Poll the screen every 0.1 s until `predicate` holds; fail with the last screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout:.0f} s waiting for {what}; the screen was:\n{screen}"
                )
            time.sleep(POLL)

    def wait_for(self, text: str, timeout: float = 10.0) -> str:
        return self.wait_until(lambda screen: text in screen, repr(text), timeout)

    def wait_exit(self, timeout: float = 10.0) -> int:
        """Wait until the app has ended; return its exit status (128 + n for signal n).

        The status comes from the wrapping shell (see `Tmux.start`): tmux's own
        `pane_dead_status` is sometimes left empty when the pane's tty closes first.
        """
        assert self.exit_file is not None
        deadline = time.monotonic() + timeout
        while True:
            text = self.exit_file.read_text() if self.exit_file.exists() else ""
            if text.endswith("\n"):
                return int(text)
            if time.monotonic() > deadline:
                pytest.fail(f"the app did not end within {timeout:.0f} s:\n{self.screen()}")
            time.sleep(POLL)

    def app_pid(self) -> int:
        """The posturetest process (its argv holds the script's path): the pane's shell's child."""
        pid = int(self.display("#{pane_pid}"))
        if _is_posturetest(pid):
            return pid
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and _parent(int(entry.name)) == pid:
                if _is_posturetest(int(entry.name)):
                    return int(entry.name)
        pytest.fail(f"no posturetest process in the pane (pane_pid {pid})")

    # -- the trial screen -------------------------------------------------------------------

    def rating(self, screen: str, label: str) -> str:
        """A scale as drawn: its question line (with any saved mark) and the line of numbers.

        '' if the question is not on screen.
        """
        lines = screen.splitlines()
        for i, line in enumerate(lines[:-1]):
            if label in line:
                return f"{line}\n{lines[i + 1]}"
        return ""

    def wait_rating(self, label: str, text: str) -> str:
        return self.wait_until(
            lambda screen: text in self.rating(screen, label), f"{text!r} in the scale {label!r}"
        )

    def wait_fresh_trial(self) -> str:
        """Wait until all three scales are blank: nothing chosen, nothing saved."""

        def blank(screen: str) -> bool:
            lines = [self.rating(screen, label) for label in (STABILITY, EASE, DISCOMFORT)]
            return all(line and "[" not in line and "✓" not in line for line in lines)

        return self.wait_until(blank, "three blank rating scales")

    def rate(self, label: str, value: int, then: str | None = None) -> None:
        """Type `value` digit by digit (10 is `1`, `0`) and confirm it with Enter.

        Each digit is waited for on the scale before the next key. After Enter, wait for the
        scale's saved mark, or for `then` when confirming moves on to another trial or screen.
        """
        typed = ""
        for digit in str(value):
            typed += digit
            self.key(digit)
            self.wait_rating(label, f"[{typed}]")
        self.key("Enter")
        if then is None:
            self.wait_rating(label, SAVED)
        else:
            self.wait_for(then)

    def rank(self, picks: tuple[int, int], names: tuple[str, str], then: str) -> None:
        """Pick places 1 and 2 by number (the third follows), check each, then Enter."""
        self.wait_for("for place 1")
        for place, (pick, name) in enumerate(zip(picks, names, strict=True), start=1):
            self.key(str(pick))
            self.wait_for(f"{place}. {name}")
        self.wait_for("Enter saves this ranking")
        self.key("Enter")
        self.wait_for(then)


class Tmux:
    """A tmux server of our own (`tmux -L <unique>`): never touches anyone else's."""

    def __init__(self, socket_name: str) -> None:
        self.socket_name = socket_name
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env["TERM"] = "xterm-256color"
        self.env["POSTURETEST_STATION"] = "e2e"

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket_name, "-f", os.devnull, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"tmux {' '.join(args)} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def start(
        self,
        name: str,
        command: tuple[str, ...],
        exit_file: Path,
        size: tuple[int, int] = (WIDTH, HEIGHT),
    ) -> Pane:
        """Run `command` as the only pane of a new detached session.

        A shell runs it and writes its exit status to `exit_file` when it ends. TERM inside
        a pane comes from `default-terminal`, not from the environment; `remain-on-exit`
        keeps the pane (and its last screen) after the app has gone.
        """
        script = f"{shlex.join(command)}; echo $? > {shlex.quote(str(exit_file))}"
        self.run(
            "set-option", "-g", "default-terminal", "xterm-256color", ";",
            "set-option", "-g", "remain-on-exit", "on", ";",
            "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]),
            "-e", "POSTURETEST_STATION=e2e",
            "sh", "-c", script,
        )  # fmt: skip
        return Pane(self, f"={name}:", exit_file)

    def kill_server(self) -> None:
        """Stop the server (and whatever still runs in it) and remove its socket file."""
        uid = os.getuid()
        socket = Path(os.environ.get("TMUX_TMPDIR") or "/tmp", f"tmux-{uid}", self.socket_name)
        subprocess.run(
            ["tmux", "-L", self.socket_name, "kill-server"],
            env=self.env,
            capture_output=True,
            timeout=10,
            check=False,
        )
        socket.unlink(missing_ok=True)


def _is_posturetest(pid: int) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return os.fsencode(POSTURETEST) in argv


def _parent(pid: int) -> int | None:
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat_line.rsplit(")", 1)[1].split()[1])


def read_only(db: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True))


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    server = Tmux(f"posturetest-e2e-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield server
    finally:
        server.kill_server()


def test_session_survives_sigkill_and_resumes_to_summary(tmux: Tmux, tmp_path: Path) -> None:
    assert POSTURETEST.exists(), f"no console script at {POSTURETEST}"
    db = tmp_path / "e2e.db"
    command = (str(POSTURETEST), "--db", str(db))

    # 1. Home, then a new session for E2E-01.
    app = tmux.start("first", command, tmp_path / "first.exit")
    app.wait_for("No sessions yet", timeout=STARTUP_TIMEOUT)
    app.key("n")
    app.wait_for("New session")
    app.wait_for("Subject code")
    app.type("E2E-01")
    app.wait_for("E2E-01")
    app.key("C-s")

    # 2. The safety check: no to all five questions.
    app.wait_for("Before any pressure: safety check")
    app.wait_for("5 question(s) still to answer")
    for left in (4, 3, 2, 1):
        app.key("n")
        app.wait_for(f"{left} question(s) still to answer")
    app.key("n")
    app.wait_for("All clear")
    app.key("C-s")

    # 3. Trial 1 in full, then two of trial 2's three ratings.
    app.wait_for("Trial 1 of 6")
    app.wait_for(STABILITY)
    app.rate(STABILITY, 7)
    app.rate(EASE, 10)
    app.rate(DISCOMFORT, 2, then="Trial 2 of 6")
    app.wait_fresh_trial()
    app.rate(STABILITY, 4)
    app.rate(EASE, 6)
    # Both saved marks of trial 2 on screen (a toast may cover one for up to 2 s).
    app.wait_until(
        lambda screen: (
            screen.count(SAVED) == 2
            and "[4]" in app.rating(screen, STABILITY)
            and "[6]" in app.rating(screen, EASE)
        ),
        "trial 2's second '✓ saved'",
    )

    with read_only(db) as conn:
        rows = conn.execute(
            "SELECT seq, outcome, tester_stability, subject_ease, discomfort"
            " FROM trials WHERE seq IN (1, 2) ORDER BY seq"
        ).fetchall()
    assert rows == [(1, "rated", 7, 10, 2), (2, "pending", 4, 6, None)]

    # 4. Pull the plug: SIGKILL, no chance to clean up.
    pid = app.app_pid()
    os.kill(pid, signal.SIGKILL)
    assert app.wait_exit() == 128 + signal.SIGKILL

    # 5. Start again on the same file and resume.
    app = tmux.start("second", command, tmp_path / "second.exit")
    app.wait_until(
        lambda screen: any(
            "E2E-01" in line and "in progress" in line and "1 of 6" in line
            for line in screen.splitlines()
        ),
        "E2E-01 listed as in progress with 1 of 6 trials done",
        timeout=STARTUP_TIMEOUT,
    )
    app.key("r")
    app.wait_for("Trial 2 of 6")
    app.wait_rating(STABILITY, "[4]")
    app.wait_rating(STABILITY, SAVED)
    app.wait_rating(EASE, "[6]")
    app.wait_rating(EASE, SAVED)
    assert "✓" not in app.rating(app.screen(), DISCOMFORT)
    app.rate(DISCOMFORT, 3, then="Trial 3 of 6")

    for seq in range(3, 7):
        app.wait_for(f"Trial {seq} of 6")
        app.wait_fresh_trial()
        app.rate(STABILITY, 8)
        app.rate(EASE, 5)
        then = f"Trial {seq + 1} of 6" if seq in (4, 5) else "RANK THE POSTURES"
        app.rate(DISCOMFORT, 1, then=then)
        if then == "RANK THE POSTURES":
            app.wait_for("Tester: rank the postures")
            app.rank((3, 1), ("Skeleton type", "Ligament type"), then="Subject: rank the postures")
            after = "Trial 4 of 6" if seq == 3 else "SESSION SUMMARY"
            app.rank((3, 2), ("Skeleton type", "Muscle type"), then=after)

    app.wait_for("· complete")
    app.key("C-q")
    assert app.wait_exit() == 0

    # 6. What the file holds.
    with read_only(db) as conn:
        statuses = conn.execute("SELECT status, station FROM sessions").fetchall()
        trials = conn.execute(
            "SELECT seq, outcome, tester_stability, subject_ease, discomfort"
            " FROM trials ORDER BY seq"
        ).fetchall()
        corrections = conn.execute("SELECT count(*) FROM corrections").fetchone()[0]
        rankings = conn.execute("SELECT count(*) FROM rankings").fetchone()[0]
    assert statuses == [("complete", "e2e")]
    assert [t[0] for t in trials] == [1, 2, 3, 4, 5, 6]
    assert trials[0] == (1, "rated", 7, 10, 2)
    assert trials[1] == (2, "rated", 4, 6, 3)
    assert all(t[1] == "rated" for t in trials), trials
    assert corrections == 0
    assert rankings == 12
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
