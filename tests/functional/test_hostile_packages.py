"""Hostile files handed to `posturetest import`: each is refused in one line, with nothing written.

Every case starts from a real package (`posturetest sample`) and changes one thing: a descriptor
nested 100,000 levels deep, a number of 5,000 digits, a value of the wrong type, a resource path
that leaves the package folder, text in UTF-16, a cell larger than csv can hold... The real
console script runs each, and the test checks what a user sees (exit 2, one line on stderr
naming the cause, no traceback) and that the target database is byte for byte what it was, or
was never created.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

POSTURETEST = Path(sys.executable).parent / "posturetest"
TIMEOUT = 60
CELL_LIMIT = 16 << 20
"""The importer's limit on one CSV cell, in characters."""


# -- running the real command ----------------------------------------------------------------


def run(tmp: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """`posturetest ARGS` with stdin closed, no POSTURETEST_* settings from the caller, and a
    private temporary folder (where a crash log would go)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTURETEST_")}
    (tmp / "tmp").mkdir(exist_ok=True)
    env["TMPDIR"] = str(tmp / "tmp")
    env["XDG_DATA_HOME"] = str(tmp / "data-home")
    return subprocess.run(
        [str(POSTURETEST), *map(str, args)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=TIMEOUT,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real package folder, made once: copy it before changing anything."""
    root = tmp_path_factory.mktemp("sample")
    done = run(root, "sample", "--out", root / "pkg", "--subjects", "2")
    assert done.returncode == 0, done.stderr
    return root / "pkg"


@pytest.fixture(scope="module")
def filled_db(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding the package: the target, copied, of every refused import."""
    root = tmp_path_factory.mktemp("filled")
    db = root / "study.db"
    done = run(root, "--db", db, "import", package / "datapackage.json")
    assert done.returncode == 0, done.stderr
    return db


@pytest.fixture
def folder(package: Path, tmp_path: Path) -> Path:
    """This test's own copy of the package."""
    return Path(shutil.copytree(package, tmp_path / "pkg"))


def assert_refused(
    tmp: Path, target: Path, imported: Path, word: str
) -> subprocess.CompletedProcess[str]:
    """Import `imported` into `target`: refused in one line naming `word`, nothing written."""
    before = digest(target) if target.exists() else None
    siblings = sorted(p.name for p in target.parent.iterdir())
    done = run(tmp, "--db", target, "import", imported)
    assert "Traceback" not in done.stderr + done.stdout, done.stderr
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("posturetest: "), lines[0]
    assert "unexpected error" not in lines[0]
    assert word in lines[0], lines[0]
    assert lines[0].endswith("(nothing was imported)"), lines[0]
    assert len(lines[0]) < 400, lines[0]
    if before is None:
        assert not target.exists()
    else:
        assert digest(target) == before
    assert sorted(p.name for p in target.parent.iterdir()) == siblings
    assert not list((tmp / "tmp").iterdir())  # no crash log
    return done


# -- changing one thing in a package -----------------------------------------------------------

Build = Callable[[Path], Path]
"""Changes the package copy in a folder; returns the file to import."""


def descriptor(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "datapackage.json").read_text("utf-8"))
    return loaded


def resource(package: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in package["resources"] if r["name"] == name)
    return found


def raw(text: str | bytes) -> Build:
    """The descriptor replaced by this text (or these bytes)."""

    def build(folder: Path) -> Path:
        path = folder / "datapackage.json"
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
        return path

    return build


def appended(json_text: str) -> Build:
    """The real descriptor with one more member (written as raw JSON) at its end."""

    def build(folder: Path) -> Path:
        path = folder / "datapackage.json"
        text = path.read_text("utf-8").rstrip()
        assert text.endswith("}")
        path.write_text(text[:-1] + f', "extra": {json_text}}}', "utf-8")
        return path

    return build


def changed(change: Callable[[dict[str, Any]], object]) -> Build:
    """The real descriptor, changed in place by `change`."""

    def build(folder: Path) -> Path:
        package = descriptor(folder)
        change(package)
        path = folder / "datapackage.json"
        path.write_text(json.dumps(package, indent=2), "utf-8")
        return path

    return build


def trials_path(value: object, name: str = "trials") -> Build:
    return changed(lambda p: resource(p, name).update(path=value))


def in_package(build: Build) -> Build:
    """Import the package's descriptor whatever file `build` changed."""

    def wrapped(folder: Path) -> Path:
        build(folder)
        return folder / "datapackage.json"

    return wrapped


def linked(target: Callable[[Path], Path], link: str) -> Build:
    """The trials resource's path is `link`, a symbolic link (made here) to `target`."""

    def build(folder: Path) -> Path:
        outside = target(folder)
        (folder / link).parent.mkdir(parents=True, exist_ok=True)
        (folder / link).symlink_to(outside)
        return trials_path(link)(folder)

    return build


def copy_outside(folder: Path) -> Path:
    """A real trials file next to the package folder, not in it."""
    outside = folder.parent / "elsewhere.csv"
    shutil.copyfile(folder / "trials.csv", outside)
    return outside


def folder_outside(folder: Path) -> Path:
    outside = folder.parent / "elsewhere"
    outside.mkdir()
    shutil.copyfile(folder / "trials.csv", outside / "trials.csv")
    return outside


def link_loop(folder: Path) -> Path:
    (folder / "b").symlink_to(folder / "a")
    (folder / "a").symlink_to(folder / "b")
    return trials_path("a/trials.csv")(folder)


def descriptor_larger_than_the_limit(folder: Path) -> Path:
    path = folder / "datapackage.json"
    text = path.read_text("utf-8")
    path.write_text(" " * (16 << 20) + text, "utf-8")  # valid JSON, only too large
    return path


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))


def write_rows(path: Path, rows: list[list[str]]) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    path.write_text(out.getvalue(), "utf-8", newline="")


def with_note(note: str, line: int = 4) -> Callable[[Path], Path]:
    """The package's trials.csv with `note` in the note cell of the row on `line`."""

    def build(folder: Path) -> Path:
        path = folder / "trials.csv"
        rows = csv_rows(path)
        assert all(len(r) == len(rows[0]) for r in rows)
        assert not any("\n" in c or "\r" in c for r in rows for c in r)  # one line per row
        rows[line - 1][rows[0].index("note")] = note
        write_rows(path, rows)
        return path

    return build


def nothing(folder: Path) -> Path:
    return folder / "datapackage.json"


def utf(encoding: str, bom: bytes, member: str) -> Build:
    def build(folder: Path) -> Path:
        path = folder / member
        path.write_bytes(bom + path.read_text("utf-8").encode(encoding))
        return path

    return build


DEEP = 100_000

CASES: list[tuple[str, Build, str]] = [
    # JSON the parser cannot take whole
    ("nested_lists", raw("[" * DEEP + "]" * DEEP), "nested too deep"),
    ("nested_objects", raw('{"a": ' * DEEP + "1" + "}" * DEEP), "nested too deep"),
    ("nested_in_a_real_package", appended("[" * DEEP + "]" * DEEP), "nested too deep"),
    ("number_of_5000_digits", appended("9" * 5000), "a number too long"),
    ("negative_number_of_5000_digits", appended("-" + "9" * 5000), "a number too long"),
    ("fraction_of_5000_digits", appended("0." + "9" * 5000), "a number too long"),
    ("nan", appended("NaN"), "NaN is not a JSON value"),
    ("larger_than_16_mib", descriptor_larger_than_the_limit, "larger than 16 MiB"),
    # values of the wrong type
    ("top_level_list", raw("[]"), "the top level is a list, not an object"),
    ("top_level_string", raw('"datapackage"'), "the top level is a string, not an object"),
    ("top_level_number", raw("42"), "the top level is a number, not an object"),
    ("top_level_null", raw("null"), "the top level is null, not an object"),
    ("resources_object", changed(lambda p: p.update(resources={})), "resources is an object"),
    ("resources_string", changed(lambda p: p.update(resources="trials")), "resources is a string"),
    (
        "resource_string",
        changed(lambda p: p["resources"].insert(0, "trials.csv")),
        "resource 1 is a string, not an object",
    ),
    ("resource_null", changed(lambda p: p["resources"].append(None)), "is null, not an object"),
    (
        "name_number",
        changed(lambda p: resource(p, "rankings").update(name=7)),
        "is a number, not a string",
    ),
    (
        "name_list",
        changed(lambda p: p["resources"].append({"name": ["trials"], "path": "trials.csv"})),
        "is a list, not a string",
    ),
    (
        "name_twice",
        changed(lambda p: p["resources"].append(dict(resource(p, "trials")))),
        "two resources are named 'trials'",
    ),
    ("posturetest_list", changed(lambda p: p.update(posturetest=[])), "posturetest is a list"),
    (
        "posturetest_string",
        changed(lambda p: p.update(posturetest="0.1.0")),
        "posturetest is a string, not an object",
    ),
    ("path_number", trials_path(3), "unusable path (a number, not a string)"),
    ("path_list", trials_path(["trials.csv"]), "unusable path (a list, not a string)"),
    ("path_null", trials_path(None), "unusable path (null, not a string)"),
    ("path_true", trials_path(True), "unusable path (true or false, not a string)"),
    ("path_object", trials_path({"file": "trials.csv"}), "unusable path (an object"),
    ("path_empty", trials_path(""), "unusable path (empty)"),
    # paths that leave the package folder
    ("parent", trials_path("../../x.csv"), "leaves the package folder"),
    ("parent_after_a_folder", trials_path("sub/../../x.csv"), "leaves the package folder"),
    ("parent_to_a_real_file", trials_path("../pkg/trials.csv"), "leaves the package folder"),
    ("absolute", trials_path("/etc/passwd"), "is an absolute path"),
    ("https_url", trials_path("https://example.org/x.csv"), "is a URL"),
    ("file_url", trials_path("file:///etc/passwd"), "is a URL"),
    ("windows_drive", trials_path("C:\\x.csv"), "has a backslash"),
    ("windows_share", trials_path("\\\\server\\x.csv"), "has a backslash"),
    ("windows_drive_slash", trials_path("C:/x.csv"), "is an absolute path"),
    ("nul", trials_path("trials.csv\x00.txt"), "holds a NUL character"),
    ("line_break", trials_path("trials.csv\nsecond line"), "holds a control character"),
    ("lone_surrogate", trials_path("\ud800.csv"), "no file name can"),
    ("very_long", trials_path("x" * 5000 + ".csv"), "is too long for a file name"),
    ("link_to_a_file_outside", linked(copy_outside, "trials-link.csv"), "link to outside"),
    ("link_to_a_folder_outside", linked(folder_outside, "data/trials.csv"), "link to outside"),
    ("link_loop", link_loop, "cannot be followed"),
    (
        "other_resource_outside",
        trials_path("../../rankings.csv", name="rankings"),
        "resource rankings has an unusable path",
    ),
    # text that is not UTF-8: named for what it is
    ("utf16_le_descriptor", utf("utf-16-le", b"\xff\xfe", "datapackage.json"), "is UTF-16 text"),
    ("utf16_be_descriptor", utf("utf-16-be", b"\xfe\xff", "datapackage.json"), "is UTF-16 text"),
    ("utf16_descriptor_no_bom", utf("utf-16-le", b"", "datapackage.json"), "is UTF-16 text"),
    ("utf32_descriptor", utf("utf-32", b"", "datapackage.json"), "is UTF-32 text"),
    ("utf16_le_csv", utf("utf-16-le", b"\xff\xfe", "trials.csv"), "is UTF-16 text"),
    ("utf16_be_csv", utf("utf-16-be", b"\xfe\xff", "trials.csv"), "is UTF-16 text"),
    ("utf32_csv", utf("utf-32", b"", "trials.csv"), "is UTF-32 text"),
    (
        "utf16_csv_in_a_package",
        in_package(utf("utf-16", b"", "sessions.csv")),
        "sessions.csv: is UTF-16 text; save it as UTF-8 (CSV UTF-8)",
    ),
    # a cell larger than csv is allowed to hold
    ("cell_over_the_limit", with_note("x" * (CELL_LIMIT + 1)), ":4: a cell is too long"),
    (
        "cell_over_the_limit_in_a_package",
        in_package(with_note("y" * (CELL_LIMIT + 10), line=6)),
        "trials.csv:6: a cell is too long",
    ),
]


@pytest.mark.parametrize(("build", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_file_is_refused_in_one_line(
    folder: Path, filled_db: Path, tmp_path: Path, build: Build, word: str
) -> None:
    target = tmp_path / "target" / "study.db"
    target.parent.mkdir()
    shutil.copyfile(filled_db, target)
    assert_refused(tmp_path, target, build(folder), word)


NOT_CREATED = ["nested_lists", "parent", "link_to_a_file_outside", "utf16_le_csv"]


@pytest.mark.parametrize(
    ("build", "word"),
    [c[1:] for c in CASES if c[0] in NOT_CREATED],
    ids=[c[0] for c in CASES if c[0] in NOT_CREATED],
)
def test_refused_file_creates_no_database(
    folder: Path, tmp_path: Path, build: Build, word: str
) -> None:
    target = tmp_path / "target" / "new.db"
    target.parent.mkdir()
    assert_refused(tmp_path, target, build(folder), word)


# -- what must still import ----------------------------------------------------------------------


def moved_into(sub: str) -> Build:
    def build(folder: Path) -> Path:
        (folder / sub).mkdir()
        (folder / "trials.csv").rename(folder / sub / "trials.csv")
        return trials_path(f"{sub}/trials.csv")(folder)

    return build


def link_inside(folder: Path) -> Path:
    (folder / "data").mkdir()
    (folder / "trials.csv").rename(folder / "data" / "trials.csv")
    (folder / "trials-link.csv").symlink_to(Path("data") / "trials.csv")
    return trials_path("trials-link.csv")(folder)


ACCEPTED: list[tuple[str, Build]] = [
    ("as_exported", nothing),
    ("dot_slash", trials_path("./trials.csv")),
    ("in_a_sub_folder", moved_into("data")),
    ("link_inside_the_folder", link_inside),
    ("two_dots_in_a_name", changed(lambda p: p.update(title="x..y"))),
]


@pytest.mark.parametrize("build", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
def test_package_within_its_folder_still_imports(
    folder: Path, tmp_path: Path, build: Build
) -> None:
    target = tmp_path / "new.db"
    done = run(tmp_path, "--db", target, "import", build(folder))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "added 2 sessions, 18 trials" in done.stdout


def test_long_note_is_not_refused_by_the_csv_module(folder: Path, tmp_path: Path) -> None:
    """200 KB in one cell is more than csv reads by default (128 Ki characters): the row must
    reach the importer's own checks, which accept it or refuse it as file:line: note: ..."""
    line = 5
    with_note("long note " * 20_000, line=line)(folder)
    target = tmp_path / "new.db"
    done = run(tmp_path, "--db", target, "import", folder / "datapackage.json")
    assert "Traceback" not in done.stderr
    assert "field larger than field limit" not in done.stderr
    assert "too long" not in done.stderr or "note" in done.stderr
    if done.returncode == 0:
        assert done.stderr == ""
        conn = sqlite3.connect(target)
        try:
            notes = [r[0] for r in conn.execute("SELECT note FROM trials WHERE length(note) > 9")]
        finally:
            conn.close()
        assert notes == ["long note " * 20_000]
    else:
        assert done.returncode in (1, 2), done.stderr
        where = re.escape(str(folder / "trials.csv"))
        pattern = rf"^(posturetest: )?{where}:{line}: note: "  # a row problem, as file:line
        assert any(re.match(pattern, t) for t in done.stderr.splitlines()), done.stderr
        assert not target.exists()


POSTURETEST_CLI = Path(sys.executable).parent / "posturetest"


def test_a_named_pipe_to_import_is_refused_without_waiting(tmp_path: Path) -> None:
    fifo = tmp_path / "trials.csv"
    os.mkfifo(fifo)
    target = tmp_path / "target.db"
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "posturetest"),
            "--db",
            str(target),
            "import",
            str(fifo),
        ],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"posturetest: {fifo}: not a regular file (a pipe or a device); give a CSV file "
        "(nothing was imported)"
    ]
    assert not target.exists()
