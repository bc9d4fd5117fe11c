"""One rule for notes (length and characters), kept by the database, the store, the import (at
any place in a file) and the app."""

from __future__ import annotations

import csv
import io
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from posturetest.domain import NOTE_MAX_LENGTH, NOTE_RULE, StopReason, note_problem
from posturetest.store import RecordError, Store
from posturetest.tui.dialogs import StopDialog
from tests.factories import started_session
from tests.functional.pilot import session_pilot

POSTURETEST = Path(sys.executable).parent / "posturetest"
GOOD = 'left knee\tsore\r\nsecond line, 日本語, emoji 😀, "quoted"'


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        (GOOD, None),
        ("x" * NOTE_MAX_LENGTH, None),
        ("x" * (NOTE_MAX_LENGTH + 1), "more than the 2,000"),
        ("cut\x00here", "U+0000"),
        ("bell\x07", "U+0007"),
        ("escape\x1b[2J", "U+001B"),
        ("delete\x7f", "U+007F"),
    ],
)
def test_the_rule(note: str, problem: str | None) -> None:
    found = note_problem(note)
    assert (found is None) if problem is None else (found is not None and problem in found)


@pytest.mark.parametrize("note", ["a\x00b", "x" * (NOTE_MAX_LENGTH + 1), "a\x0bb", "\x1f"])
def test_the_database_refuses_a_note_against_the_rule(tmp_path: Path, note: str) -> None:
    with Store(tmp_path / "n.db") as store:
        session_id = started_session(store)
        trial = store.trials(session_id)[0]
        with pytest.raises(sqlite3.IntegrityError, match="note: at most 2,000 characters"):
            store.conn.execute(
                "UPDATE trials SET note = ? WHERE trial_id = ?", (note, trial.trial_id)
            )
        with pytest.raises(RecordError, match="note: "):
            store.stop_trial(trial.trial_id, StopReason.OTHER, note=note)
        store.stop_trial(trial.trial_id, StopReason.OTHER, note=GOOD)
        assert store.trial(trial.trial_id).note == GOOD


@pytest.fixture(scope="module")
def export_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    base = tmp_path_factory.mktemp("notes")
    subprocess.run(
        [str(POSTURETEST), "sample", "--out", str(base / "s"), "--subjects", "40"],
        check=True,
        capture_output=True,
    )
    return (base / "s" / "trials.csv").read_text(encoding="utf-8")


def with_note(export: str, line: int, note: str) -> str:
    rows = list(csv.reader(io.StringIO(export)))
    rows[line - 1][rows[0].index("note")] = note
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


@pytest.mark.parametrize(
    ("note", "problem"),
    [
        ("late\x00NUL", "holds the control character U+0000"),
        ("y" * 200_000, "200,000 characters, more than the 2,000"),
        ("tab\tok but \x1b escape", "U+001B"),
    ],
    ids=["nul-far-in", "200-kb", "escape"],
)
def test_the_import_refuses_a_bad_note_anywhere_in_the_file_with_its_line(
    export_csv: str, tmp_path: Path, note: str, problem: str
) -> None:
    lines = export_csv.count("\n")
    target_line = lines - 2  # far past the first 8 KiB
    assert len(export_csv.encode()) > 3 * 8192
    path = tmp_path / "trials.csv"
    path.write_text(with_note(export_csv, target_line, note), encoding="utf-8")
    db = tmp_path / "target.db"
    done = subprocess.run(
        [str(POSTURETEST), "--db", str(db), "import", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert f"{path}:{target_line}: note: " in done.stderr and problem in done.stderr
    assert "field larger than field limit" not in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists()


def test_a_good_note_with_line_breaks_and_cjk_round_trips(export_csv: str, tmp_path: Path) -> None:
    path = tmp_path / "trials.csv"
    path.write_text(with_note(export_csv, 5, GOOD), encoding="utf-8")
    db = tmp_path / "target.db"
    done = subprocess.run(
        [str(POSTURETEST), "--db", str(db), "import", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM trials WHERE note = ?", (GOOD,)).fetchone() == (
            1,
        )
    again = subprocess.run([str(POSTURETEST), "--db", str(db), "export"], capture_output=True)
    assert GOOD.replace('"', '""').encode() in again.stdout  # bytes: the \r\n stays as it is


def test_the_codebook_and_package_state_the_rule() -> None:
    from posturetest.domain.interchange import TRIAL_FIELDS
    from posturetest.export import codebook_markdown, field_schema

    assert NOTE_RULE in codebook_markdown()
    note = field_schema(next(f for f in TRIAL_FIELDS if f.name == "note"))
    assert note["constraints"]["maxLength"] == NOTE_MAX_LENGTH
    assert "\x00" in note["constraints"]["pattern"]


async def test_the_stop_dialog_takes_a_note_under_the_rule(store: Store, db_file: Path) -> None:
    session_id = started_session(store)
    async with session_pilot(store, session_id) as (app, pilot):
        await pilot.press("s", "4")  # stop, reason: other
        dialog = app.screen
        assert isinstance(dialog, StopDialog)
        await pilot.press("n")
        await pilot.press(*"slipped\x07 off the chair")  # the bell is not taken
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, StopDialog)
    first = store.trials(session_id)[0]
    assert first.stop_reason is StopReason.OTHER
    assert first.note == "slipped off the chair"
