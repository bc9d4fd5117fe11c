"""The database in Datasette: rows served as stored, columns labelled from the interchange."""

from __future__ import annotations

import html
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from datasette.app import Datasette
from datasette.utils import tilde_encode

from posturetest.cli import main
from posturetest.datasette import metadata
from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Posture,
    Role,
    SessionSetup,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.domain.interchange import RANKING_FIELDS, TRIAL_COLUMNS, TRIAL_FIELDS
from posturetest.store import Store


def build(path: Path) -> Path:
    """Two sessions: one complete and ranked, one stopped with a stopped trial and a note."""
    with Store(path) as store:
        for subject, started_at, scheme in (
            ("S-001", "2026-11-20T09:00:00Z", OrderScheme.BALANCED),
            ("S-002", "2026-11-21T09:00:00Z", OrderScheme.RANDOM),
        ):
            session = store.create_session(
                SessionSetup(subject=subject, tester='Ann, "AK"', scheme=scheme, seed=3),
                station="lab-1",
                started_at=started_at,
            )
            sid = session.session_id
            store.record_safety(sid, {k: False for k in SAFETY_KEYS})
            trials = store.trials(sid)
            if subject == "S-002":
                store.stop_trial(trials[0].trial_id, StopReason.DISCOMFORT, note='a, "b"\nc')
                store.end_session(sid, SessionStatus.STOPPED)
                continue
            for trial in trials:
                for i, scale in enumerate(session.scales):
                    store.record_rating(trial.trial_id, scale.name, (trial.seq + i) % 11)
                assert store.trial(trial.trial_id).outcome is Outcome.RATED
            store.record_ranking(
                sid, StressTest.VERTICAL, Role.SUBJECT, [Posture.SKELETON, Posture.MUSCLE]
            )
            store.end_session(sid, SessionStatus.COMPLETE)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return build(tmp_path / "posture study.db")


def stored(path: Path, table: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
    finally:
        conn.close()


async def open_datasette(path: Path) -> Datasette:
    ds = Datasette([str(path)], metadata=metadata(path))
    await ds.invoke_startup()
    return ds


def url(path: Path) -> str:
    """The database's name in Datasette's URLs (its file stem, tilde-encoded)."""
    return tilde_encode(path.stem)


def by_key(rows: list[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {tuple(r[k] for k in key): r for r in rows}


async def test_datasette_serves_the_trial_results_view_as_stored(db: Path) -> None:
    ds = await open_datasette(db)
    resp = await ds.client.get(f"/{url(db)}/trial_results.json?_shape=array")
    assert resp.status_code == 200
    rows = resp.json()
    expected = stored(db, "trial_results")
    assert len(rows) == len(expected) == 12
    assert all(list(r) == list(TRIAL_COLUMNS) for r in rows)
    assert by_key(rows, "trial_id") == by_key(expected, "trial_id")
    notes = {r["note"] for r in rows}
    assert 'a, "b"\nc' in notes


async def test_datasette_serves_rankings_and_hides_the_secret(db: Path) -> None:
    ds = await open_datasette(db)
    resp = await ds.client.get(f"/{url(db)}/rankings.json?_shape=array")
    assert resp.status_code == 200
    key = ("session_id", "test", "role", "posture")
    assert by_key(resp.json(), *key) == by_key(stored(db, "rankings"), *key)
    listing = (await ds.client.get(f"/{url(db)}.json")).json()
    hidden = {t["name"] for t in listing["tables"] if t["hidden"]}
    assert "meta" in hidden
    visible = {t["name"] for t in listing["tables"] if not t["hidden"]}
    assert {"sessions", "trials", "rankings", "subjects", "corrections"} <= visible


async def test_datasette_labels_the_columns(db: Path) -> None:
    ds = await open_datasette(db)
    page = await ds.client.get(f"/{url(db)}/trial_results")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Trial results (one row per trial)" in text
    fields = {f.name: f for f in TRIAL_FIELDS}
    for name in ("subject", "tester_stability", "subject_ease", "outcome"):
        assert fields[name].description in text, name
    assert "rock steady" in text and "effortless" in text

    served = (await ds.client.get("/-/metadata.json")).json()
    table = served["databases"][db.stem]["tables"]["trial_results"]
    assert table["columns"] == {f.name: f.description for f in TRIAL_FIELDS}
    assert set(table["columns"]) == set(TRIAL_COLUMNS)
    rankings = served["databases"][db.stem]["tables"]["rankings"]["columns"]
    assert rankings == {f.name: f.description for f in RANKING_FIELDS}


async def test_datasette_rankings_page_shows_its_descriptions(db: Path) -> None:
    ds = await open_datasette(db)
    page = await ds.client.get(f"/{url(db)}/rankings")
    assert page.status_code == 200
    text = html.unescape(page.text)
    rank = next(f for f in RANKING_FIELDS if f.name == "rank")
    assert rank.description in text


def test_metadata_columns_exist_in_the_database(db: Path) -> None:
    """Every described column is a real column, so no description points at nothing."""
    conn = sqlite3.connect(db)
    try:
        for table, spec in metadata(db)["databases"][db.stem]["tables"].items():
            columns = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            assert columns, table
            assert set(spec.get("columns", {})) <= columns, table
    finally:
        conn.close()


@pytest.mark.parametrize("where", ["subcommand", "group"])
def test_datasette_metadata_command_prints_json_keyed_by_stem(db: Path, where: str) -> None:
    args = (
        ["datasette-metadata", "--db", str(db)]
        if where == "subcommand"
        else ["--db", str(db), "datasette-metadata"]
    )
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert list(printed["databases"]) == [db.stem] == ["posture study"]
    assert printed == json.loads(json.dumps(metadata(db)))
    assert result.stderr == ""


def test_datasette_metadata_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    target = tmp_path / "notes.db"
    target.write_text("name,score\n")
    result = CliRunner().invoke(main, ["datasette-metadata", "--db", str(target)])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("posturetest: ")
    assert "is not a SQLite database" in lines[0]
