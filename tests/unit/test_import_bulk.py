"""Large imports: checking in a second process, batches, and the bulk index path.

A trials file of `PARALLEL_FROM_BYTES` or more is read and checked by a child Python while the
importing process writes. Here that threshold is 0, so every import below takes that path, and
the catalogue of round trips and refusals from test_import runs again through it: the same
messages, exit codes and untouched databases. Then: a checking process that dies or fails, rows
of one session spread over batches, and the indexes a bulk import into an empty database builds.
"""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from posturetest.importing import cells, parallel, reading, run
from posturetest.importing.problems import Checked
from posturetest.importing.tables import TrialBatch
from posturetest.store import Store
from tests.unit.test_import import (  # the catalogue, run again here through the second process
    STUDY_TRIALS,
    Rows,
    built,
    export_csv,
    fingerprint,
    import_into,
    plain_rows,
    read_rows,
    refusal_lines,
    target,
    test_bad_row_is_refused_with_its_line_and_column,
    test_csv_round_trip_is_byte_identical,
    test_datapackage_round_trip_is_byte_identical,
    test_datapackage_round_trip_keeps_rankings_and_session_facts,
    test_importing_twice_changes_nothing,
    test_latin1_file_is_refused_naming_the_byte,
    test_line_number_after_a_multiline_note,
    test_line_number_of_a_multiline_row_is_where_it_starts,
    test_line_numbers_count_the_lines_of_multiline_fields,
    test_more_than_twenty_problems_lists_twenty,
    test_row_with_wrong_number_of_cells,
    test_semicolon_file_reports_lines_of_bad_rows,
    test_subject_case_may_differ_between_rows_of_a_session,
    test_unusable_file_is_refused_with_one_line,
    write_rows,
)

__all__ = [
    "built",
    "plain_rows",
    "target",
    "test_bad_row_is_refused_with_its_line_and_column",
    "test_csv_round_trip_is_byte_identical",
    "test_datapackage_round_trip_is_byte_identical",
    "test_datapackage_round_trip_keeps_rankings_and_session_facts",
    "test_importing_twice_changes_nothing",
    "test_latin1_file_is_refused_naming_the_byte",
    "test_line_number_after_a_multiline_note",
    "test_line_number_of_a_multiline_row_is_where_it_starts",
    "test_line_numbers_count_the_lines_of_multiline_fields",
    "test_more_than_twenty_problems_lists_twenty",
    "test_row_with_wrong_number_of_cells",
    "test_semicolon_file_reports_lines_of_bad_rows",
    "test_subject_case_may_differ_between_rows_of_a_session",
    "test_unusable_file_is_refused_with_one_line",
]

THRESHOLD = parallel.PARALLEL_FROM_BYTES
"""The real size from which a second process checks (the fixture below sets it to 0 here)."""
PLAN_COLUMNS = (
    "session_id, tests, repetitions, record_effort, record_discomfort, ended_at, safety_passed"
)


@pytest.fixture(autouse=True)
def checked_elsewhere(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every trials file goes to a checking process; this process never checks one itself."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 0)
    here: list[Path] = []
    real = run.trial_batches

    def spy(path: Path, checked: Checked) -> Iterator[TrialBatch]:
        if path.is_file():  # a missing one is reported here, without starting a process
            here.append(path)
        return real(path, checked)

    monkeypatch.setattr(run, "trial_batches", spy)
    yield here
    assert here == [], "a trials file was checked in the importing process"


def stored_plans(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {PLAN_COLUMNS} FROM sessions ORDER BY session_id").fetchall()
    finally:
        conn.close()


def index_names(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    finally:
        conn.close()


# -- the checking process failing ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        ("import sys; sys.exit(3)", "the process checking this file stopped unexpectedly"),
        ("import sys; sys.stdout.buffer.write(b'\\x05junk')", "stopped unexpectedly"),
        (
            "import posturetest.importing.parallel as i; "
            "i.trial_batches = None; i.check_in_worker()",
            "TypeError: 'NoneType' object is not callable",
        ),
    ],
    ids=["dies", "garbles", "fails"],
)
def test_a_failing_checking_process_is_one_line_and_nothing_is_written(
    built: dict[str, Path],
    target: Path,
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    problem: str,
) -> None:
    monkeypatch.setattr(parallel, "_WORKER_CODE", code)
    before = fingerprint(target)
    result = import_into(target, built["plain.csv"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = refusal_lines(result)
    assert len(lines) == 1
    assert lines[0].startswith(f"posturetest: {built['plain.csv']}: ")
    assert lines[0].endswith(f"{problem} (nothing was imported)")
    assert fingerprint(target) == before


def test_the_checking_process_runs_nothing_of_the_callers_script(
    built: dict[str, Path], tmp_path: Path
) -> None:
    """A researcher's script calling import_file without a __main__ guard is not run twice."""
    script = tmp_path / "script.py"
    marker = tmp_path / "ran.txt"
    script.write_text(
        "from pathlib import Path\n"
        "from posturetest.importing import import_file, parallel\n"
        "from posturetest.store import Store\n"
        f"with Path({str(marker)!r}).open('a') as f:\n"
        "    f.write('ran\\n')\n"
        "parallel.PARALLEL_FROM_BYTES = 0\n"
        f"with Store({str(tmp_path / 'db.db')!r}) as store:\n"
        f"    print(import_file(store, Path({str(built['plain.csv'])!r})).trials_added)\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(STUDY_TRIALS)
    assert marker.read_text(encoding="utf-8") == "ran\n"


# -- rows of a session in several batches ------------------------------------------------------


def test_sessions_spread_over_batches_get_the_plan_of_all_their_rows(
    built: dict[str, Path],
    plain_rows: Rows,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    checked_elsewhere: list[Path],
) -> None:
    """Rows shuffled, so every session's rows are spread out, in batches of three: the plans
    (tests in order, repetitions, scales recorded, end) are those of a file read in one go."""
    monkeypatch.setattr(parallel, "PARALLEL_FROM_BYTES", 1 << 40)  # in this process: batches
    whole = tmp_path / "whole.db"
    spread = tmp_path / "spread.db"
    try:
        assert import_into(whole, built["plain.csv"]).exit_code == 0
        random.Random(7).shuffle(plain_rows)
        monkeypatch.setattr(reading, "BATCH_ROWS", 3)
        result = import_into(spread, write_rows(tmp_path / "shuffled.csv", plain_rows))
    finally:
        checked_elsewhere.clear()  # this test checks in this process on purpose
    assert result.exit_code == 0, result.output
    assert stored_plans(spread) == stored_plans(whole)
    assert any("," in str(p[1]) for p in stored_plans(spread))  # an order of tests to get right
    assert export_csv(spread, tmp_path / "a.csv") == export_csv(whole, tmp_path / "b.csv")


def test_plans_match_those_the_app_recorded(built: dict[str, Path], tmp_path: Path) -> None:
    """A CSV carries no plan; the one worked out from its rows is the one the app stored."""
    db = tmp_path / "db.db"
    assert import_into(db, built["plain.csv"]).exit_code == 0
    recorded = {p[0]: p for p in stored_plans(built["plain"])}
    for plan in stored_plans(db):
        tests, repetitions, effort, discomfort = plan[1:5]
        assert (tests, repetitions) == recorded[plan[0]][1:3]
        # a scale the app recorded but no rated trial used cannot be seen in the rows
        assert (effort, discomfort) <= recorded[plan[0]][3:5]


# -- the bulk path: indexes built after the rows --------------------------------------------------


def test_an_import_into_an_empty_database_ends_with_every_index(
    built: dict[str, Path], tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.db"
    with Store(fresh):
        pass
    expected = index_names(fresh)
    assert {"trials_by_id", "trials_by_position", "sessions_by_start"} <= expected
    db = tmp_path / "db.db"
    assert import_into(db, built["plain.csv"]).exit_code == 0
    assert index_names(db) == expected
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        plan = " ".join(
            r[3] for r in conn.execute("EXPLAIN QUERY PLAN SELECT * FROM trial_results")
        )
        assert "trials_by_position" in plan
    finally:
        conn.close()


def test_a_refused_import_into_an_empty_database_leaves_it_as_it_was(
    plain_rows: Rows, tmp_path: Path
) -> None:
    """Indexes dropped and the journal switched for the bulk load: all of it undone."""
    db = tmp_path / "db.db"
    with Store(db):
        pass
    before = fingerprint(db)
    plain_rows[-1]["posture"] = "banana"  # found after every other row was written
    result = import_into(db, write_rows(tmp_path / "bad.csv", plain_rows))
    assert result.exit_code == 1
    assert fingerprint(db) == before
    assert "trials_by_id" in index_names(db)
    assert journal_mode(db) == "wal"
    assert not (tmp_path / "db.db-journal").exists()


def test_the_indexes_refuse_what_they_should_after_a_bulk_import(
    built: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "db.db"
    assert import_into(db, built["plain.csv"]).exit_code == 0
    rows = read_rows(built["plain.csv"].read_bytes())
    with Store(db) as store:
        columns = "trial_id, session_id, seq, test, posture, rep, outcome"
        values = (rows[0]["session_id"], 999, "vertical", "muscle", 1, "pending")
        with pytest.raises(sqlite3.IntegrityError, match="trial_id"):
            store.conn.execute(
                f"INSERT INTO trials ({columns}) VALUES (?,?,?,?,?,?,?)",
                (rows[0]["trial_id"], *values),
            )
        with pytest.raises(sqlite3.IntegrityError, match="seq"):
            store.conn.execute(
                f"INSERT INTO trials ({columns}) VALUES (?,?,?,?,?,?,?)",
                ("0" * 8 + "-0000-4000-8000-" + "0" * 12, rows[0]["session_id"], 1, *values[2:]),
            )


def big_copy(rows: Rows, path: Path, times: int = 1) -> Path:
    """The study's rows over and over, each copy with its own ids: a file past the size at
    which a second process checks it, even when nothing is patched (another process)."""
    copies = []
    for n in range(times * THRESHOLD // (len(rows) * 150) + 1):
        ids = {r[c] for r in rows for c in ("trial_id", "session_id")}
        fresh = {i: str(uuid.UUID(int=hash((i, n)) % 2**128, version=4)) for i in ids}
        copies += [
            {**r, "trial_id": fresh[r["trial_id"]], "session_id": fresh[r["session_id"]]}
            for r in rows
        ]
    write_rows(path, copies)
    assert path.stat().st_size >= THRESHOLD
    return path


def test_a_posturetest_folder_in_the_current_directory_is_not_imported_instead(
    plain_rows: Rows, tmp_path: Path
) -> None:
    """The checking process imports the installed package, not a folder that happens to be
    where the command was typed."""
    decoy = tmp_path / "here" / "posturetest"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise SystemExit('the decoy was imported')\n")
    big = big_copy(plain_rows, tmp_path / "big.csv")
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "posturetest"),
            "--db",
            str(tmp_path / "db.db"),
            "import",
            str(big),
        ],
        cwd=decoy.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"{len(read_rows(big.read_bytes())):,} trials" in done.stdout


# -- the rollback journal of an import into a new file ------------------------------------------


def journal_mode(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        conn.close()


def test_an_import_into_a_new_file_leaves_it_in_write_ahead_logging(
    built: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "db.db"
    assert import_into(db, built["plain.csv"]).exit_code == 0
    assert journal_mode(db) == "wal"
    assert not (tmp_path / "db.db-journal").exists()


def test_with_another_connection_on_the_file_the_import_keeps_the_log(
    built: dict[str, Path], tmp_path: Path
) -> None:
    db = tmp_path / "db.db"
    with Store(db) as app, Store(db) as importing:
        with importing.rollback_journal() as switched:
            assert switched is False
        assert importing.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert import_into(db, built["plain.csv"]).exit_code == 0
        assert app.count("trials") == STUDY_TRIALS  # the open app reads what came in
    assert journal_mode(db) == "wal"


def test_alone_on_the_file_the_journal_switches_and_switches_back(tmp_path: Path) -> None:
    with Store(tmp_path / "db.db") as store:
        with store.rollback_journal() as switched:
            assert switched is True
            assert store.conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert store.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    with Store(":memory:") as memory, memory.rollback_journal() as switched:
        assert switched is False


def test_an_import_killed_half_way_leaves_a_new_file_empty_and_usable(
    plain_rows: Rows, tmp_path: Path
) -> None:
    """Killed with the rollback journal on disk: the next opening rolls the import back."""
    big = big_copy(plain_rows, tmp_path / "big.csv", times=4)
    db = tmp_path / "db.db"
    command = Path(sys.executable).parent / "posturetest"
    importing = subprocess.Popen(
        [str(command), "--db", str(db), "import", str(big)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    journal = tmp_path / "db.db-journal"
    deadline = time.monotonic() + 60
    while not journal.exists() and importing.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # a separate process: nothing to await
    importing.kill()
    importing.wait()
    assert journal.exists(), "the import ended before it could be killed half-way"
    with Store(db) as store:
        assert store.count("trials") == store.count("sessions") == 0
        assert store.conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert store.conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert import_into(db, big).exit_code == 0


@pytest.mark.parametrize("year", [0, 1, 1900, 2000, 2023, 2024, 2026, 2100, 2400, 9999])
def test_the_datetime_pattern_knows_the_calendar(year: int) -> None:
    """Every day of these years, and impossible ones, against Python's own calendar."""
    from datetime import datetime

    for month in range(0, 14):
        for day in range(0, 33):
            text = f"{year:04d}-{month:02d}-{day:02d}T23:59:59Z"
            try:
                datetime.fromisoformat(text[:-1])
                real = True
            except ValueError:
                real = False
            assert bool(cells._MOMENT.fullmatch(text)) == real, text
