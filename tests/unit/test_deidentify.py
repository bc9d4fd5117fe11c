"""De-identified means unlinkable: no id, time of day or free text of the database survives, yet
the files still fit together and import again."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.factories import whole_study
from tests.unit.test_package_whole import run

DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("deid") / "study.db"
    whole_study(db)
    return db


def stored(db: Path) -> tuple[set[str], set[str], list[str]]:
    """Every id, every time of day and every free text the database holds."""
    with closing(sqlite3.connect(db)) as conn:
        ids = {
            v
            for sql in (
                "SELECT trial_id FROM trials",
                "SELECT session_id FROM sessions",
                "SELECT correction_id FROM corrections",
                "SELECT subject_id FROM subjects",
                "SELECT code FROM subjects",
            )
            for (v,) in conn.execute(sql)
        }
        times = {
            v[11:19]
            for sql in (
                "SELECT started_at FROM sessions UNION SELECT ended_at FROM sessions",
                "SELECT rated_at FROM trials",
                "SELECT ranked_at FROM rankings",
                "SELECT answered_at FROM safety_answers",
                "SELECT corrected_at FROM corrections",
            )
            for (v,) in conn.execute(sql)
            if v
        }
        texts = [
            v
            for sql in (
                "SELECT tester FROM sessions",
                "SELECT cleared_by FROM sessions",
                "SELECT note FROM trials",
                "SELECT reason FROM corrections",
            )
            for (v,) in conn.execute(sql)
            if v
        ]
    return ids, times - {"00:00:00"}, texts


def export(db: Path, out: Path, fmt: str) -> str:
    args = ["--db", str(db), "export", "--deidentify", "--format", fmt, "--out", str(out)]
    done = run(*args)
    assert done.returncode == 0, done.stderr
    if fmt == "datapackage":
        return "\n".join(p.read_text(encoding="utf-8") for p in sorted(out.glob("*.csv")))
    return out.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["csv", "json", "datapackage"])
def test_no_id_time_of_day_or_text_of_the_database_survives(
    study: Path, tmp_path: Path, fmt: str
) -> None:
    text = export(study, tmp_path / f"out.{fmt}", fmt)
    ids, times, texts = stored(study)
    assert texts and times and ids
    leaked = [i for i in ids if i in text] + [t for t in texts if t in text]
    assert not leaked
    stamps = DATETIME.findall(text)
    assert stamps and all(s.endswith("T00:00:00Z") for s in stamps)
    assert not {s[11:19] for s in stamps} & times
    assert UUID.search(text)  # new ids, still UUID-shaped


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_new_ids_are_stable_and_fit_together(study: Path, tmp_path: Path) -> None:
    export(study, tmp_path / "a", "datapackage")
    export(study, tmp_path / "b", "datapackage")
    for name in ("trials.csv", "sessions.csv", "corrections.csv", "safety_answers.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    trials = read(tmp_path / "a" / "trials.csv")
    sessions = {s["session_id"] for s in read(tmp_path / "a" / "sessions.csv")}
    assert {t["session_id"] for t in trials} == sessions
    assert {a["session_id"] for a in read(tmp_path / "a" / "safety_answers.csv")} == sessions
    trial_ids = {t["trial_id"] for t in trials}
    corrections = read(tmp_path / "a" / "corrections.csv")
    assert corrections and {c["trial_id"] for c in corrections} <= trial_ids
    assert {c["reason"] for c in corrections} == {""}
    assert all(s["cleared_by"] == "" for s in read(tmp_path / "a" / "sessions.csv"))
    descriptor = json.loads((tmp_path / "a" / "datapackage.json").read_text())
    assert descriptor["posturetest"]["deidentified"] is True


def test_another_database_gives_other_ids(study: Path, tmp_path: Path) -> None:
    copy = tmp_path / "other.db"
    whole_study(copy)  # same study, its own secret
    a = read(Path(export(study, tmp_path / "a.csv", "csv") and tmp_path / "a.csv"))
    b = read(Path(export(copy, tmp_path / "b.csv", "csv") and tmp_path / "b.csv"))
    assert not {r["session_id"] for r in a} & {r["session_id"] for r in b}
    assert not {r["subject"] for r in a} & {r["subject"] for r in b}


def test_a_deidentified_package_validates_and_imports_again(study: Path, tmp_path: Path) -> None:
    export(study, tmp_path / "pkg", "datapackage")
    frictionless = Path(sys.executable).parent / "frictionless"
    done = subprocess.run(
        [str(frictionless), "validate", str(tmp_path / "pkg" / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    target = tmp_path / "rebuilt.db"
    imported = run("--db", str(target), "import", str(tmp_path / "pkg" / "datapackage.json"))
    assert imported.returncode == 0, imported.stderr
    export(target, tmp_path / "again", "datapackage")  # de-identified twice: still whole
    assert len(read(tmp_path / "again" / "trials.csv")) == len(
        read(tmp_path / "pkg" / "trials.csv")
    )


def test_help_and_codebook_say_what_is_removed() -> None:
    from click.testing import CliRunner

    from posturetest.cli import main
    from posturetest.export import codebook_markdown

    help_text = " ".join(CliRunner().invoke(main, ["export", "--help"]).stdout.split()).lower()
    book = " ".join(codebook_markdown().split()).lower()
    for text in (help_text, book):
        for words in ("new ids", "day", "tester", "station", "note", "clearance", "small groups"):
            assert words in text, (words, text[:200])
