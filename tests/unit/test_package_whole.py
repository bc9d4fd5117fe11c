"""The data package is the whole study: rebuilt from its package, a study exports the same files
byte for byte, with its safety answers, the clinician's clearance, the audit trail, stopped
trials and the rankings' own times."""

from __future__ import annotations

import csv
import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from posturetest.domain import (
    SAFETY_KEYS,
)
from posturetest.export import DATAPACKAGE_MEMBERS
from tests.factories import whole_study

POSTURETEST = Path(sys.executable).parent / "posturetest"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSTURETEST), *args], capture_output=True, text=True, timeout=120, check=False
    )


def export_package(db: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return run("--db", str(db), "export", "--format", "datapackage", "--out", str(out))


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("whole")
    whole_study(base / "study.db")
    done = export_package(base / "study.db", base / "first")
    assert done.returncode == 0, done.stderr
    return base / "first"


def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_package_holds_every_table_of_the_study(package: Path) -> None:
    assert sorted(p.name for p in package.iterdir()) == sorted(DATAPACKAGE_MEMBERS)
    answers = read(package / "safety_answers.csv")
    assert len(answers) == 3 * len(SAFETY_KEYS)
    assert {a["answer"] for a in answers} == {"0", "1"}
    corrections = read(package / "corrections.csv")
    changes = [(c["field"], c["old_value"], c["new_value"], c["reason"]) for c in corrections]
    assert sorted(changes) == [
        ("tester_stability", "3", "9", "typed 3 for 9"),
        ("tester_stability", "6", "", "trial stopped"),
        ("tester_stability", "9", "8", "second thoughts"),
    ]
    first = changes.index(("tester_stability", "3", "9", "typed 3 for 9"))
    assert changes[first + 1] == ("tester_stability", "9", "8", "second thoughts")  # in order
    rankings = read(package / "rankings.csv")
    assert rankings and all(r["ranked_at"].endswith("Z") for r in rankings)
    sessions = {s["subject"]: s for s in read(package / "sessions.csv")}
    assert sessions["W-002"]["cleared_by"] == "Dr. Ng, GP"


def test_export_import_export_gives_every_file_byte_for_byte(package: Path, tmp_path: Path) -> None:
    rebuilt = tmp_path / "rebuilt.db"
    done = run("--db", str(rebuilt), "import", str(package / "datapackage.json"))
    assert done.returncode == 0, done.stderr
    assert "Safety answers: 15 added, 0 already present; corrections: 3 added" in done.stdout
    again = export_package(rebuilt, tmp_path / "second")
    assert again.returncode == 0, again.stderr
    for name in DATAPACKAGE_MEMBERS:
        assert (tmp_path / "second" / name).read_bytes() == (package / name).read_bytes(), name


def test_importing_the_package_twice_changes_nothing(package: Path, tmp_path: Path) -> None:
    db = tmp_path / "twice.db"
    assert run("--db", str(db), "import", str(package / "datapackage.json")).returncode == 0
    with closing(sqlite3.connect(db)) as conn:
        before = conn.execute("SELECT count(*) FROM corrections").fetchone()
    done = run("--db", str(db), "import", str(package / "datapackage.json"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Nothing new")
    assert "Safety answers: 0 added, 15 already present; corrections: 0 added, 3 already" in (
        done.stdout
    )
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM corrections").fetchone() == before


def edited_package(package: Path, tmp_path: Path, name: str, edit: object) -> Path:
    copy = tmp_path / "edited"
    shutil.copytree(package, copy)
    rows = read(copy / name)
    edit(rows)  # type: ignore[operator]
    with (copy / name).open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(read(package / name)[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return copy / "datapackage.json"


def test_a_changed_safety_answer_or_correction_is_a_conflict(package: Path, tmp_path: Path) -> None:
    db = tmp_path / "conflict.db"
    assert run("--db", str(db), "import", str(package / "datapackage.json")).returncode == 0
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = db.read_bytes()

    def flip(rows: list[dict[str, str]]) -> None:
        rows[0]["answer"] = "1" if rows[0]["answer"] == "0" else "0"

    done = run(
        "--db",
        str(db),
        "import",
        str(edited_package(package, tmp_path, "safety_answers.csv", flip)),
    )
    assert done.returncode == 1
    assert "safety answer" in done.stderr and "answer differ from the database" in done.stderr
    assert db.read_bytes() == before


@pytest.mark.parametrize(
    ("name", "edit", "problem"),
    [
        (
            "corrections.csv",
            lambda rows: rows[0].update(trial_id="00000000-0000-4000-8000-000000000000"),
            "corrections.csv:2: trial_id: no trial 00000000-0000-4000-8000-000000000000",
        ),
        (
            "corrections.csv",
            lambda rows: rows[0].update(new_value="11"),
            "corrections.csv:2: new_value",
        ),
        (
            "corrections.csv",
            lambda rows: rows.append(dict(rows[0])),
            "corrections.csv:5: correction_id: appears twice",
        ),
        (
            "safety_answers.csv",
            lambda rows: rows[0].update(question="headache"),
            "safety_answers.csv:2: question",
        ),
        (
            "safety_answers.csv",
            lambda rows: rows.append(dict(rows[0])),
            "answered twice for one session",
        ),
        (
            "safety_answers.csv",
            lambda rows: rows[0].update(session_id="00000000-0000-4000-8000-000000000000"),
            "safety_answers.csv:2: session_id: no trial of this session",
        ),
        (
            "rankings.csv",
            lambda rows: rows[0].update(ranked_at="yesterday"),
            "rankings.csv:2: ranked_at",
        ),
    ],
    ids=[
        "unknown-trial",
        "bad-value",
        "twice",
        "unknown-question",
        "answered-twice",
        "no-session",
        "bad-time",
    ],
)
def test_bad_rows_of_the_new_tables_are_refused_with_their_line(
    package: Path, tmp_path: Path, name: str, edit: object, problem: str
) -> None:
    db = tmp_path / "target.db"
    done = run("--db", str(db), "import", str(edited_package(package, tmp_path, name, edit)))
    assert done.returncode == 1, done.stderr
    assert problem in done.stderr
    assert done.stderr.strip().endswith("posturetest: nothing was imported")
    assert not db.exists()


def test_an_older_package_without_the_new_tables_still_imports(
    package: Path, tmp_path: Path
) -> None:
    import json

    old = tmp_path / "old"
    shutil.copytree(package, old)
    descriptor = json.loads((old / "datapackage.json").read_text())
    descriptor["resources"] = [
        r for r in descriptor["resources"] if r["name"] in ("trials", "rankings", "sessions")
    ]
    (old / "datapackage.json").write_text(json.dumps(descriptor))
    for name in ("safety_answers.csv", "corrections.csv"):
        (old / name).unlink()
    rows = read(old / "rankings.csv")
    with (old / "rankings.csv").open("w", encoding="utf-8", newline="") as f:
        columns = [c for c in rows[0] if c != "ranked_at"]
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    db = tmp_path / "old.db"
    done = run("--db", str(db), "import", str(old / "datapackage.json"))
    assert done.returncode == 0, done.stderr
    with closing(sqlite3.connect(db)) as conn:
        stamps = {r[0] for r in conn.execute("SELECT ranked_at FROM rankings")}
    assert len(stamps) == 1 and stamps.pop().endswith("Z")  # the import's own time


def test_frictionless_validates_the_whole_package(package: Path) -> None:
    frictionless = Path(sys.executable).parent / "frictionless"
    done = subprocess.run(
        [str(frictionless), "validate", str(package / "datapackage.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_codebook_and_datasette_describe_the_new_tables(tmp_path: Path) -> None:
    from posturetest.datasette import metadata
    from posturetest.export import codebook_markdown

    book = codebook_markdown()
    assert "## safety_answers.csv" in book and "## corrections.csv" in book
    assert "`ranked_at`" in book
    tables = metadata(tmp_path / "x.db")["databases"]["x"]["tables"]
    assert "question" in tables["safety_answers"]["columns"]
    assert "old_value" in tables["corrections"]["columns"]
    assert "ranked_at" in tables["rankings"]["columns"]
