"""Every file posturetest writes is its owner's only and appears only when whole.

Exports (csv, spreadsheet csv, json, codebook, data package), charts (png, svg, pdf), the
session report, the synthetic sample, the summary screen's saved files and the crash logs:
0600 files and 0700 folders under umask 022 and 000; a failure half way (a full disk, a
damaged database, ctrl+c) leaves no file and no `.part` behind and what was there before as it
was; a symbolic link at an output path is replaced, its target never written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from posturetest import outputs
from posturetest.cli import crash_report, main
from posturetest.export import DATAPACKAGE_MEMBERS
from posturetest.store import Store
from posturetest.tui.screens.summary import SummaryScreen, output_name
from tests.disks import fill_disk, small_disk
from tests.factories import corrected_and_stopped_study
from tests.functional.pilot import notices, session_pilot

UMASKS = [0o022, 0o000]
OLD = b"old content\n"


@dataclass(frozen=True)
class Study:
    db: Path
    session_id: str


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    db = tmp_path_factory.mktemp("study") / "study.db"
    return Study(db, corrected_and_stopped_study(db))


# -- the writers -------------------------------------------------------------------------------

FILE_WRITERS: dict[str, tuple[list[str], str]] = {
    "csv": (["export"], ".csv"),
    "spreadsheet": (["export", "--spreadsheet"], ".csv"),
    "json": (["export", "--format", "json"], ".json"),
    "codebook": (["export", "--format", "codebook"], ".md"),
    "png": (["plot", "compare"], ".png"),
    "svg": (["plot", "agreement"], ".svg"),
    "pdf": (["plot", "order"], ".pdf"),
    "report": (["report", "{session}"], ".pdf"),
}
"""Each command that writes one file: its arguments (before --out) and the file's suffix."""
FOLDER_WRITERS: dict[str, list[str]] = {
    "datapackage": ["export", "--format", "datapackage"],
    "sample": ["sample", "--subjects", "3"],
}
"""Each command that writes a folder of DATAPACKAGE_MEMBERS."""
CHARTS = ("png", "svg", "pdf", "report")


def file_argv(study: Study, name: str, out: Path) -> list[str]:
    args, _ = FILE_WRITERS[name]
    args = [a.replace("{session}", study.session_id) for a in args]
    return ["--db", str(study.db), *args, "--out", str(out)]


def folder_argv(study: Study, name: str, out: Path) -> list[str]:
    return ["--db", str(study.db), *FOLDER_WRITERS[name], "--out", str(out)]


def invoke(argv: list[str]) -> Result:
    return CliRunner().invoke(main, argv)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def tree(root: Path) -> dict[str, tuple[Any, ...]]:
    """Everything under root: folders with their mode, files with their bytes and mode, links
    with what they point to (never followed)."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                found[rel] = ("folder", mode(path))
            else:
                found[rel] = ("file", path.read_bytes(), mode(path))
    return found


def leftovers(root: Path) -> list[str]:
    return [k for k in tree(root) if ".part" in k]


def one_line(result: Result) -> str:
    assert "Traceback" not in result.output, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("posturetest: "), result.stderr
    return lines[0]


# -- owner-only, whatever the umask ---------------------------------------------------------------

DRIVER = textwrap.dedent(
    """
    import json, os, sys
    os.umask(int(sys.argv[1], 8))
    from posturetest.cli import main
    codes = []
    for argv in json.loads(sys.argv[2]):
        try:
            main(argv)
        except SystemExit as e:
            codes.append(e.code)
    print(json.dumps(codes))
    """
)
"""Runs posturetest commands, one after the other, in a process with the umask given."""


def run_with_umask(umask: int, argvs: list[list[str]], tmpdir: Path) -> list[object]:
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    probe = subprocess.run(
        [sys.executable, "-c", DRIVER, format(umask, "03o"), json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert probe.returncode == 0, probe.stderr
    codes: list[object] = json.loads(probe.stdout.splitlines()[-1])
    return codes


@pytest.mark.parametrize("umask", UMASKS, ids=lambda u: f"umask{u:03o}")
def test_every_command_writes_owner_only_files_and_folders(
    study: Study, tmp_path: Path, umask: int
) -> None:
    out = tmp_path / "out"
    out.mkdir(mode=0o755)
    out.chmod(0o755)
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    existing = out / "existing-pkg"  # a folder that exists keeps its mode
    existing.mkdir()
    existing.chmod(0o755)
    (out / "old.csv").write_bytes(OLD)  # an older file with a looser mode is replaced
    (out / "old.csv").chmod(0o644)
    argvs = [file_argv(study, n, out / f"{n}{FILE_WRITERS[n][1]}") for n in FILE_WRITERS]
    argvs.append(file_argv(study, "csv", out / "old.csv"))
    for name in FOLDER_WRITERS:
        argvs.append(folder_argv(study, name, out / "new" / name / "pkg"))
    argvs.append(folder_argv(study, "datapackage", existing))
    assert run_with_umask(umask, argvs, tmpdir) == [0] * len(argvs)

    files = {k: v for k, v in tree(out).items() if v[0] == "file"}
    folders = {k: v[1] for k, v in tree(out).items() if v[0] == "folder"}
    expected = {f"{n}{FILE_WRITERS[n][1]}" for n in FILE_WRITERS} | {"old.csv"}
    for name in FOLDER_WRITERS:
        expected |= {f"new/{name}/pkg/{m}" for m in DATAPACKAGE_MEMBERS}
    expected |= {f"existing-pkg/{m}" for m in DATAPACKAGE_MEMBERS}
    assert set(files) == expected
    assert {k: v[2] for k, v in files.items()} == dict.fromkeys(expected, 0o600)
    created = (
        {"new"} | {f"new/{n}" for n in FOLDER_WRITERS} | {f"new/{n}/pkg" for n in FOLDER_WRITERS}
    )
    assert folders == {**dict.fromkeys(created, 0o700), "existing-pkg": 0o755}
    assert (out / "old.csv").read_bytes() != OLD
    # nothing else was left in the temporary folder, and nothing there is anyone else's
    for path, entry in tree(tmpdir).items():
        assert entry[-1] & 0o077 == 0, (path, oct(entry[-1]))


@pytest.mark.parametrize("umask", UMASKS, ids=lambda u: f"umask{u:03o}")
async def test_the_summary_saves_owner_only_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, umask: int
) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(folder))
    session_id = corrected_and_stopped_study(tmp_path / "tui.db")
    previous = os.umask(umask)
    try:
        with Store(tmp_path / "tui.db") as store:
            async with session_pilot(store, session_id) as (app, pilot):
                assert isinstance(app.screen, SummaryScreen)
                for key in ("c", "r", "e"):
                    await pilot.press(key)
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    # one notice at a time: each save's own "Saved" replaces the one before
                    assert [n for n in notices(app) if n.startswith("Saved ")], notices(app)
    finally:
        os.umask(previous)
    saved = tree(folder)
    assert sorted(Path(k).suffix for k in saved) == [".csv", ".pdf", ".png"]
    assert {v[0] for v in saved.values()} == {"file"}
    assert {v[2] for v in saved.values()} == {0o600}


CLI_CRASH = textwrap.dedent(
    """
    import os, sys
    os.umask(int(sys.argv[1], 8))
    import posturetest.export
    def broken():
        raise RuntimeError("boom")
    posturetest.export.codebook_markdown = broken
    from posturetest.cli import main
    main(["export", "--format", "codebook"])
    """
)
APP_CRASH = textwrap.dedent(
    """
    import os, sys
    os.umask(int(sys.argv[1], 8))
    from posturetest.store import Store
    from posturetest.tui.app import PostureTestApp

    class BrokenStore(Store):
        def recent_sessions(self, **kwargs):
            raise RuntimeError("boom")

    app = PostureTestApp(BrokenStore(sys.argv[2]))
    app.run(headless=True)
    raise SystemExit(app.return_code)
    """
)


@pytest.mark.parametrize("umask", UMASKS, ids=lambda u: f"umask{u:03o}")
@pytest.mark.parametrize("where", ["cli", "app"])
def test_crash_logs_are_owner_only_and_whole(tmp_path: Path, umask: int, where: str) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    code = CLI_CRASH if where == "cli" else APP_CRASH
    probe = subprocess.run(
        [sys.executable, "-c", code, format(umask, "03o"), str(tmp_path / "crash.db")],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    assert probe.returncode in (1, 2), probe.stderr
    lines = [line for line in probe.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in probe.stderr, probe.stderr
    marker = "details in " if where == "cli" else "Details: "
    log = Path(lines[0].rsplit(marker, 1)[1])
    assert log.parent == tmpdir and log.name.startswith("posturetest-crash-")
    assert log.suffix == ".log" and "boom" in log.read_text()
    assert mode(log) == 0o600
    assert [p.name for p in tmpdir.iterdir()] == [log.name]  # no .part beside it


def test_a_crash_log_that_cannot_be_written_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(os, "fsync", disk_full)
    line = crash_report(RuntimeError("boom"))
    assert line == "unexpected error (RuntimeError: boom)"
    assert list(tmp_path.iterdir()) == []


# -- a symbolic link is replaced, never written through ----------------------------------------


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file elsewhere that an output path links to."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    path = folder / "victim.txt"
    path.write_bytes(OLD)
    return path


@pytest.mark.parametrize("name", list(FILE_WRITERS))
def test_a_link_at_the_output_is_replaced(
    study: Study, tmp_path: Path, victim: Path, name: str
) -> None:
    out = tmp_path / f"out{FILE_WRITERS[name][1]}"
    out.symlink_to(victim)
    result = invoke(file_argv(study, name, out))
    assert result.exit_code == 0, result.output
    assert not out.is_symlink() and out.is_file() and mode(out) == 0o600
    assert victim.read_bytes() == OLD


@pytest.mark.parametrize("name", list(FOLDER_WRITERS))
def test_links_among_a_packages_members_are_replaced(
    study: Study, tmp_path: Path, victim: Path, name: str
) -> None:
    out = tmp_path / "pkg"
    out.mkdir()
    for member in DATAPACKAGE_MEMBERS:
        (out / member).symlink_to(victim)
    (out / "notes.txt").write_bytes(OLD)  # not a member: left alone
    result = invoke(folder_argv(study, name, out))
    assert result.exit_code == 0, result.output
    for member in DATAPACKAGE_MEMBERS:
        path = out / member
        assert not path.is_symlink() and path.is_file() and mode(path) == 0o600
    assert victim.read_bytes() == OLD and (out / "notes.txt").read_bytes() == OLD
    assert sorted(p.name for p in out.iterdir()) == sorted([*DATAPACKAGE_MEMBERS, "notes.txt"])


async def test_a_link_where_the_summary_saves_is_replaced(
    tmp_path: Path, victim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(folder))
    session_id = corrected_and_stopped_study(tmp_path / "tui.db")
    with Store(tmp_path / "tui.db") as store:
        target = output_name(store.session(session_id), "trials", ".csv")
        target.symlink_to(victim)
        async with session_pilot(store, session_id) as (app, pilot):
            await pilot.press("e")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert any("Saved" in n for n in notices(app)), notices(app)
    assert not target.is_symlink() and mode(target) == 0o600
    assert victim.read_bytes() == OLD


# -- a failure half way leaves nothing behind ---------------------------------------------------


def disk_full(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


ERRORS: dict[str, Callable[[], BaseException]] = {
    "disk-full": lambda: OSError(errno.ENOSPC, "No space left on device"),
    "damaged": lambda: sqlite3.DatabaseError("database disk image is malformed"),
    "ctrl-c": KeyboardInterrupt,
}
EXIT = {"disk-full": 2, "damaged": 2, "ctrl-c": 130}


def fail_half_way(
    monkeypatch: pytest.MonkeyPatch, name: str, error: BaseException, root: Path
) -> None:
    """Make writer `name` fail after it has begun writing its temporary file (checked)."""

    def temporary_file_exists() -> None:
        assert leftovers(root), "the failure should come after writing began"

    if name in CHARTS:
        from matplotlib.figure import Figure

        def savefig(self: Figure, out: Any, **kwargs: object) -> None:
            out.write(b"half a chart")
            temporary_file_exists()
            raise error

        monkeypatch.setattr(Figure, "savefig", savefig)
    elif name == "codebook":  # one write: fail on its way to the disk

        def fsync(fd: int) -> None:
            temporary_file_exists()
            raise error

        monkeypatch.setattr(os, "fsync", fsync)
    else:  # after every trial row (in a package, the tables before trials.csv are written)
        from posturetest.store.export_sql import trial_lines as real

        def trial_lines(*args: Any, **kwargs: Any) -> Iterator[list[str]]:
            yield from real(*args, **kwargs)
            temporary_file_exists()
            raise error

        monkeypatch.setattr("posturetest.export.trial_lines", trial_lines)


@pytest.mark.parametrize("error", list(ERRORS))
@pytest.mark.parametrize("name", list(FILE_WRITERS))
def test_a_file_that_fails_half_way_keeps_the_old_one(
    study: Study,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    victim: Path,
    name: str,
    error: str,
) -> None:
    out = tmp_path / f"out{FILE_WRITERS[name][1]}"
    out.write_bytes(OLD)
    linked = tmp_path / f"linked{FILE_WRITERS[name][1]}"
    linked.symlink_to(victim)
    before = tree(tmp_path)
    fail_half_way(monkeypatch, name, ERRORS[error](), tmp_path)
    for path in (out, linked, tmp_path / f"new{FILE_WRITERS[name][1]}"):
        result = invoke(file_argv(study, name, path))
        assert result.exit_code == EXIT[error], result.output
        one_line(result)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("error", list(ERRORS))
@pytest.mark.parametrize("name", list(FOLDER_WRITERS))
def test_a_package_that_fails_half_way_appears_not_at_all(
    study: Study,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    victim: Path,
    name: str,
    error: str,
) -> None:
    old = tmp_path / "old-pkg"
    old.mkdir()
    for member in DATAPACKAGE_MEMBERS:
        (old / member).write_bytes(OLD)
    (old / DATAPACKAGE_MEMBERS[0]).unlink()
    (old / DATAPACKAGE_MEMBERS[0]).symlink_to(victim)
    before = tree(tmp_path)
    fail_half_way(monkeypatch, name, ERRORS[error](), tmp_path)
    for path in (old, tmp_path / "new-pkg", tmp_path / "new" / "deeper" / "pkg"):
        result = invoke(folder_argv(study, name, path))
        assert result.exit_code == EXIT[error], result.output
        one_line(result)
    assert tree(tmp_path) == before  # no new folder, not even the parents made for it


def test_a_member_that_cannot_be_moved_puts_the_others_back(
    study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, victim: Path
) -> None:
    """The last step, moving the members in, is all or nothing too."""
    old = tmp_path / "pkg"
    old.mkdir()
    for member in DATAPACKAGE_MEMBERS[:-2]:  # two members are new to the folder
        (old / member).write_bytes(OLD + member.encode())
    (old / DATAPACKAGE_MEMBERS[1]).unlink()
    (old / DATAPACKAGE_MEMBERS[1]).symlink_to(victim)
    before = tree(tmp_path)
    real = os.replace
    moves: list[str] = []

    def replace(src: Any, dst: Any) -> None:
        moves.append(str(dst))
        if len(moves) == len(DATAPACKAGE_MEMBERS):
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    result = invoke(folder_argv(study, "datapackage", old))
    assert result.exit_code == 2, result.output
    one_line(result)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("name", list(FILE_WRITERS) + list(FOLDER_WRITERS))
def test_a_failing_flush_to_disk_leaves_nothing(
    study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Whole but not yet on the disk: the last moment something can fail."""
    suffix = FILE_WRITERS[name][1] if name in FILE_WRITERS else ".csv"
    (tmp_path / "existing").mkdir()
    (tmp_path / "existing" / f"trials{suffix}").write_bytes(OLD)
    before = tree(tmp_path)
    monkeypatch.setattr(os, "fsync", disk_full)
    if name in FOLDER_WRITERS:
        paths = [tmp_path / "existing", tmp_path / "new"]
        argvs = [folder_argv(study, name, p) for p in paths]
    else:
        paths = [tmp_path / "existing" / f"trials{suffix}", tmp_path / f"new{suffix}"]
        argvs = [file_argv(study, name, p) for p in paths]
    for argv in argvs:
        result = invoke(argv)
        assert result.exit_code == 2, result.output
        assert "disk is full" in one_line(result) or "No space" in result.stderr
    assert tree(tmp_path) == before


def test_a_full_disk_leaves_every_output_as_it_was(study: Study, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk") as disk:
        old_pkg = disk / "old-pkg"
        old_pkg.mkdir()
        for member in DATAPACKAGE_MEMBERS:
            (old_pkg / member).write_bytes(OLD)
        argvs = []
        for name, (_, suffix) in FILE_WRITERS.items():
            (disk / f"{name}{suffix}").write_bytes(OLD)
            argvs.append(file_argv(study, name, disk / f"{name}{suffix}"))
            argvs.append(file_argv(study, name, disk / f"new-{name}{suffix}"))
        for name in FOLDER_WRITERS:
            argvs.append(folder_argv(study, name, old_pkg))
            argvs.append(folder_argv(study, name, disk / f"new-{name}"))
        fill_disk(disk)
        before = tree(disk)
        for argv in argvs:
            result = invoke(argv)
            assert result.exit_code == 2, (argv, result.output)
            one_line(result)
        assert tree(disk) == before


def damage_trials(db: Path) -> None:
    """Overwrite the pages of the trials table with garbage (found through dbstat)."""
    with closing(sqlite3.connect(db)) as conn:
        pages = [r[0] for r in conn.execute("SELECT pageno FROM dbstat WHERE name = 'trials'")]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * size)
            f.write(b"\xa5" * size)


@pytest.mark.parametrize("name", ["csv", "spreadsheet", "json", "datapackage"])
def test_a_damaged_database_leaves_no_export(study: Study, tmp_path: Path, name: str) -> None:
    db = tmp_path / "damaged.db"
    shutil.copy(study.db, db)
    damage_trials(db)
    damaged = Study(db, study.session_id)
    out = tmp_path / "out"
    out.mkdir()
    (out / "trials.csv").write_bytes(OLD)
    before = tree(out)
    for path in (out / "trials.csv", out / "new.csv", out / "pkg"):
        argv = (
            folder_argv(damaged, name, path)
            if name in FOLDER_WRITERS
            else file_argv(damaged, name, path)
        )
        if name == "datapackage" and path.suffix:
            continue
        result = invoke(argv)
        assert result.exit_code == 2, result.output
        one_line(result)
    assert tree(out) == before


@pytest.mark.parametrize(("key", "kind"), [("c", "chart"), ("r", "report"), ("e", "trials")])
async def test_a_summary_save_that_fails_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, kind: str
) -> None:
    folder = tmp_path / "saved"
    folder.mkdir()
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(folder))
    session_id = corrected_and_stopped_study(tmp_path / "tui.db")
    with Store(tmp_path / "tui.db") as store:
        suffix = {"chart": ".png", "report": ".pdf", "trials": ".csv"}[kind]
        target = output_name(store.session(session_id), kind, suffix)
        target.write_bytes(OLD)
        before = tree(folder)
        fail_half_way(
            monkeypatch, "png" if kind != "trials" else "csv", ERRORS["disk-full"](), folder
        )
        async with session_pilot(store, session_id) as (app, pilot):
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert any("Could not save" in n for n in notices(app)), notices(app)
    assert tree(folder) == before


# -- the folder helpers ---------------------------------------------------------------------------


def test_make_folders_makes_each_missing_parent_0700_and_leaves_others(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        created = outputs.make_folders(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(previous)
    assert created == [tmp_path / "a", tmp_path / "a" / "b", tmp_path / "a" / "b" / "c"]
    assert [mode(p) for p in created] == [0o700] * 3
    tmp_path.chmod(0o755)
    assert outputs.make_folders(tmp_path) == [] and mode(tmp_path) == 0o755


def test_atomic_folder_into_a_new_folder_renames_it_whole(tmp_path: Path) -> None:
    target = tmp_path / "new" / "pkg"
    with outputs.atomic_folder(target, ["a.csv", "b.csv"]) as folder:
        assert folder.parent == tmp_path / "new" and folder.name.endswith(".part")
        assert mode(folder) == 0o700
        for name in ("a.csv", "b.csv"):
            with outputs.private_text(folder / name) as out:
                out.write(name)
        assert not target.exists()
    assert sorted(p.name for p in target.iterdir()) == ["a.csv", "b.csv"]
    assert mode(target) == 0o700 and mode(target / "a.csv") == 0o600
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["pkg"]


def test_a_private_file_never_opens_an_existing_path(tmp_path: Path, victim: Path) -> None:
    (tmp_path / "link").symlink_to(victim)
    for path in (victim, tmp_path / "link"):
        with pytest.raises(OSError), outputs.private_file(path):
            pass
    assert victim.read_bytes() == OLD
