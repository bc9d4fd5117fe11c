"""`posturetest merge`: other stations' databases come in by UUID, all or nothing.

Subjects with the same code (in any case) become one subject; safety answers and corrections
come along; merging again changes nothing; a conflict merges nothing; a station on an older
schema is read as it is; a file that is not ours, damaged, of a newer schema, missing or the
target itself is refused and left as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from posturetest.domain import (
    SAFETY_KEYS,
    OrderScheme,
    Outcome,
    Position,
    Posture,
    Role,
    SessionStatus,
    StopReason,
    StressTest,
)
from posturetest.store import SCHEMA_VERSION, Store
from posturetest.store.schema import APPLICATION_ID, MIGRATIONS
from tests.factories import new_session, rate_trials
from tests.unit.test_import import export_csv, fingerprint, read_rows, run

TABLES = ("subjects", "sessions", "safety_answers", "trials", "rankings", "corrections")


def merge(target: Path, *others: Path) -> Result:
    return run("merge", "--db", str(target), *(str(o) for o in others))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def counts(db: Path) -> dict[str, int]:
    return {t: n for t, n in fingerprint(db)[0].items() if t in TABLES}


def build_station_a(db: Path) -> None:
    """Station A: S-1 complete and ranked with a correction; K-7 stopped at the safety check."""
    with Store(db) as store:
        session_id = new_session(
            store, "S-1", started_at="2026-11-20T09:00:00Z", station="A", tester="Ann, PT"
        )
        rate_trials(store, session_id)
        for test in store.session(session_id).tests:
            for role in Role:
                store.record_ranking(
                    session_id, test, role, [Posture.SKELETON, Posture.MUSCLE, Posture.LIGAMENT]
                )
        first = store.trials(session_id)[0]
        store.correct_rating(first.trial_id, "subject_ease", 9, "typed 2, meant 9")
        store.end_session(session_id, SessionStatus.COMPLETE)
        new_session(store, "K-7", started_at="2026-11-20T10:00:00Z", station="A", safety_yes=True)


def build_station_b(db: Path) -> None:
    """Station B: s-1 (the same subject as S-1) in progress; M-3 cleared, one trial stopped."""
    with Store(db) as store:
        session_id = new_session(
            store,
            "s-1",
            started_at="2026-11-21T09:00:00Z",
            station="B",
            scheme=OrderScheme.RANDOM,
            seed=42,
            record_effort=True,
        )
        rate_trials(store, session_id, upto=2)
        store.record_rating(store.trials(session_id)[2].trial_id, "tester_stability", 4)
        store.correct_rating(store.trials(session_id)[1].trial_id, "tester_stability", 1)
        cleared = new_session(
            store,
            "M-3",
            started_at="2026-11-21T11:00:00Z",
            station="B",
            safety_yes=True,
            cleared_by="Dr. Who",
            position=Position.STANDING,
            tests=(StressTest.ANTERIOR,),
            repetitions=2,
        )
        rate_trials(store, cleared, upto=1)
        store.stop_trial(
            store.trials(cleared)[1].trial_id, StopReason.COULD_NOT_HOLD, note='wobbly, "again"'
        )
        store.end_session(cleared, SessionStatus.STOPPED)


@pytest.fixture(scope="module")
def stations(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stations")
    paths = {"a": folder / "a.db", "b": folder / "b.db"}
    build_station_a(paths["a"])
    build_station_b(paths["b"])
    return paths


@pytest.fixture
def a(stations: dict[str, Path], tmp_path: Path) -> Path:
    (tmp_path / "a").mkdir()
    return Path(shutil.copy(stations["a"], tmp_path / "a" / "a.db"))


@pytest.fixture
def b(stations: dict[str, Path], tmp_path: Path) -> Path:
    (tmp_path / "b").mkdir()
    return Path(shutil.copy(stations["b"], tmp_path / "b" / "b.db"))


def session_row(db: Path, session_id: str) -> tuple[object, ...]:
    """Every stored column of a session but its subject id (which is per database)."""
    conn = sqlite3.connect(db)
    try:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM sessions WHERE session_id = ?", (session_id,)).fetchone()
        return tuple(row[k] for k in row.keys() if k != "subject_id")
    finally:
        conn.close()


def test_two_stations_merge_into_a_new_database(a: Path, b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    expected = {t: counts(a)[t] + counts(b)[t] for t in TABLES if t != "subjects"}
    assert expected["sessions"] == 4 and expected["corrections"] == 2
    result = merge(target, a, b)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"Merged 2 database(s): added 4 sessions, {expected['trials']} trials, "
        f"{expected['rankings']} rankings (3 new subjects); already present: 0 sessions, "
        "0 trials, 0 rankings.\n"
    )
    assert counts(target) == {**expected, "subjects": 3}


def test_merged_sessions_keep_everything_they_had(a: Path, b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    assert merge(target, a, b).exit_code == 0
    with Store(target) as merged:
        for source in (a, b):
            with Store(source) as station:
                for row in station.recent_sessions(limit=100):
                    sid = row.session_id
                    original = station.session(sid)
                    copy = merged.session(sid)
                    assert copy.subject.casefold() == original.subject.casefold()
                    assert copy == dataclasses.replace(original, subject=copy.subject)
                    assert merged.trials(sid) == station.trials(sid)
                    assert merged.rankings(sid) == station.rankings(sid)
                    assert merged.safety_answers(sid) == station.safety_answers(sid)
                    assert session_row(target, sid) == session_row(source, sid)
                    assert set(merged.safety_answers(sid)) == set(SAFETY_KEYS)
                    for trial in station.trials(sid):
                        assert merged.corrections(trial.trial_id) == station.corrections(
                            trial.trial_id
                        )


def test_same_subject_code_in_another_case_becomes_one_subject(
    a: Path, b: Path, tmp_path: Path
) -> None:
    target = tmp_path / "all.db"
    assert merge(target, a, b).exit_code == 0
    conn = sqlite3.connect(target)
    try:
        codes = [r[0] for r in conn.execute("SELECT code FROM subjects")]
        sessions, subjects = conn.execute(
            "SELECT count(*), count(DISTINCT s.subject_id) FROM sessions s "
            "JOIN subjects sub ON sub.subject_id = s.subject_id WHERE lower(sub.code) = 's-1'"
        ).fetchone()
    finally:
        conn.close()
    assert sorted(c.casefold() for c in codes) == ["k-7", "m-3", "s-1"]
    assert (sessions, subjects) == (2, 1)
    rows = read_rows(export_csv(target, tmp_path / "all.csv", "--subject", "S-1"))
    assert {r["station"] for r in rows} == {"A", "B"}


def test_subject_already_in_the_target_is_reused(a: Path, b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    with Store(target) as store:
        new_session(store, "S-1", started_at="2026-11-19T09:00:00Z", station="T")
    result = merge(target, b, a)
    assert result.exit_code == 0, result.output
    assert "(2 new subjects)" in result.stdout
    assert counts(target)["subjects"] == 3
    assert counts(target)["sessions"] == 5


def test_merging_again_changes_nothing(a: Path, b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    assert merge(target, a, b).exit_code == 0
    before, before_bytes = fingerprint(target), digest(target)
    trials = counts(target)["trials"]
    rankings = counts(target)["rankings"]
    for others in ((a, b), (b,), (a, a)):
        result = merge(target, *others)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("Nothing new:")
        assert result.stderr == ""
    result = merge(target, a, b)
    assert result.stdout == (
        f"Nothing new: 4 sessions, {trials} trials and {rankings} rankings were already "
        "present (Merged 2 database(s)).\n"
    )
    assert fingerprint(target) == before
    assert digest(target) == before_bytes


def test_merging_into_a_station_adds_only_the_other(a: Path, b: Path) -> None:
    before = counts(a)
    result = merge(a, b)
    assert result.exit_code == 0
    assert "added 2 sessions" in result.stdout
    assert "(1 new subjects)" in result.stdout  # M-3; s-1 is A's S-1
    assert counts(a)["sessions"] == before["sessions"] + 2
    assert counts(a)["subjects"] == before["subjects"] + 1


# -- conflicts -------------------------------------------------------------------------------------


def changed_copy(source: Path, to: Path) -> str:
    """A copy of `source` where one confirmed rating was corrected afterwards; its trial id."""
    shutil.copy(source, to)
    with Store(to) as store:
        session_id = store.recent_sessions(limit=100)[-1].session_id
        trial = store.trials(session_id)[1]
        old = trial.rating("tester_stability")
        assert old is not None
        store.correct_rating(trial.trial_id, "tester_stability", (old + 3) % 11, "re-rated")
    return trial.trial_id


def test_conflicting_rating_merges_nothing(a: Path, b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    assert merge(target, a).exit_code == 0
    changed = tmp_path / "a-later.db"
    trial_id = changed_copy(a, changed)
    before, source_before = fingerprint(target), digest(changed)
    result = merge(target, b, changed)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    named = [line for line in lines if trial_id in line]
    assert len(named) == 1 and "tester_stability" in named[0], lines
    assert lines[-1] == "posturetest: nothing was merged"
    assert fingerprint(target) == before  # not even station B's new sessions
    assert digest(changed) == source_before


def test_two_sources_that_disagree_conflict(a: Path, tmp_path: Path) -> None:
    changed = tmp_path / "a-later.db"
    trial_id = changed_copy(a, changed)
    target = tmp_path / "all.db"
    Store(target).close()
    before = fingerprint(target)
    result = merge(target, a, changed)
    assert result.exit_code == 1
    assert trial_id in result.stderr
    assert fingerprint(target) == before


def test_session_resumed_after_a_merge_is_a_conflict(b: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    assert merge(target, b).exit_code == 0
    with Store(b) as station:
        in_progress = [
            r.session_id
            for r in station.recent_sessions(limit=100)
            if r.status is SessionStatus.IN_PROGRESS
        ]
        assert len(in_progress) == 1
        pending = [
            t
            for t in station.trials(in_progress[0])
            if t.outcome is Outcome.PENDING and t.rating("tester_stability") is None
        ]
        station.record_rating(pending[0].trial_id, "tester_stability", 7)
    before = fingerprint(target)
    result = merge(target, b)
    assert result.exit_code == 1
    assert pending[0].trial_id in result.stderr
    assert fingerprint(target) == before


# -- refusals --------------------------------------------------------------------------------------


def _not_sqlite(path: Path, a: Path) -> None:
    path.write_text("trial_id,session_id\n1,2\n")


def _empty_file(path: Path, a: Path) -> None:
    path.write_bytes(b"")


def _foreign(path: Path, a: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE trials (id INTEGER PRIMARY KEY, name TEXT)")
    conn.commit()
    conn.close()


def _newer(path: Path, a: Path) -> None:
    shutil.copy(a, path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()


def older_copy(source: Path, path: Path, version: int) -> None:
    """`source`'s rows in a file of an older schema, as a station not yet updated has them."""
    conn = sqlite3.connect(path)
    for migration in MIGRATIONS[:version]:
        migration(conn)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("ATTACH ? AS current", (str(source),))
    for table in TABLES:  # the older table's columns (a later schema added some)
        columns = ", ".join(r[1] for r in conn.execute(f"PRAGMA main.table_info({table})"))
        conn.execute(f"INSERT INTO {table} SELECT {columns} FROM current.{table}")
    conn.commit()
    conn.execute("DETACH current")
    conn.close()


@pytest.mark.parametrize("version", range(1, SCHEMA_VERSION))
def test_a_station_with_an_older_schema_is_merged_and_left_as_it_was(
    a: Path, b: Path, tmp_path: Path, version: int
) -> None:
    older = tmp_path / "station-a-old.db"
    older_copy(a, older, version)
    before = digest(older)
    target = tmp_path / "all.db"
    result = merge(target, older, b)
    assert result.exit_code == 0, result.output
    assert digest(older) == before
    expected = tmp_path / "expected.db"
    assert merge(expected, a, b).exit_code == 0
    assert export_csv(target, tmp_path / "got.csv") == export_csv(expected, tmp_path / "want.csv")
    assert counts(target) == counts(expected)


def _damaged(path: Path, a: Path) -> None:
    data = a.read_bytes()
    path.write_bytes(data[:100] + b"\xff" * (len(data) - 100))


REFUSED = [
    ("not_sqlite", _not_sqlite, "is not a SQLite database"),
    ("empty_file", _empty_file, "is an empty file, not a posturetest database"),
    ("foreign", _foreign, "is a SQLite database but not a posturetest one"),
    ("newer_schema", _newer, f"newer posturetest (schema {SCHEMA_VERSION + 1}"),
    ("damaged", _damaged, "damaged"),
]


@pytest.mark.parametrize(
    ("make", "message"), [(m, msg) for _, m, msg in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_refused_source_is_left_untouched_and_nothing_is_merged(
    a: Path, b: Path, tmp_path: Path, make: Callable[[Path, Path], None], message: str
) -> None:
    bad = tmp_path / "station-c.db"
    make(bad, a)
    source_before = digest(bad)
    target = tmp_path / "all.db"
    assert merge(target, a).exit_code == 0
    before = fingerprint(target)
    result = merge(target, b, bad)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"posturetest: {bad}")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert digest(bad) == source_before
    assert fingerprint(target) == before  # station B, which was fine, did not come in either


def test_missing_source_is_refused(a: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.db"
    Store(target).close()
    before = fingerprint(target)
    missing = tmp_path / "nowhere.db"
    result = merge(target, a, missing)
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {missing} does not exist\n"
    assert not missing.exists()
    assert fingerprint(target) == before


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_target_itself_is_refused(a: Path, b: Path, spelling: str) -> None:
    before, before_bytes = fingerprint(a), digest(a)
    itself = a if spelling == "same" else a.parent / ".." / a.parent.name / a.name
    assert spelling == "same" or str(itself) != str(a)
    result = merge(a, b, itself)
    assert result.exit_code == 2
    assert result.stderr == f"posturetest: {itself} is the database being merged into\n"
    assert fingerprint(a) == before
    assert digest(a) == before_bytes


def test_merge_needs_a_source() -> None:
    result = run("merge")
    assert result.exit_code == 2
    assert "OTHERS" in result.stderr


def test_refused_wal_file_gets_no_companion_files(a: Path, tmp_path: Path) -> None:
    folder = tmp_path / "station-c"
    folder.mkdir()
    newer = folder / "c.db"
    shutil.copy(a, newer)
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    assert sorted(os.listdir(folder)) == ["c.db"]
    result = merge(tmp_path / "all.db", newer)
    assert result.exit_code == 2
    assert "newer posturetest" in result.stderr
    assert sorted(os.listdir(folder)) == ["c.db"]
