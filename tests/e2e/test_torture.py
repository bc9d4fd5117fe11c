"""Durability under torture: the real app killed with SIGKILL again and again, beside other users.

Each cycle starts tests/e2e/torture_driver.py (the real app, headless, driven key by key as a pair
would: new sessions, ratings, rankings, the results screen, chart and CSV saves, resuming with
`r`) on one database file, the same file every cycle. Beside it, the world touches the file:
outside readers open, read and close it over and over (Python's sqlite3, and the sqlite3
command when installed), `posturetest export` runs, and in some cycles `posturetest import`
brings in a small study. At a seeded random moment the driver is killed with SIGKILL; then the
file must pass `PRAGMA integrity_check`, and every rating the screen showed as "✓ saved" (the
driver logs each one only once it is shown) must be in `trials` with that value.

    POSTURETEST_SOAK_KILLS     cycles, one kill each (default 20)
    POSTURETEST_SOAK_SECONDS   the time the cycles aim to take (default 3 s per kill)
    POSTURETEST_SOAK_SEED      the base seed (default 1); cycle k uses seed*1000 + k
    POSTURETEST_SOAK_VERBOSE   set: one line per cycle
    POSTURETEST_TORTURE_CLI    the posturetest command, split like a shell would (default: the
                               console script beside this Python)

`make soak` runs it with 500 kills. The last line of output is the tally:
"kills: N, confirmed ratings checked: M, lost: 0".
"""

from __future__ import annotations

import os
import random
import select
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.torture_lib import Lost, Rating, check_ratings, integrity, read_log

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "torture_driver.py"
LIB = HERE / "torture_lib.py"

KILLS = int(os.environ.get("POSTURETEST_SOAK_KILLS") or 20)
SECONDS = float(os.environ.get("POSTURETEST_SOAK_SECONDS") or 3.0 * KILLS)
SEED = int(os.environ.get("POSTURETEST_SOAK_SEED") or 1)
VERBOSE = bool(os.environ.get("POSTURETEST_SOAK_VERBOSE"))
MIN_CHECKED = KILLS
"""One confirmed rating per kill on average (20 in the default run, about 7 a kill is usual):
fewer and the run proved too little, so it fails."""

SHOW_LOST = 40
"""At most this many lost ratings are listed one by one in the failure message."""
READY_TIMEOUT = 60.0
HELPER_TIMEOUT = 60.0
SQLITE3 = shutil.which("sqlite3")


def posturetest_command() -> list[str]:
    configured = os.environ.get("POSTURETEST_TORTURE_CLI")
    if configured:
        return shlex.split(configured)
    return [str(Path(sys.executable).parent / "posturetest")]


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(nothing)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL a helper we started in a session of its own, and whatever it started."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


@dataclass
class Tally:
    kills: int = 0
    checked: int = 0
    lost: list[Lost] = field(default_factory=list)
    helper_problems: list[str] = field(default_factory=list)
    exports: int = 0
    imports: int = 0
    per_cycle: dict[int, int] = field(default_factory=dict)

    def cycles_lost(self) -> str:
        """'7 (4 of 9), 13 (14 of 18)': which cycles lost how many of their ratings."""
        lost: dict[int, int] = {}
        for item in self.lost:
            lost[item.rating.cycle] = lost.get(item.rating.cycle, 0) + 1
        return ", ".join(
            f"{c} ({n} of {self.per_cycle.get(c, 0)})" for c, n in sorted(lost.items())
        )

    def line(self) -> str:
        return (
            f"kills: {self.kills}, confirmed ratings checked: {self.checked}, "
            f"lost: {len(self.lost)}"
        )


@dataclass
class World:
    """Everything one cycle started besides the driver."""

    db: Path
    env: dict[str, str]
    readers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    helpers: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def spawn(self, args: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )

    def start_readers(self, seed: int) -> None:
        self.readers.append(
            self.spawn([sys.executable, str(LIB), "py-reader", str(self.db), str(seed)])
        )
        if SQLITE3:
            self.readers.append(
                self.spawn([sys.executable, str(LIB), "cli-reader", str(self.db), str(seed + 1)])
            )

    def busy(self, what: str) -> bool:
        return any(name == what and p.poll() is None for name, p in self.helpers)

    def run(self, what: str, args: list[str]) -> None:
        self.helpers.append((what, self.spawn(args)))

    def stop(self, rng: random.Random, tally: Tally) -> None:
        """Readers are killed; each export or import still running is killed or waited for."""
        for proc in self.readers:
            kill_group(proc)
        for what, proc in self.helpers:
            if proc.poll() is None and rng.random() < 0.5:
                kill_group(proc)
                continue
            try:
                _, err = proc.communicate(timeout=HELPER_TIMEOUT)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                tally.helper_problems.append(f"{what} still running after {HELPER_TIMEOUT:.0f} s")
                continue
            if proc.returncode != 0:
                message = err.decode(errors="replace").strip().splitlines()
                tally.helper_problems.append(
                    f"{what} exited {proc.returncode}: {message[-1] if message else ''}"
                )
        self.readers.clear()
        self.helpers.clear()

    def kill_all(self) -> None:
        for proc in [*self.readers, *(p for _, p in self.helpers)]:
            kill_group(proc)
        self.readers.clear()
        self.helpers.clear()


def start_driver(
    db: Path, seed: int, log: Path, stderr: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, str(DRIVER), "--db", str(db), "--seed", str(seed), "--log", str(log)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
        )


def wait_ready(driver: subprocess.Popen[bytes], stderr: Path, seed: int) -> None:
    assert driver.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        readable, _, _ = select.select([driver.stdout], [], [], 0.1)
        if readable:
            line = driver.stdout.readline()
            if line.strip() == b"ready":
                return
            if not line:
                break
    driver.kill()
    driver.wait()
    pytest.fail(f"the driver (seed {seed}) never said ready; its stderr:\n{tail(stderr)}")


@pytest.fixture
def sample_csv(tmp_path: Path) -> Iterator[Path]:
    """A small valid study in the interchange format, to import beside the app."""
    out = tmp_path / "sample"
    subprocess.run(
        [*posturetest_command(), "sample", "--out", str(out), "--subjects", "3"],
        check=True,
        capture_output=True,
    )
    yield out / "trials.csv"


def test_confirmed_ratings_survive_sigkill_beside_other_users(
    tmp_path: Path, sample_csv: Path
) -> None:
    db = tmp_path / "torture.db"
    logs = tmp_path / "logs"
    logs.mkdir()
    output = tmp_path / "saved"
    output.mkdir()
    env = {**os.environ, "POSTURETEST_OUTPUT_DIR": str(output), "POSTURETEST_STATION": "torture"}
    command = posturetest_command()
    tally = Tally()
    every: list[Rating] = []
    started = time.monotonic()
    startup = 1.0  # seconds from spawn to "ready", refined as cycles run
    overhead = 0.5  # seconds from the kill to the next spawn (helpers stopped, checks)
    driver: subprocess.Popen[bytes] | None = None
    world = World(db, env)
    print(f"\ntorture: {KILLS} kills in about {SECONDS:.0f} s, seed {SEED}, db {db}")
    try:
        for cycle in range(KILLS):
            seed = SEED * 1000 + cycle
            rng = random.Random(seed)
            log = logs / f"cycle-{cycle:04d}.log"
            stderr = logs / f"cycle-{cycle:04d}.stderr"

            spawned = time.monotonic()
            driver = start_driver(db, seed, log, stderr, env)
            wait_ready(driver, stderr, seed)
            ready = time.monotonic()
            startup = 0.7 * startup + 0.3 * (ready - spawned)
            world.start_readers(seed)

            # Each cycle aims at SECONDS / KILLS: start-up, the driver's run, the kill and the
            # checks. The run until the kill is drawn around what is left of that (mean 1.0x,
            # 0.2x-1.8x), so some kills come early in a session and some deep in it.
            run = max(0.8, SECONDS / KILLS - startup - overhead)
            kill_at = ready + rng.uniform(0.2, 1.8) * run
            window = kill_at - ready
            exports = sorted(ready + rng.uniform(0.0, 1.0) * window for _ in range(2))
            imports = [ready + rng.uniform(0.0, 0.8) * window] if rng.random() < 0.35 else []

            while (now := time.monotonic()) < kill_at:
                if driver.poll() is not None:
                    pytest.fail(
                        f"cycle {cycle} (seed {seed}): the driver ended by itself "
                        f"({driver.returncode}) before the kill; its stderr:\n{tail(stderr)}"
                    )
                if exports and now >= exports[0] and not world.busy("export"):
                    exports.pop(0)
                    tally.exports += 1
                    world.run("export", [*command, "--db", str(db), "export", "--format", "csv"])
                if imports and now >= imports[0]:
                    imports.pop(0)
                    tally.imports += 1
                    world.run("import", [*command, "--db", str(db), "import", str(sample_csv)])
                time.sleep(0.01)

            driver.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            driver.wait()
            with stderr.open("a", encoding="utf-8") as err:
                err.write(f"{killed:.3f} killed by the test (SIGKILL)\n")
            if driver.returncode != -signal.SIGKILL:
                pytest.fail(
                    f"cycle {cycle} (seed {seed}): the driver ended with {driver.returncode} "
                    f"before the kill; its stderr:\n{tail(stderr)}"
                )
            tally.kills += 1
            driver = None
            world.stop(rng, tally)

            ok = integrity(db)
            assert ok == "ok", (
                f"cycle {cycle} (seed {seed}): integrity_check says {ok}; so far {tally.line()}, "
                f"lost in cycles {tally.cycles_lost() or 'none'}"
            )
            ratings = read_log(log, cycle, seed)
            tally.checked += len(ratings)
            tally.per_cycle[cycle] = len(ratings)
            lost = check_ratings(db, ratings)
            tally.lost.extend(lost)
            every.extend(ratings)
            overhead = 0.7 * overhead + 0.3 * (time.monotonic() - killed)
            if VERBOSE:
                print(
                    f"cycle {cycle}: start-up {ready - spawned:.2f} s, killed after "
                    f"{killed - ready:.2f} s, {len(ratings)} ratings, {len(lost)} lost"
                )

        # Once more at the end: nothing confirmed in an early cycle may vanish in a later one.
        lost_before = {
            (lost.rating.cycle, lost.rating.trial_id, lost.rating.scale) for lost in tally.lost
        }
        for lost in check_ratings(db, every):
            key = (lost.rating.cycle, lost.rating.trial_id, lost.rating.scale)
            if key not in lost_before:
                tally.lost.append(Lost(lost.rating, f"{lost.found} (at the end of the run)"))
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
            driver.wait()
        world.kill_all()

    elapsed = time.monotonic() - started
    print(
        f"torture: {elapsed:.1f} s, {tally.exports} exports, {tally.imports} imports beside "
        f"the app; seed {SEED}"
    )
    for problem in tally.helper_problems:
        print(f"torture: helper: {problem}")
    print(tally.line())

    assert not tally.lost, (
        f"{tally.line()} (seed {SEED}): ratings the screen showed as saved are not in the "
        f"file, in cycles {tally.cycles_lost()}:\n"
        + "\n".join(str(lost) for lost in tally.lost[:SHOW_LOST])
        + (f"\n... and {len(tally.lost) - SHOW_LOST} more" if len(tally.lost) > SHOW_LOST else "")
    )
    assert tally.checked >= MIN_CHECKED, (
        f"{tally.line()} (seed {SEED}): fewer than {MIN_CHECKED} confirmed ratings were checked; "
        "the run proves too little"
    )
