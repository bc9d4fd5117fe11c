"""Fixtures shared by the TUI tests: a store on a temporary file, and an app on it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from pathlib import Path

import pytest
from textual.pilot import Pilot

from posturetest.domain import SAFETY_KEYS, Outcome, SessionSetup
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp

SIZE = (120, 36)
"""Every Pilot test and snapshot runs at this terminal size."""


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "tui.db"


@pytest.fixture
def store(db_file: Path) -> Iterator[Store]:
    s = Store(db_file)
    yield s
    s.close()


def started_session(store: Store, **setup: object) -> str:
    """A session past the safety check, ready for its first trial."""
    options: dict[str, object] = {"subject": "S-001"}
    options.update(setup)
    session = store.create_session(SessionSetup(**options), started_at="2026-11-24T09:15:00Z")  # type: ignore[arg-type]
    store.record_safety(session.session_id, {k: False for k in SAFETY_KEYS})
    return session.session_id


def rate_trials(store: Store, session_id: str, upto: int | None = None) -> None:
    """Rate pending trials in order (values differ by posture), optionally up to a seq."""
    base = {"ligament": 3, "muscle": 5, "skeleton": 8}
    session = store.session(session_id)
    for trial in store.trials(session_id):
        if upto is not None and trial.seq > upto:
            break
        if trial.outcome is not Outcome.PENDING:
            continue
        value = base[trial.posture.value]
        for scale in session.scales:
            offset = -1 if scale.name == "subject_ease" else 0
            rating = 10 - value if scale.name == "discomfort" else value + offset
            store.record_rating(trial.trial_id, scale.name, rating)


def notices(app: object) -> list[str]:
    """The messages of the toasts the app is showing (Textual keeps them in `_notifications`;
    its screenshot export leaves toasts out)."""
    return [n.message for n in app._notifications]  # type: ignore[attr-defined]


@asynccontextmanager
async def session_pilot(
    store: Store, session_id: str
) -> AsyncIterator[tuple[PostureTestApp, Pilot[int]]]:
    """The app opened on a session's next step, as Enter on home would."""
    app = PostureTestApp(store)
    async with app.run_test(size=SIZE) as pilot:
        app.show_next_step(session_id)
        await pilot.pause()
        yield app, pilot


@contextmanager
def small_disk(folder: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs of our own at `folder` (needs root and mount; the test is skipped else)."""
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a small disk of our own needs root (mount -t tmpfs)")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill_disk(folder: Path) -> Path:
    """Fill the disk holding `folder` to the last byte; the filler file's path."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
    finally:
        os.close(fd)
    return filler


def screen_text(app: object) -> str:
    """What the terminal shows right now, as plain text lines (toasts included)."""
    screen = app.screen  # type: ignore[attr-defined]
    strips = screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips)
