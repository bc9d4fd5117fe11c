"""Which database a command uses: the nearest explicit choice wins.

`posturetest CMD --db X` beats `posturetest --db X CMD`, which beats POSTURETEST_DB (with ~
expanded), which beats the default in the user data folder. Four databases with different
studies sit in those four places; every command that takes a database runs with --db before
the command, after it, both or neither, with and without POSTURETEST_DB, and what it prints or
changes shows which file it used. The matrix runs in-process (CliRunner); a few cases run as
real processes too.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from posturetest.cli import main
from tests.functional.badpaths_lib import (
    assert_done,
    base_env,
    build_db,
    copy_db,
    counts,
    first_session_id,
    in_parallel,
    run,
    session_ids,
)

STUDIES = {"default": (2, 201), "env": (3, 202), "group": (4, 203), "sub": (5, 204)}
"""Subjects and seed of the study in each place: each place's database is told apart by it."""
SOURCE = (2, 205)
ENV_VALUE = "~/env.db"
ENV_MODES = ("noenv", "env-abs", "env-tilde")
"""POSTURETEST_DB unset, the env database's absolute path, or ~/env.db with HOME set."""


@dataclass
class Templates:
    base: Path
    dbs: dict[str, Path]
    source: Path
    package: Path
    """The source study as a data package, to import."""


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    import matplotlib.font_manager  # noqa: F401  (its cache is found under the real HOME)

    base = tmp_path_factory.mktemp("precedence")
    env = base_env(base / "env")
    studies = {**STUDIES, "source": SOURCE}
    built = in_parallel(
        [lambda n=name, s=study: build_db(base, n, *s, env) for name, study in studies.items()]
    )
    dbs = dict(zip(studies, built, strict=True))
    ids = [session_ids(db) for db in dbs.values()]
    assert sum(len(i) for i in ids) == len(set().union(*ids)), "the studies share sessions"
    source = dbs.pop("source")
    return Templates(base, dbs, source, base / "source-package" / "datapackage.json")


@dataclass
class World:
    paths: dict[str, Path]
    home: Path
    data_home: Path
    source: Path
    package: Path
    out: Path
    cwd: Path

    def env(self, env_mode: str) -> dict[str, str | None]:
        value = {"noenv": None, "env-abs": str(self.paths["env"]), "env-tilde": ENV_VALUE}
        return {
            "HOME": str(self.home),
            "XDG_DATA_HOME": str(self.data_home),
            "POSTURETEST_DB": value[env_mode],
            "POSTURETEST_STATION": None,
        }


@pytest.fixture
def world(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    home, data_home = tmp_path / "home", tmp_path / "data"
    paths = {
        "default": data_home / "posturetest" / "posturetest.db",
        "env": home / "env.db",
        "group": tmp_path / "dbs" / "group.db",
        "sub": tmp_path / "dbs" / "sub.db",
    }
    for place, path in paths.items():
        copy_db(templates.dbs[place], path)
    (tmp_path / "cwd").mkdir()
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # an unexpanded ~ would land here, not in the project
    return World(
        paths=paths,
        home=home,
        data_home=data_home,
        source=copy_db(templates.source, tmp_path / "source.db"),
        package=templates.package,
        out=tmp_path / "out",
        cwd=tmp_path / "cwd",
    )


def expected_place(placement: str, env_mode: str) -> str:
    if placement in ("sub", "both"):
        return "sub"
    if placement == "group":
        return "group"
    return "default" if env_mode == "noenv" else "env"


def invoke(args: list[str], world: World, env_mode: str) -> Result:
    return CliRunner().invoke(main, args, env=world.env(env_mode))


def describe(result: Result) -> str:
    return f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def svg_titles(path: Path) -> list[str]:
    """The chart's text that names how many subjects it compares."""
    return re.findall(r">([^<]*\d+ subjects?[^<]*)<", path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def references(templates: Templates, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """What `stats` and `plot` print for each place's database, named by `CMD --db FILE`."""
    out = tmp_path_factory.mktemp("references")
    found: dict[str, dict[str, object]] = {"stats": {}, "plot": {}}
    for place, db in templates.dbs.items():
        env = {"POSTURETEST_DB": None}
        stats = CliRunner().invoke(main, ["stats", "--format", "json", "--db", str(db)], env=env)
        assert stats.exit_code == 0, describe(stats)
        found["stats"][place] = stats.stdout
        chart = out / f"{place}.svg"
        plot = CliRunner().invoke(
            main, ["plot", "compare", "--out", str(chart), "--db", str(db)], env=env
        )
        assert plot.exit_code == 0, describe(plot)
        found["plot"][place] = svg_titles(chart)
    for kind, by_place in found.items():
        values = [json.dumps(v) for v in by_place.values()]
        assert len(set(values)) == len(values), f"{kind} does not tell the databases apart"
    return found


# -- the matrix ----------------------------------------------------------------------------------


def run_matrix_case(
    world: World, command: list[str], placement: str, env_mode: str
) -> tuple[Result, str]:
    expected = expected_place(placement, env_mode)
    group = ["--db", str(world.paths["group"])] if placement in ("group", "both") else []
    sub = ["--db", str(world.paths["sub"])] if placement in ("sub", "both") else []
    return invoke([*group, *command, *sub], world, env_mode), expected


def check_writer(world: World, command: list[str], placement: str, env_mode: str) -> None:
    before = {place: sha256(path) for place, path in world.paths.items()}
    rows = {place: counts(path) for place, path in world.paths.items()}
    result, expected = run_matrix_case(world, command, placement, env_mode)
    assert result.exit_code == 0, describe(result)
    added = counts(world.source)["sessions"]
    assert counts(world.paths[expected])["sessions"] == rows[expected]["sessions"] + added
    for place, path in world.paths.items():
        if place != expected:
            assert sha256(path) == before[place], f"{place} changed; {expected} should have"
    assert not list(world.cwd.iterdir()), "a file appeared in the current folder"


MATRIX = [
    (command, placement, env_mode)
    for command in ("import", "merge", "export", "stats", "plot", "report", "datasette-metadata")
    for placement in ("none", "group", "sub", "both")
    for env_mode in ENV_MODES
]


def matrix_id(case: tuple[str, str, str]) -> str:
    command, placement, env_mode = case
    return f"{command}-db-{placement}-{env_mode}"


@pytest.mark.parametrize("case", MATRIX, ids=[matrix_id(c) for c in MATRIX])
def test_the_nearest_db_choice_wins(
    case: tuple[str, str, bool], world: World, request: pytest.FixtureRequest
) -> None:
    command, placement, env_mode = case
    expected = expected_place(placement, env_mode)
    target = world.paths[expected]
    if command == "import":
        check_writer(world, ["import", str(world.package)], placement, env_mode)
        return
    if command == "merge":
        check_writer(world, ["merge", str(world.source)], placement, env_mode)
        return
    before = {place: sha256(path) for place, path in world.paths.items()}
    if command == "export":
        result, _ = run_matrix_case(world, ["export"], placement, env_mode)
        assert result.exit_code == 0, describe(result)
        rows = list(csv.DictReader(io.StringIO(result.stdout)))
        assert {r["session_id"] for r in rows} == session_ids(target), f"not {expected}'s rows"
    elif command == "stats":
        references = request.getfixturevalue("references")
        result, _ = run_matrix_case(world, ["stats", "--format", "json"], placement, env_mode)
        assert result.exit_code == 0, describe(result)
        assert result.stdout == references["stats"][expected], f"not {expected}'s statistics"
    elif command == "plot":
        references = request.getfixturevalue("references")
        chart = world.out / "compare.svg"
        result, _ = run_matrix_case(
            world, ["plot", "compare", "--out", str(chart)], placement, env_mode
        )
        assert result.exit_code == 0, describe(result)
        assert svg_titles(chart) == references["plot"][expected], f"not {expected}'s chart"
    elif command == "report":
        # the session exists only in the expected database
        pdf = world.out / "report.pdf"
        args = ["report", first_session_id(target), "--out", str(pdf)]
        result, _ = run_matrix_case(world, args, placement, env_mode)
        assert result.exit_code == 0, f"not {expected}'s session? " + describe(result)
        assert pdf.read_bytes().startswith(b"%PDF")
    elif command == "datasette-metadata":
        result, _ = run_matrix_case(world, ["datasette-metadata"], placement, env_mode)
        assert result.exit_code == 0, describe(result)
        assert list(json.loads(result.stdout)["databases"]) == [target.stem]
    else:
        raise AssertionError(command)
    after = {place: sha256(path) for place, path in world.paths.items()}
    assert after == before, "a command that only reads changed a database"
    assert not list(world.cwd.iterdir()), "a file appeared in the current folder"


TUI_MATRIX = [(p, e) for p in ("none", "group") for e in ENV_MODES]


@pytest.mark.parametrize(
    ("placement", "env_mode"),
    TUI_MATRIX,
    ids=[f"tui-db-{p}-{e}" for p, e in TUI_MATRIX],
)
def test_the_app_opens_the_nearest_db_choice(
    placement: str, env_mode: str, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posturetest.tui.app import PostureTestApp

    opened: list[Path] = []

    def record_instead_of_running(self: PostureTestApp, *args: object, **kwargs: object) -> None:
        opened.append(Path(self.store.path).resolve())  # the file the header would show

    monkeypatch.setattr(PostureTestApp, "run", record_instead_of_running)
    result, expected = run_matrix_case(world, [], placement, env_mode)
    assert result.exit_code == 0, describe(result)
    assert opened == [world.paths[expected].resolve()]


# -- the same, as real processes ----------------------------------------------------------------


@pytest.fixture
def places(templates: Templates, tmp_path: Path) -> dict[str, Path]:
    home = tmp_path / "home"
    paths = {
        "default": home / ".local" / "share" / "posturetest" / "posturetest.db",
        "env": home / "env.db",
        "group": tmp_path / "group.db",
        "sub": tmp_path / "sub.db",
    }
    for place, path in paths.items():
        copy_db(templates.dbs[place], path)
    return paths


def metadata_key(tmp_path: Path, args: list[str], env_value: str | None) -> str:
    """datasette-metadata names the database it used by its file stem."""
    env = base_env(tmp_path / "env", HOME=str(tmp_path / "home"))
    del env["XDG_DATA_HOME"]  # the default is then ~/.local/share/posturetest/posturetest.db
    if env_value is not None:
        env["POSTURETEST_DB"] = env_value
    (tmp_path / "cwd").mkdir(exist_ok=True)
    outcome = run(args, env, cwd=tmp_path / "cwd")
    assert_done(outcome)
    assert not list((tmp_path / "cwd").iterdir()), "a file appeared in the current folder"
    (key,) = json.loads(outcome.stdout)["databases"]
    return str(key)


@pytest.mark.skipif(sys.platform != "linux", reason="the default folder is Linux's here")
def test_a_real_process_follows_the_same_order(places: dict[str, Path], tmp_path: Path) -> None:
    group, sub, env_db = str(places["group"]), str(places["sub"]), str(places["env"])
    cases = [
        (["datasette-metadata"], None, "posturetest"),
        (["datasette-metadata"], ENV_VALUE, "env"),
        (["--db", group, "datasette-metadata"], env_db, "group"),
        (["--db", group, "datasette-metadata", "--db", sub], env_db, "sub"),
    ]
    found = [metadata_key(tmp_path, args, value) for args, value, _ in cases]
    assert found == [expected for *_, expected in cases]
