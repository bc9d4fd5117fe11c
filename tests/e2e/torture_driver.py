"""A pair at the keyboard, forever: the real app, headless, driven key by key until killed.

Run by tests/e2e/test_torture.py as a subprocess, which kills it with SIGKILL at a random moment:

    python tests/e2e/torture_driver.py --db DB --seed N --log LOGFILE

It opens `PostureTestApp(Store(DB))` with Textual's `run_test` and uses it like a user would:
`n` for a new session (subject code, ctrl+s), the safety check (`n` five times, ctrl+s), each
rating typed as digits and confirmed with Enter, both rankings after each test, `c` / `e` on the
summary (chart, CSV) and back home; `r` on home resumes the newest unfinished session (one the
previous, killed, driver left half done). Between ratings, at seeded random moments, it goes
home, opens the results screen (`s`: statistics computed in a worker thread on a second
connection), waits for them or only glances at the screen, goes back and resumes with `r`.

Keys go in as Pilot sends them (Key events through the headless driver), but each is followed
by a wait for what it should show (a digit on the scale, a letter in the field, the next
screen) instead of Pilot's wait for an idle CPU, which costs about 0.1 s a key here.

After each Enter that confirms a rating it waits until the screen shows that scale as saved
("✓ saved", or the trial has moved on) and only then appends `trial_id scale_name value` to
LOGFILE: the log holds exactly the ratings the user was told are saved. "ready" goes to stdout
once home is painted. Anything unexpected (a wait that times out, a screen that never comes)
ends the driver with exit status 3 and a line on stderr, so the test can tell it from a kill.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.widgets import Input

from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.screens.home import HomeScreen
from posturetest.tui.screens.ranking import RankingScreen
from posturetest.tui.screens.results import ResultsScreen
from posturetest.tui.screens.safety import SafetyScreen
from posturetest.tui.screens.setup import SetupScreen
from posturetest.tui.screens.summary import SummaryScreen, output_name
from posturetest.tui.screens.trial import TrialScreen
from posturetest.tui.widgets.rating import RatingScale
from posturetest.tui.widgets.yesno import YesNo

SIZE = (120, 36)
TIMEOUT = 30.0
"""Longer than any cycle of the test: a kill always comes first unless the app is stuck."""
SAVED = "✓ saved"
COMPUTING = "Computing the statistics..."

P_RESULTS_FROM_HOME = 0.35
"""On home, before resuming or starting a session: look at the results first."""
P_WAIT_FOR_STATS = 0.2
"""On the results screen: wait for the statistics (the first time in a process, SciPy's import
takes a second or two); otherwise go back after a glance."""
P_DETOUR = 0.12
"""Before a rating: Esc, home, the results screen, Esc, `r` to resume."""
P_SAVE = {"e": 0.7, "c": 0.35}
"""On the summary: export the session's CSV, save the chart (each a worker on its own store)."""


class DriverError(Exception):
    """The app did not do what a user would have seen it do."""


class Driver:
    def __init__(
        self, app: PostureTestApp, pilot: Pilot[int], seed: int, log: IO[str], err: IO[str]
    ) -> None:
        self.app = app
        self.pilot = pilot
        self.seed = seed
        self.rng = random.Random(seed)
        self.log = log
        self.err = err
        self.subjects = 0
        self.ratings = 0

    def note(self, text: str) -> None:
        """A line of what happened, on stderr (the test keeps it and shows it on failure)."""
        self.err.write(f"{time.monotonic():.3f} {text}\n")
        self.err.flush()

    # -- waiting ------------------------------------------------------------------------------

    async def until(
        self, predicate: Callable[[], bool], what: str, timeout: float = TIMEOUT
    ) -> None:
        """Let the app run until `predicate` holds: first as soon as the screen has handled
        its messages, then in short pauses (a worker thread may be what we wait for)."""
        deadline = time.monotonic() + timeout
        spins = 0
        while not predicate():
            if time.monotonic() > deadline:
                raise DriverError(
                    f"timed out after {timeout:.0f} s waiting for {what} "
                    f"(screen {type(self.app.screen).__name__})"
                )
            await self.pilot.pause(0 if spins < 50 else 0.005)
            spins += 1

    async def key(self, key: str) -> None:
        """One key, as Pilot's `press` sends it (a Key event through the headless driver), then
        one turn for the screen to handle its messages; callers wait `until` what it shows."""
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        char: str | None
        try:
            char = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(self.app)
        driver = self.app._driver
        assert driver is not None
        driver.send_message(event)
        await self.pilot.pause(0)

    def on(self, kind: type[Any]) -> bool:
        return isinstance(self.app.screen, kind)

    def new_notices(self, before: set[int]) -> list[str]:
        return [n.message for n in self.app._notifications if id(n) not in before]

    def notice_ids(self) -> set[int]:
        return {id(n) for n in self.app._notifications}

    # -- the loop -----------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            screen = self.app.screen
            if isinstance(screen, HomeScreen):
                await self.home()
            elif isinstance(screen, SetupScreen):
                await self.setup()
            elif isinstance(screen, SafetyScreen):
                await self.safety(screen)
            elif isinstance(screen, TrialScreen):
                await self.trial(screen)
            elif isinstance(screen, RankingScreen):
                await self.ranking(screen)
            elif isinstance(screen, SummaryScreen):
                await self.summary(screen)
            elif isinstance(screen, ResultsScreen):
                await self.key("escape")
                await self.until(lambda: self.on(HomeScreen), "home after the results")
            else:
                self.note(f"unexpected screen {type(screen).__name__}: escape")
                await self.key("escape")
                await self.pilot.pause(0.01)

    async def home(self) -> None:
        if self.rng.random() < P_RESULTS_FROM_HOME:
            await self.results()
        before = self.notice_ids()
        await self.key("r")
        await self.until(
            lambda: (
                not self.on(HomeScreen)
                or any(not m.startswith("Resuming") for m in self.new_notices(before))
            ),
            "a resumed session, or the notice that every session is finished",
        )
        if self.on(HomeScreen):
            await self.key("n")
            await self.until(lambda: self.on(SetupScreen), "the setup screen")

    async def results(self) -> None:
        """`s` on home: statistics in a worker (its own connection); wait for them, go back."""
        began = time.monotonic()
        await self.key("s")
        await self.until(lambda: self.on(ResultsScreen), "the results screen")
        screen = self.app.screen

        def computed() -> bool:
            body = screen.query("#results-body")
            return bool(body) and str(body.first().content) != COMPUTING

        wait = self.rng.random() < P_WAIT_FOR_STATS
        if wait:
            await self.until(computed, "the statistics on the results screen")
        else:  # an impatient user: a glance, then back (the worker goes on in its thread)
            glance = time.monotonic() + self.rng.uniform(0.05, 0.5)
            await self.until(
                lambda: computed() or time.monotonic() > glance, "a glance at the results"
            )
        shown = time.monotonic()
        await self.key("escape")
        await self.until(lambda: self.on(HomeScreen), "home after the results")
        self.note(
            f"results screen: {'waited for' if wait else 'glanced at'} the statistics for "
            f"{shown - began:.2f} s ({'shown' if computed() else 'still computing'}), "
            f"home again {time.monotonic() - shown:.2f} s later"
        )

    async def mounted(self) -> None:
        """The screen now on top has run its on_mount (focus set, fields filled)."""
        await self.until(lambda: self.app.screen.is_mounted, "the screen to be mounted")
        await self.pilot.pause(0)

    async def type_text(self, field: Input, text: str) -> None:
        for i, char in enumerate(text, start=1):
            await self.key(char)
            await self.until(lambda i=i: field.value == text[:i], f"{text[:i]!r} typed")

    async def setup(self) -> None:
        await self.mounted()
        self.subjects += 1
        code = f"T-{self.seed}-{self.subjects}"
        screen = self.app.screen
        subject = screen.query_one("#subject", Input)
        await self.until(lambda: self.app.focused is subject, "focus on the subject code")
        await self.type_text(subject, code)
        await self.key("ctrl+s")
        await self.until(lambda: self.app.screen is not screen, "the session to start")
        self.note(f"new session for {code}")

    async def safety(self, screen: SafetyScreen) -> None:
        await self.mounted()
        for question in screen.query(YesNo):
            if question.answer is None:
                if self.app.focused is not question:
                    self.app.set_focus(question)
                    await self.until(lambda q=question: self.app.focused is q, "focus")
                await self.key("n")
                await self.until(lambda q=question: q.answer is False, "an answer of no")
        await self.until(
            lambda: all(a is False for a in screen.answers().values()), "five answers of no"
        )
        await self.key("ctrl+s")
        await self.until(lambda: self.app.screen is not screen, "the first trial")

    async def trial(self, screen: TrialScreen) -> None:
        await self.mounted()
        if self.app.screen is not screen:
            return
        widget = screen._current()
        if widget is None:  # blind mode, both in: Enter moves on
            await self.key("enter")
            await self.until(lambda: self.app.screen is not screen, "the next step")
            return
        await self.until(lambda: self.app.focused is widget, f"focus on {widget.scale.name}")
        if self.rng.random() < P_DETOUR:
            await self.detour(screen)
            return
        value = self.rng.randint(widget.scale.minimum, widget.scale.maximum)
        digits = str(value)
        for i in range(1, len(digits) + 1):
            await self.key(digits[i - 1])
            shown = int(digits[:i])
            await self.until(lambda n=shown: widget.value == n, f"[{shown}] on {widget.scale.name}")
        trial_id = screen.trial.trial_id
        await self.key("enter")
        await self.until(
            lambda: self.shows_saved(screen, widget), f"{SAVED} on {widget.scale.name}"
        )
        self.log.write(f"{trial_id} {widget.scale.name} {value}\n")
        self.log.flush()
        self.ratings += 1
        self.note(f"saved {trial_id} {widget.scale.name} {value}")

    def shows_saved(self, screen: TrialScreen, widget: RatingScale) -> bool:
        """What the user sees: the scale marked saved, or the trial done and the next step up."""
        if not widget.saved:
            return False
        if self.app.screen is screen:
            return SAVED in widget.render().plain
        next_screen = self.app.screen
        if isinstance(next_screen, TrialScreen):
            return next_screen.trial.trial_id != screen.trial.trial_id
        return isinstance(next_screen, RankingScreen | SummaryScreen)

    async def detour(self, screen: TrialScreen) -> None:
        """Esc to home, the results, Esc, `r`: the session comes back where it was."""
        await self.key("escape")
        await self.until(lambda: self.on(HomeScreen), "home after Esc")
        await self.results()
        await self.key("r")
        await self.until(lambda: not self.on(HomeScreen), "the session resumed with r")

    async def ranking(self, screen: RankingScreen) -> None:
        await self.mounted()
        n = len(screen.postures)
        roles = len(screen.roles)
        order = self.rng.sample(range(1, n + 1), n)
        for pick in order[: max(1, n - 1)]:
            picked = len(screen.picked)
            await self.key(str(pick))
            await self.until(lambda p=picked: len(screen.picked) > p, f"posture {pick} picked")
        await self.until(lambda: len(screen.picked) == n, "every posture ranked")
        await self.key("enter")
        await self.until(
            lambda: self.app.screen is not screen or len(screen.roles) < roles, "the ranking saved"
        )

    async def summary(self, screen: SummaryScreen) -> None:
        await self.mounted()
        for key, (kind, suffix) in (("e", ("trials", ".csv")), ("c", ("chart", ".png"))):
            if self.rng.random() >= P_SAVE[key]:
                continue
            name = output_name(screen.session, kind, suffix).name
            before = self.notice_ids()
            self.note(f"summary: {key} ({name})")
            await self.key(key)

            def done(name: str = name, before: set[int] = before) -> bool:
                return any(
                    (m.startswith("Saved ") or m.startswith("Could not save")) and name in m
                    for m in self.new_notices(before)
                )

            await self.until(done, f"{name} saved")
            failed = [m for m in self.new_notices(before) if m.startswith("Could not save")]
            if failed:
                self.note(f"summary: {failed[0]}")
        await self.key("escape")
        await self.until(lambda: self.on(HomeScreen), "home after the summary")


async def main_async(db: Path, seed: int, log_path: Path) -> int:
    store = Store(db)
    app = PostureTestApp(store, station="torture")
    # The app captures print() while it runs: write to the real stdout.
    out = sys.__stdout__
    assert out is not None
    err = sys.__stderr__
    assert err is not None
    with log_path.open("a", encoding="utf-8", buffering=1) as log:
        async with app.run_test(size=SIZE) as pilot:
            driver = Driver(app, pilot, seed, log, err)
            await driver.until(lambda: isinstance(app.screen, HomeScreen), "home")
            await pilot.pause()
            out.write("ready\n")
            out.flush()
            try:
                await driver.run()
            except DriverError as e:
                err.write(f"torture driver (seed {seed}): {e}\n")
                err.flush()
                return 3
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args = parser.parse_args()
    if not os.environ.get("POSTURETEST_OUTPUT_DIR"):
        os.environ["POSTURETEST_OUTPUT_DIR"] = tempfile.mkdtemp(prefix="posturetest-torture-")
    sys.exit(asyncio.run(main_async(args.db, args.seed, args.log)))


if __name__ == "__main__":
    main()
