"""The command line: refusals are one line and exit 2, --help stays light, no traceback."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from posturetest.cli import main


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command line, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", "posturetest", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def loaded_modules_after(code: str) -> set[str]:
    probe = run_python(
        textwrap.dedent(code)
        + "\nimport json, sys\nprint('MODULES=' + json.dumps(sorted(sys.modules)))",
    )
    line = [x for x in probe.stdout.splitlines() if x.startswith("MODULES=")][-1]
    return set(json.loads(line.removeprefix("MODULES=")))


HEAVY = {"textual", "matplotlib", "scipy", "pandas", "numpy"}


def test_help_imports_no_ui_and_no_plotting() -> None:
    modules = loaded_modules_after(
        """
        import sys
        from posturetest.cli import main
        try:
            main(["--help"])
        except SystemExit:
            pass
        """
    )
    assert "posturetest.cli" in modules
    assert not {m.split(".")[0] for m in modules} & HEAVY


def test_domain_and_store_never_import_textual() -> None:
    modules = loaded_modules_after("import posturetest.domain, posturetest.store")
    assert "posturetest.store.store" in modules
    assert not {m.split(".")[0] for m in modules} & HEAVY


def test_help_lists_db_option_and_env() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "--db" in result.output and "POSTURETEST_DB" in result.output


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,score\nalice,3\n", "is not a SQLite database"),
        (bytes(range(256)) * 8, "is not a SQLite database"),
    ],
)
def test_refuses_a_file_that_is_not_sqlite(tmp_path: Path, content: bytes, message: str) -> None:
    target = tmp_path / "notes.db"
    target.write_bytes(content)
    before = fingerprint(target)
    result = run_cli("--db", str(target))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert "Traceback" not in result.stderr
    assert fingerprint(target) == before
    assert not (tmp_path / "notes.db-wal").exists()


def test_refuses_a_folder_and_a_missing_folder(tmp_path: Path) -> None:
    for path, message in [
        (tmp_path, "is a folder"),
        (tmp_path / "nowhere" / "x.db", "does not exist"),
    ]:
        result = run_cli("--db", str(path))
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().count("\n") == 0 and message in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_env_variable_sets_the_database(tmp_path: Path) -> None:
    target = tmp_path / "env.txt"
    target.write_text("not a database")
    result = run_cli(POSTURETEST_DB=str(target))
    assert result.returncode == 2
    assert str(target) in result.stderr


def test_an_unexpected_error_shows_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = run_python(
        f"""
        from posturetest.store import Store
        from posturetest.tui.app import PostureTestApp

        class BrokenStore(Store):
            def recent_sessions(self, **kwargs):
                raise RuntimeError("boom")

        app = PostureTestApp(BrokenStore({str(tmp_path / "crash.db")!r}))
        app.run(headless=True)
        raise SystemExit(app.return_code)
        """
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "boom" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "every confirmed rating is saved" in lines[0]
    log = Path(lines[0].rsplit("Details: ", 1)[1])
    assert "boom" in log.read_text()
    log.unlink()


def test_refuses_a_newer_schema_and_a_foreign_database(tmp_path: Path) -> None:
    import sqlite3

    from posturetest.store import SCHEMA_VERSION, Store

    newer = tmp_path / "newer.db"
    Store(newer).close()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.execute("PRAGMA journal_mode = DELETE")
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    for path, message in [(newer, "newer posturetest"), (foreign, "not a posturetest one")]:
        before = fingerprint(path)
        result = run_cli("--db", str(path))
        assert result.returncode == 2
        assert message in result.stderr and result.stderr.strip().count("\n") == 0
        assert fingerprint(path) == before
