"""--out never overwrites a database: not the open one, however it is named, nor any other.

Every command that writes a file or a folder is pointed at the open database (by the same
path, another spelling, a symbolic link, a hard link) and at other SQLite files. Each must be
refused in one line with exit 2, before anything is written: every database keeps its bytes
and passes integrity_check, and no file appears.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.functional.badpaths_lib import (
    MEMBERS,
    Outcome,
    assert_one_line_error,
    assert_unchanged,
    base_env,
    build_db,
    copy_db,
    first_session_id,
    foreign_sqlite,
    in_parallel,
    integrity,
    run,
    selected_params,
    snapshot,
)


@dataclass
class World:
    base: Path
    env: dict[str, str]
    template: Path
    session_id: str


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("out-refusals")
    env = base_env(base / "env")
    template = build_db(base, "template", 3, 21, env)
    return World(base, env, template, first_session_id(template))


# The commands that write one file, with a suffix they accept (a database can have any name:
# `plot` and `report` check the suffix first, so the database is named to pass that check).
FileCommand = Callable[[Path, Path, str], list[object]]
FILE_COMMANDS: dict[str, tuple[str, FileCommand]] = {
    "export-csv": (".csv", lambda db, out, sid: ["export", "--db", db, "--out", out]),
    "export-json": (
        ".json",
        lambda db, out, sid: ["export", "--db", db, "--format", "json", "--out", out],
    ),
    "export-codebook": (
        ".md",
        lambda db, out, sid: ["export", "--db", db, "--format", "codebook", "--out", out],
    ),
    "plot": (".png", lambda db, out, sid: ["plot", "compare", "--db", db, "--out", out]),
    "report": (".pdf", lambda db, out, sid: ["report", sid, "--db", db, "--out", out]),
}
FILE_TARGETS = [
    "the-db",
    "the-db-spelled-otherwise",
    "symlink-to-the-db",
    "hard-link-to-the-db",
    "another-sqlite-file",
    "another-posturetest-db",
]
FOLDER_TARGETS = {
    "datapackage": [
        "folder-is-the-db",
        "folder-is-a-symlink-to-the-db",
        *(f"{m}-is-the-db" for m in MEMBERS),
        *(f"{m}-is-another-sqlite-file" for m in MEMBERS),
        "trials.csv-is-a-symlink-to-the-db",
    ],
    "sample": [
        "folder-is-a-sqlite-file",
        "folder-is-a-symlink-to-a-sqlite-file",
        *(f"{m}-is-a-sqlite-file" for m in MEMBERS),
        "trials.csv-is-the-db-given-with-db",
        "trials.csv-is-a-symlink-to-a-sqlite-file",
    ],
}
CASES = [(c, t) for c in FILE_COMMANDS for t in FILE_TARGETS] + [
    (c, t) for c, targets in FOLDER_TARGETS.items() for t in targets
]


def prepare(command: str, target: str, case: Path, w: World) -> tuple[list[object], list[Path]]:
    """Make the files of one case; return the arguments and every SQLite file involved."""
    if command in FILE_COMMANDS:
        suffix, build = FILE_COMMANDS[command]
        db = copy_db(w.template, case / f"study{suffix}")
        (case / "sub").mkdir()
        dbs = [db]
        if target == "the-db":
            out = db
        elif target == "the-db-spelled-otherwise":
            out = case / "sub" / ".." / db.name
        elif target == "symlink-to-the-db":
            out = case / f"link{suffix}"
            out.symlink_to(db)
        elif target == "hard-link-to-the-db":
            out = case / f"hard{suffix}"
            os.link(db, out)
        elif target == "another-sqlite-file":
            out = foreign_sqlite(case / f"other{suffix}")
            dbs.append(out)
        elif target == "another-posturetest-db":
            out = copy_db(w.template, case / f"second{suffix}")
            dbs.append(out)
        else:
            raise AssertionError(target)
        return build(db, out, w.session_id), dbs

    folder = case / "package"
    folder.mkdir()
    db = copy_db(w.template, case / "study.db")
    dbs = [db]
    out = folder
    group: list[object] = []
    if target.startswith("folder-is-a-symlink"):
        out = case / "link"
        out.symlink_to(db)
    elif target.startswith("folder-is"):
        out = db
    else:
        member = target.split("-is-", 1)[0]
        inside = folder / member
        if target.endswith("-is-the-db") or target.endswith("-is-the-db-given-with-db"):
            db.unlink()
            db = copy_db(w.template, inside)
            dbs = [db]
            group = ["--db", db] if command == "sample" else []
        elif "symlink" in target:
            inside.symlink_to(db)
        elif target.endswith("-is-another-sqlite-file"):
            dbs.append(foreign_sqlite(inside))
        elif target.endswith("-is-a-sqlite-file"):
            dbs.append(copy_db(w.template, inside))
        else:
            raise AssertionError(target)
    if command == "sample":
        return [*group, "sample", "--out", out, "--subjects", 1], dbs
    return ["export", "--db", db, "--format", "datapackage", "--out", out], dbs


@dataclass
class Result:
    outcome: Outcome
    before: dict[str, object]
    after: dict[str, object]
    integrity: dict[str, str]


@pytest.fixture(scope="module")
def refusals(request: pytest.FixtureRequest, world: World) -> dict[tuple[str, str], Result]:
    chosen = selected_params(request, "test_out_onto_a_database_is_refused", ["case"])
    prepared = []
    jobs: list[Callable[[], Outcome]] = []
    for ((command, target),) in chosen:  # type: ignore[misc]
        case = world.base / "cases" / f"{command}-{target}"
        case.mkdir(parents=True)
        args, dbs = prepare(command, target, case, world)
        assert all(integrity(db) == "ok" for db in dbs)
        prepared.append(((command, target), case, dbs, snapshot(case, mtimes=False)))
        jobs.append(lambda a=args: run(a, world.env))
    outcomes = in_parallel(jobs)
    return {
        key: Result(
            outcome,
            before,
            snapshot(case, mtimes=False),
            {str(db.relative_to(case)): integrity(db) for db in dbs},
        )
        for (key, case, dbs, before), outcome in zip(prepared, outcomes, strict=True)
    }


@pytest.mark.parametrize("case", CASES, ids=[f"{c}-{t}" for c, t in CASES])
def test_out_onto_a_database_is_refused(
    case: tuple[str, str], refusals: dict[tuple[str, str], Result]
) -> None:
    result = refusals[case]
    assert_one_line_error(result.outcome)
    # every database keeps its bytes, and nothing was written beside them
    assert_unchanged(result.before, result.after, "the case folder")
    assert result.integrity == dict.fromkeys(result.integrity, "ok")
