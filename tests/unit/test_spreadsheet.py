"""`export --spreadsheet`: a CSV that Excel and LibreOffice open as text, never as formulas.

Every cell that starts with = + - @, a tab or a carriage return begins with an apostrophe
(OWASP's advice against CSV injection), the file starts with a UTF-8 byte order mark, and
nothing else changes; the default CSV stays exact for R, pandas and the import."""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from posturetest.cli import main
from posturetest.domain import Posture, Role
from posturetest.domain.interchange import TRIAL_COLUMNS
from posturetest.export import write_csv
from posturetest.outputs import FORMULA_STARTS, spreadsheet_line
from posturetest.store import Store
from posturetest.store.export_sql import trial_lines
from posturetest.store.selection import Selection
from posturetest.tui.screens.summary import SummaryScreen
from tests.factories import one_session_per_text, rate_trials, started_session
from tests.functional.pilot import notices, session_pilot

BOM = b"\xef\xbb\xbf"

FORMULAS = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1)",
    "\tx",
    "\rx",
    '=HYPERLINK("http://x","y")',
    '-she said "no", then\nleft, =2',
    "=痛み",
    "@😀",
    "-2+3\r\nnext line",
]
"""Text a spreadsheet would run (or that starts like a formula), each to be neutralised."""
PLAIN = [
    'she said "no", then\nleft, =2',
    "a,=b",
    "x -1",
    "'already quoted",
    "痛み 右肩",
    "😀 fine",
    "",
]
"""Text that must come out exactly as it went in: formula characters only after the start."""
SUBJECTS = ["-1", "-A1", "S-001"]
"""Subject codes may start with '-' (`-A1` is a formula to Excel)."""
TRIALS = 6
"""Trials in a session of the default setup."""


def neutral(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


@dataclass(frozen=True)
class Study:
    path: Path
    texts: dict[str, str]
    """session id -> the text used as its tester, station and stop note."""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    """One session per text: the text is the tester, the station and the note of a stopped
    trial; subjects that start with '-'."""
    path = tmp_path_factory.mktemp("spreadsheet") / "study.db"
    texts = one_session_per_text(path, FORMULAS + PLAIN, SUBJECTS)
    with Store(path) as store:
        assert all(len(store.trials(session_id)) == TRIALS for session_id in texts)
    return Study(path, texts)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def export_bytes(study: Study, tmp_path: Path, *options: str) -> bytes:
    out = tmp_path / "trials.csv"
    result = run("--db", str(study.path), "export", *options, "--out", str(out))
    assert result.exit_code == 0, result.output
    return out.read_bytes()


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


@pytest.fixture(scope="module")
def exact(study: Study, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return export_bytes(study, tmp_path_factory.mktemp("exact"))


@pytest.fixture(scope="module")
def spreadsheet(study: Study, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return export_bytes(study, tmp_path_factory.mktemp("sheet"), "--spreadsheet")


# -- the spreadsheet form ----------------------------------------------------------------------


def test_starts_with_a_byte_order_mark_and_is_utf8(spreadsheet: bytes) -> None:
    assert spreadsheet.startswith(BOM) and not spreadsheet.startswith(BOM * 2)
    text = spreadsheet.decode("utf-8")  # strict: every byte is UTF-8
    assert text[1:].startswith(",".join(TRIAL_COLUMNS) + "\n")
    assert "痛み 右肩" in text and "😀 fine" in text


def test_no_cell_starts_a_formula(spreadsheet: bytes) -> None:
    read = rows(spreadsheet)
    assert read and list(read[0]) == list(TRIAL_COLUMNS)
    for row in read:
        for column, cell in row.items():
            assert not cell.startswith(FORMULA_STARTS), (column, cell)


def test_each_formula_gets_one_apostrophe_and_plain_text_stays(
    study: Study, spreadsheet: bytes
) -> None:
    read = rows(spreadsheet)
    for session_id, text in study.texts.items():
        mine = [r for r in read if r["session_id"] == session_id]
        assert len(mine) == TRIALS
        for row in mine:
            assert row["tester"] == neutral(text)
            assert row["station"] == neutral(text)
        assert [r["note"] for r in mine if r["outcome"] == "stopped"] == [neutral(text)]
    assert {r["subject"] for r in read} == {"'-1", "'-A1", "S-001"}
    assert sum(r["tester"].startswith("'") for r in read) == TRIALS * (len(FORMULAS) + 1)


def test_only_the_formula_cells_differ_from_the_exact_csv(exact: bytes, spreadsheet: bytes) -> None:
    plain, safe = rows(exact), rows(spreadsheet)
    assert len(plain) == len(safe) == TRIALS * len(FORMULAS + PLAIN)
    for p, s in zip(plain, safe, strict=True):
        assert s == {column: neutral(value) for column, value in p.items()}
    # line by line: a row with nothing to neutralise is byte for byte the exact one
    exact_lines = exact.decode().split("\n")
    safe_lines = spreadsheet.decode().removeprefix("\ufeff").split("\n")
    assert len(exact_lines) == len(safe_lines)
    same = [a for a, b in zip(exact_lines, safe_lines, strict=True) if a == b]
    assert len(same) > TRIALS * 2  # the header, the PLAIN sessions' rows of subject S-001


def test_quotes_commas_and_line_breaks_stay_quoted(spreadsheet: bytes) -> None:
    text = spreadsheet.decode("utf-8-sig")
    assert '"\'=HYPERLINK(""http://x"",""y"")"' in text
    assert '"\'-she said ""no"", then\nleft, =2"' in text
    assert '"she said ""no"", then\nleft, =2"' in text
    assert '"\'\rx"' in text and '"\'-2+3\r\nnext line"' in text
    assert ",'\tx," in text and ",'+1," in text and ",'@SUM(A1)," in text


def test_pandas_reads_the_neutralised_text(study: Study, tmp_path: Path) -> None:
    pandas = pytest.importorskip("pandas")  # not a dependency (sqlite-utils would import it)
    out = tmp_path / "trials.csv"
    out.write_bytes(export_bytes(study, tmp_path, "--spreadsheet"))
    frame = pandas.read_csv(out, dtype=str, keep_default_na=False)
    assert list(frame.columns) == list(TRIAL_COLUMNS)  # the byte order mark is not in a name
    assert set(frame["subject"]) == {"'-1", "'-A1", "S-001"}
    notes = set(frame.loc[frame["outcome"] == "stopped", "note"])
    assert notes == {neutral(t) for t in FORMULAS + PLAIN}


def test_spreadsheet_to_standard_output_has_the_mark_too(study: Study, spreadsheet: bytes) -> None:
    result = run("--db", str(study.path), "export", "--spreadsheet")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == spreadsheet


def test_spreadsheet_with_filters_and_deidentify(study: Study, tmp_path: Path) -> None:
    data = export_bytes(study, tmp_path, "--spreadsheet", "--subject", "-A1", "--deidentify")
    read = rows(data)
    assert read and {r["subject"][:2] for r in read} == {"P-"}
    assert {r["tester"] for r in read} == {""}


# -- the exact form ------------------------------------------------------------------------------


def test_default_csv_is_exact(study: Study, exact: bytes) -> None:
    """No mark, formulas as typed, and byte for byte the header and the lines SQLite makes."""
    assert not exact.startswith(BOM)
    with Store(study.path, readonly=True) as store:
        lines = [line for batch in trial_lines(store, Selection(), fmt="csv") for line in batch]
    assert exact == (",".join(TRIAL_COLUMNS) + "\n" + "".join(f"{x}\n" for x in lines)).encode()
    read = rows(exact)
    assert {r["subject"] for r in read} == set(SUBJECTS)
    notes = {r["note"] for r in read if r["outcome"] == "stopped"}
    assert notes == set(FORMULAS + PLAIN)


def test_write_csv_is_exact_unless_asked(study: Study, exact: bytes) -> None:
    with Store(study.path, readonly=True) as store:
        plain, safe = io.StringIO(), io.StringIO()
        assert write_csv(store, Selection(), plain) == write_csv(
            store, Selection(), safe, spreadsheet=True
        )
    assert plain.getvalue().encode() == exact
    assert safe.getvalue().startswith("\ufeff") and safe.getvalue() != plain.getvalue()


async def test_the_summary_e_key_saves_the_exact_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSTURETEST_OUTPUT_DIR", str(tmp_path))
    with Store(tmp_path / "tui.db") as store:
        session_id = started_session(store, subject="-A1", tester="=1+1")
        rate_trials(store, session_id)
        for test in store.session(session_id).tests:
            for role in Role:
                store.record_ranking(session_id, test, role, list(Posture))
        async with session_pilot(store, session_id) as (app, pilot):
            assert isinstance(app.screen, SummaryScreen)
            await pilot.press("e")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert any("Saved" in n for n in notices(app))
    (saved,) = tmp_path.glob("-A1_*_trials.csv")
    data = saved.read_bytes()
    assert not data.startswith(BOM)
    assert {(r["subject"], r["tester"]) for r in rows(data)} == {("-A1", "=1+1")}


# -- the option ----------------------------------------------------------------------------------


def test_help_names_the_option() -> None:
    result = run("export", "--help")
    assert result.exit_code == 0
    assert "--spreadsheet" in result.stdout and "Excel" in result.stdout


@pytest.mark.parametrize("fmt", ["json", "datapackage", "codebook"])
def test_spreadsheet_with_another_format_is_one_line_and_exit_2(
    study: Study, tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / "out"
    result = run(
        "--db", str(study.path), "export", "--format", fmt, "--spreadsheet", "--out", str(out)
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("posturetest: ") and "--spreadsheet" in lines[0]
    assert "csv" in lines[0] and "Traceback" not in result.output
    assert not out.exists() and list(tmp_path.iterdir()) == []


# -- the line transform against the csv module ---------------------------------------------------


def exact_cell(text: str) -> str:
    """The export's quoting: only a cell holding a quote, a comma or a line break is quoted."""
    if any(c in text for c in '",\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def random_cells(rng: random.Random) -> Iterator[list[str]]:
    alphabet = ["=", "+", "-", "@", "\t", "\r", "\n", '"', ",", "'", "a", "1", " ", "痛", "😀"]
    while True:
        yield [
            "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 1, 2, 3, 5, 8])))
            for _ in range(rng.randint(1, 6))
        ]


def test_the_transform_equals_reading_neutralising_and_writing_again() -> None:
    rng = random.Random(2026)
    cases = random_cells(rng)
    for _ in range(20_000):
        cells = next(cases)
        if cells == [""]:
            continue  # not a line the export makes (every row has ids)
        line = ",".join(map(exact_cell, cells))
        safe = spreadsheet_line(line)
        assert next(csv.reader([line], strict=True)) == cells  # the case is well formed
        assert next(csv.reader([safe], strict=True)) == [neutral(c) for c in cells], repr(line)
        assert safe == ",".join(exact_cell(neutral(c)) for c in cells), repr(line)


@pytest.mark.parametrize(
    ("line", "safe"),
    [
        ("a,b,c", "a,b,c"),
        ("=1+1,b", "'=1+1,b"),
        ('"=a,b",c', '"\'=a,b",c'),
        ('a,"x,-y",-z', 'a,"x,-y",\'-z'),
        ('a,"""=x",b', 'a,"""=x",b'),
        ('a,"x"",=y",b', 'a,"x"",=y",b'),
        (",,-", ",,'-"),
        ('a,"\rx",\tb', "a,\"'\rx\",'\tb"),
    ],
)
def test_the_transform_on_known_lines(line: str, safe: str) -> None:
    assert spreadsheet_line(line) == safe
