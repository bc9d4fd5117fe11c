"""Every command against every kind of --db it cannot use: one line, exit 2, nothing touched.

Also a full disk, read-only files, folders and mounts, and a folder without access. All
commands run as real processes; the cases of a test are prepared first and then run together
on a few threads, each test checking its own outcome.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.functional.badpaths_lib import (
    MANY_WORKERS,
    Outcome,
    assert_done,
    assert_one_line_error,
    assert_unchanged,
    base_env,
    build_db,
    copy_db,
    counts,
    damaged_copy,
    first_session_id,
    foreign_sqlite,
    in_parallel,
    integrity,
    mount_tmpfs,
    remount_readonly,
    restore_devnull,
    restricted_prefix,
    run,
    run_ok,
    selected_params,
    side_files,
    snapshot,
    umount,
)


@dataclass
class World:
    base: Path
    env: dict[str, str]
    template: Path
    """3 subjects: the database that bad copies are made from."""
    other: Path
    """2 subjects of another seed: a good target or source beside a bad one."""
    package: Path
    """A data package to import (the other study's)."""
    session_id: str
    """A session of the template, for `report`."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("bad-paths")
    env = base_env(base / "env")
    template, other = in_parallel(
        [
            lambda: build_db(base, "template", 3, 11, env),
            lambda: build_db(base, "other", 2, 12, env),
        ]
    )
    return World(
        base=base,
        env=env,
        template=template,
        other=other,
        package=base / "other-package" / "datapackage.json",
        session_id=first_session_id(template),
    )


# -- the sweep: every command x every bad --db -------------------------------------------------

Command = Callable[[Path, Path, World], list[object]]
"""(the bad database, the case folder, the world) -> the arguments."""

COMMANDS: dict[str, Command] = {
    "tui": lambda db, case, w: ["--db", db],
    "import": lambda db, case, w: ["--db", db, "import", w.package],
    "merge-into": lambda db, case, w: ["--db", db, "merge", case / "source.db"],
    "merge-from": lambda db, case, w: ["--db", case / "target.db", "merge", db],
    "stats": lambda db, case, w: ["--db", db, "stats"],
    "export": lambda db, case, w: ["--db", db, "export"],
    "plot": lambda db, case, w: ["--db", db, "plot", "compare", "--out", case / "out" / "c.png"],
    "report": lambda db, case, w: [
        "--db",
        db,
        "report",
        w.session_id,
        "--out",
        case / "out" / "r.pdf",
    ],
    "datasette-metadata": lambda db, case, w: ["--db", db, "datasette-metadata"],
}
CREATES = {"tui", "import", "merge-into"}
"""Commands that write into --db: for them a missing path or an empty file is a new database."""

BAD = ["missing", "folder", "fifo", "devnull", "empty", "damaged", "text", "foreign", "noaccess"]
MESSAGE: dict[str, dict[str, list[str]]] = {
    "damaged": {"words": ["damaged"]},
    "noaccess": {"words": ["permission"]},
    "devnull": {"not_words": ["disk I/O error"]},
}

SWEEP = [
    (command, bad)
    for command in COMMANDS
    for bad in BAD
    if not (bad in ("missing", "empty") and command in CREATES)
]


def make_bad(bad: str, case: Path, w: World) -> Path:
    if bad == "missing":
        return case / "missing.db"
    if bad == "folder":
        (case / "folder").mkdir()
        return case / "folder"
    if bad == "fifo":
        os.mkfifo(case / "pipe.db")
        return case / "pipe.db"
    if bad == "devnull":
        return Path(os.devnull)
    if bad == "empty":
        (case / "empty.db").touch()
        return case / "empty.db"
    if bad == "damaged":
        damaged_copy(w.template, case / "damaged.db")
        assert integrity(case / "damaged.db") != "ok"
        return case / "damaged.db"
    if bad == "text":
        (case / "notes.db").write_text("name,score\nalice,3\n")
        return case / "notes.db"
    if bad == "foreign":
        return foreign_sqlite(case / "foreign.db")
    if bad == "noaccess":
        return copy_db(w.template, case / "locked" / "study.db")
    raise AssertionError(bad)


@dataclass
class SweepResult:
    outcome: Outcome
    before: dict[str, object]
    after: dict[str, object]
    devnull_side_files: list[Path] = field(default_factory=list)
    devnull_replaced: bool = False


@pytest.fixture(scope="module")
def sweep(request: pytest.FixtureRequest, world: World) -> dict[tuple[str, str], SweepResult]:
    chosen = selected_params(request, "test_a_bad_database_is_refused_in_one_line", ["case"])
    prefix = restricted_prefix()
    jobs: list[Callable[[], Outcome]] = []
    prepared = []
    for ((command, bad),) in chosen:  # type: ignore[misc]
        if bad == "noaccess" and prefix is None:
            continue
        case = world.base / "sweep" / f"{command}-{bad}"
        (case / "out").mkdir(parents=True)
        copy_db(world.other, case / "source.db")
        copy_db(world.other, case / "target.db")
        db = make_bad(bad, case, world)
        before = snapshot(case, skip_mtime=["target.db"])
        if bad == "noaccess":
            (case / "locked").chmod(0)
        args = COMMANDS[command](db, case, world)
        run_prefix = prefix if bad == "noaccess" else ()
        jobs.append(lambda a=args, p=run_prefix: run(a, world.env, prefix=p or ()))
        prepared.append(((command, bad), case, before))
    devnull_before = set(side_files(Path(os.devnull)))
    outcomes = in_parallel(jobs, MANY_WORKERS)
    devnull_new = sorted(set(side_files(Path(os.devnull))) - devnull_before)
    for stray in devnull_new:  # e.g. /dev/null-journal: do not leave it for the next run
        stray.unlink()
    devnull_replaced = restore_devnull()  # a command replaced the device by a file: undo it
    results = {}
    for (key, case, before), outcome in zip(prepared, outcomes, strict=True):
        if key[1] == "noaccess":
            (case / "locked").chmod(0o700)
        results[key] = SweepResult(
            outcome,
            before,
            snapshot(case, skip_mtime=["target.db"]),
            devnull_new if key[1] == "devnull" else [],
            devnull_replaced and key[1] == "devnull",
        )
    return results


@pytest.mark.parametrize("case", SWEEP, ids=[f"{c}-{b}" for c, b in SWEEP])
def test_a_bad_database_is_refused_in_one_line(
    case: tuple[str, str], sweep: dict[tuple[str, str], SweepResult]
) -> None:
    command, bad = case
    if bad == "noaccess" and restricted_prefix() is None:
        pytest.skip("cannot run a command that file permissions bind (root without setpriv)")
    result = sweep[case]
    assert_one_line_error(result.outcome, **MESSAGE.get(bad, {}))  # type: ignore[arg-type]
    # the bad path, the other database, the output folder: all exactly as they were
    assert_unchanged(result.before, result.after, f"the folder of {command} --db <{bad}>")
    assert not result.devnull_side_files, "files were created beside /dev/null"
    assert not result.devnull_replaced, "a command replaced /dev/null by a file (now restored)"


# -- a full disk -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_package(world: World) -> Path:
    package = world.base / "big-package"
    run_ok(["sample", "--out", package, "--subjects", 60, "--seed", 13], world.env)
    return package / "datapackage.json"


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "mnt"
    if not mount_tmpfs(where, "1m"):
        pytest.skip("needs root and tmpfs (mount -t tmpfs) to make a small disk")
    try:
        yield where
    finally:
        umount(where)


@pytest.mark.parametrize("headroom", [0, 64 * 1024], ids=["full-before", "fills-during"])
def test_import_onto_a_full_disk_says_so_and_keeps_the_database(
    tmpfs: Path, world: World, big_package: Path, headroom: int
) -> None:
    db = copy_db(world.template, tmpfs / "study.db")
    rows = counts(db)
    free = os.statvfs(tmpfs).f_bavail * os.statvfs(tmpfs).f_frsize - headroom
    with (tmpfs / "filler").open("wb") as f:
        try:
            f.write(b"\0" * max(0, free))
        except OSError:
            pass  # full: that is the point
    outcome = run(["--db", db, "import", big_package], world.env)
    assert_one_line_error(outcome, words=["full"], not_words=["damaged"])
    (tmpfs / "filler").unlink()
    # opened as the next command would open it (replaying whatever log was left)
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        after = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in rows}
    assert after == rows


# -- read-only files, folders and mounts -------------------------------------------------------

READERS: dict[str, Command] = {
    "stats": lambda db, case, w: ["--db", db, "stats", "--format", "json"],
    "export": lambda db, case, w: ["--db", db, "export"],
    "export-out": lambda db, case, w: ["--db", db, "export", "--out", case / "out" / "t.csv"],
    "plot": COMMANDS["plot"],
    "report": COMMANDS["report"],
    "datasette-metadata": COMMANDS["datasette-metadata"],
    "merge-from": COMMANDS["merge-from"],
}
WRITERS: dict[str, Command] = {c: COMMANDS[c] for c in ("import", "merge-into", "tui")}
WRITTEN = {"export-out": "t.csv", "plot": "c.png", "report": "r.pdf"}

READ_PLACES = ["ro-mount", "ro-file-in-ro-folder"]
WRITE_PLACES = ["ro-mount", "ro-file-in-ro-folder", "ro-file", "ro-folder"]
READ_CASES = [(p, c) for p in READ_PLACES for c in READERS]
WRITE_CASES = [(p, c) for p in WRITE_PLACES for c in WRITERS]


@dataclass
class ReadOnlyResult:
    outcome: Outcome
    case: Path
    db: Path
    before: dict[str, object]
    after: dict[str, object]
    target_sessions: int


@pytest.fixture(scope="module")
def readonly_mount(world: World) -> Iterator[Path | None]:
    where = world.base / "ro-mount"
    if not mount_tmpfs(where, "4m"):
        yield None
        return
    try:
        copy_db(world.template, where / "study.db")
        remount_readonly(where)
        yield where
    finally:
        umount(where)


def _place(place: str, case: Path, world: World, mount: Path | None) -> Path:
    """The database, read-only in the way `place` names."""
    if place == "ro-mount":
        assert mount is not None
        return mount / "study.db"
    folder = case / "db"
    db = copy_db(world.template, folder / "study.db")
    if place in ("ro-file-in-ro-folder", "ro-file"):
        db.chmod(0o444)
    if place in ("ro-file-in-ro-folder", "ro-folder"):
        folder.chmod(0o555)
    return db


def _unavailable(place: str, mount: Path | None) -> str | None:
    if place == "ro-mount":
        return None if mount is not None else "needs root and tmpfs to make a read-only mount"
    if restricted_prefix() is None:
        return "cannot run a command that file permissions bind (root without setpriv)"
    return None


@pytest.fixture(scope="module")
def readonly_runs(
    request: pytest.FixtureRequest, world: World, readonly_mount: Path | None
) -> dict[tuple[str, str], ReadOnlyResult]:
    chosen = [
        *selected_params(request, "test_reading_a_readonly_database_works", ["case"]),
        *selected_params(request, "test_writing_a_readonly_database_names_the_cause", ["case"]),
    ]
    prefix = restricted_prefix()
    prepared = []
    jobs: list[Callable[[], Outcome]] = []
    for ((place, command),) in chosen:  # type: ignore[misc]
        if _unavailable(place, readonly_mount):
            continue
        case = world.base / "readonly" / f"{place}-{command}"
        (case / "out").mkdir(parents=True)
        copy_db(world.other, case / "source.db")
        copy_db(world.other, case / "target.db")
        db = _place(place, case, world, readonly_mount)
        before = snapshot(db.parent)
        builder = READERS.get(command) or WRITERS[command]
        args = builder(db, case, world)
        run_prefix = () if place == "ro-mount" else prefix
        jobs.append(lambda a=args, p=run_prefix: run(a, world.env, prefix=p or ()))
        prepared.append(((place, command), case, db, before))
    outcomes = in_parallel(jobs)
    results = {}
    for (key, case, db, before), outcome in zip(prepared, outcomes, strict=True):
        results[key] = ReadOnlyResult(
            outcome,
            case,
            db,
            before,
            snapshot(db.parent),
            counts(case / "target.db")["sessions"],
        )
        if key[0] != "ro-mount":
            db.parent.chmod(0o755)
    return results


@pytest.mark.parametrize("case", READ_CASES, ids=[f"{p}-{c}" for p, c in READ_CASES])
def test_reading_a_readonly_database_works(
    case: tuple[str, str],
    readonly_runs: dict[tuple[str, str], ReadOnlyResult],
    readonly_mount: Path | None,
    world: World,
) -> None:
    place, command = case
    if reason := _unavailable(place, readonly_mount):
        pytest.skip(reason)
    result = readonly_runs[case]
    assert_done(result.outcome)
    assert_unchanged(result.before, result.after, f"the read-only folder ({place})")
    if command in WRITTEN:
        assert (result.case / "out" / WRITTEN[command]).stat().st_size > 0
    if command in ("stats", "export", "datasette-metadata"):
        assert result.outcome.stdout.strip()
    if command == "merge-from":
        assert (
            result.target_sessions
            == counts(world.other)["sessions"] + counts(result.db)["sessions"]
        )


@pytest.mark.parametrize("case", WRITE_CASES, ids=[f"{p}-{c}" for p, c in WRITE_CASES])
def test_writing_a_readonly_database_names_the_cause(
    case: tuple[str, str],
    readonly_runs: dict[tuple[str, str], ReadOnlyResult],
    readonly_mount: Path | None,
    world: World,
) -> None:
    place, command = case
    if reason := _unavailable(place, readonly_mount):
        pytest.skip(reason)
    result = readonly_runs[case]
    assert_one_line_error(
        result.outcome,
        any_of=["read-only", "permission"],
        not_words=["damaged", "not a database", "not a sqlite"],
    )
    assert_unchanged(result.before, result.after, f"the read-only folder ({place})")
