"""Import of an export: a CSV in the interchange format, or a datapackage.json from `export`.

One pass over the file, a batch of rows at a time: each batch is checked (every cell, the rules
within a row, the rules across rows) and written inside one transaction. Writing stops at the
first problem while checking goes on, to list up to 20 problems, and any problem rolls the whole
transaction back. Rows already in the database with the same values are already present; the
same UUID with other values is a conflict, and nothing is kept.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gc
import itertools
import json
import marshal
import operator
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, TextIO

from posturetest.domain.implied import Tallies
from posturetest.domain.interchange import (
    CORRECTION_COLUMNS,
    CORRECTION_FIELDS,
    RANKING_COLUMNS,
    RANKING_FIELDS,
    RANKING_OPTIONAL,
    SAFETY_ANSWER_COLUMNS,
    SAFETY_ANSWER_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    SESSION_LEVEL_TRIAL_COLUMNS,
    SESSION_OPTIONAL,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
    TRIAL_TABLE_COLUMNS,
    Field,
)
from posturetest.domain.protocol import NOTE_FORBIDDEN, NOTE_MAX_LENGTH, note_problem
from posturetest.store import Store, utc_now
from posturetest.store.exchange import (
    STATUS_AT,
    TALLIED_COLUMNS,
    AuditRow,
    ImportConflict,
    ImportReport,
    ImportWriter,
    session_facts,
    with_plans,
)
from posturetest.store.opening import holds_connection, is_special_file, is_sqlite_file

MAX_ERRORS = 20
SQLITE_INTEGER = 2**63
"""SQLite stores whole numbers in 64 bits."""
RATINGS = ("tester_stability", "subject_ease", "discomfort", "tester_effort")
REQUIRED_WHEN_RATED = ("tester_stability", "subject_ease")


class ImportRefused(Exception):
    """Rows that cannot be imported. `problems` are lines fit to print, the first 20 at most."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "refused")
        self.problems = problems


class UnusableFile(ImportRefused):
    """The file as a whole cannot be read as an export (empty, binary, wrong columns...)."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


# -- reading ---------------------------------------------------------------------------------


DESCRIPTOR_MAX_BYTES = 16 << 20
"""A datapackage.json describes the files, it does not hold them: a few kilobytes."""


def _decode(path: Path, limit: int = DESCRIPTOR_MAX_BYTES) -> str:
    """A datapackage.json as text: read whole, but never more than `limit` bytes."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except IsADirectoryError:
        raise UnusableFile(f"{path}: is a folder; give a CSV file or a datapackage.json") from None
    except OSError as e:
        raise UnusableFile(f"{path}: cannot read it: {e.strerror or e}") from None
    if len(data) > limit:
        raise UnusableFile(
            f"{path}: not a usable data package (larger than {limit >> 20} MiB; "
            "a datapackage.json only describes the files)"
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a spreadsheet's UTF-8 byte order mark
    if not data.strip():
        raise UnusableFile(f"{path}: the file is empty")
    wide = _wide_encoding(data)
    if wide:
        raise UnusableFile(f"{path}: is {wide} text; save it as UTF-8 and try again")
    if b"\x00" in data[:8192]:
        raise UnusableFile(f"{path}: this is a binary file, not JSON text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnusableFile(
            f"{path}: not UTF-8 text (byte {e.start}); save it as UTF-8 and try again"
        ) from None


_WIDE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),  # before UTF-16's: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _wide_encoding(head: bytes) -> str | None:
    """The name of the encoding, UTF-16 or UTF-32, when the file starts as text in one.

    A byte order mark says so; without one, text that is mostly ASCII (every header of ours
    is) has zero bytes in the high positions of almost every character and never in the low.
    """
    for bom, name in _WIDE_BOMS:
        if head.startswith(bom):
            return name
    units = min(len(head), 4096) // 4
    if units < 4:
        return None
    zeros = [head[i : units * 4 : 4].count(0) for i in range(4)]
    mostly = units * 9 // 10
    if zeros[0] == 0 and zeros[2] == zeros[3] == units and zeros[1] >= mostly:
        return "UTF-32"  # little-endian
    if zeros[3] == 0 and zeros[0] == zeros[1] == units and zeros[2] >= mostly:
        return "UTF-32"  # big-endian
    if zeros[0] == zeros[2] == 0 and zeros[1] + zeros[3] >= 2 * mostly:
        return "UTF-16"  # little-endian
    if zeros[1] == zeros[3] == 0 and zeros[0] + zeros[2] >= 2 * mostly:
        return "UTF-16"  # big-endian
    return None


HEAD_BYTES = 1 << 16


def _open_text(path: Path) -> tuple[TextIO, str]:
    """The file as streamed text (a byte order mark skipped), and its first line.

    Only the head is read here, so memory stays small whatever the size; the same checks as
    `_decode` apply to it, and a bad byte further on is reported while reading.
    """
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES)
            complete = not f.read(1)
    except IsADirectoryError:
        raise UnusableFile(f"{path}: is a folder; give a CSV file or a datapackage.json") from None
    except OSError as e:
        raise UnusableFile(f"{path}: cannot read it: {e.strerror or e}") from None
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if complete and not head.strip():
        raise UnusableFile(f"{path}: the file is empty")
    wide = _wide_encoding(head)
    if wide:
        raise UnusableFile(f"{path}: is {wide} text; save it as UTF-8 (CSV UTF-8) and try again")
    if b"\x00" in head[:8192]:
        raise UnusableFile(f"{path}: this is a binary file, not CSV text")
    try:
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
    except UnicodeDecodeError as e:
        raise UnusableFile(
            f"{path}: not UTF-8 text (byte {e.start}); save it as 'CSV UTF-8' and try again"
        ) from None
    stream = path.open("r", encoding="utf-8-sig", newline="")
    return stream, text.split("\n", 1)[0].rstrip("\r")


CELL_MAX_CHARS = 16 << 20
"""csv's limit on one cell: far beyond any cell a real row holds (those are checked for their
own lengths later), and bounds what a garbled quote makes the reader hold."""


def _csv_problem(e: csv.Error, what: str) -> str:
    """csv's complaint, in words; a cell over `CELL_MAX_CHARS` says so."""
    if "field larger than field limit" in str(e):
        return f"a cell is too long (more than {CELL_MAX_CHARS:,} characters)"
    return f"{what}: {e}"


def _reader(
    path: Path,
    expected: tuple[str, ...],
    checked: _Checked,
    optional: Mapping[str, str] | None = None,
) -> Iterator[tuple[list[int], list[Sequence[str]]]]:
    """Data rows a batch at a time, with the line each starts on, after checking the header."""
    stream, first_line = _open_text(path)
    with stream:
        yield from _batches(path, stream, first_line, expected, checked, optional)


def _batches(
    path: Path,
    stream: TextIO,
    first_line: str,
    expected: tuple[str, ...],
    checked: _Checked,
    optional: Mapping[str, str] | None = None,
) -> Iterator[tuple[list[int], list[Sequence[str]]]]:
    """`optional`: columns a file may lack (written before they existed), with the value each
    row then gets."""
    delimiter = ","
    if "," not in first_line and ";" in first_line:
        delimiter = ";"  # a spreadsheet in a locale that writes ; between columns
    csv.field_size_limit(CELL_MAX_CHARS)  # the default (128 Ki) is less than a cell may hold
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as e:
        raise UnusableFile(f"{path}:1: {_csv_problem(e, 'cannot read the header')}") from None
    absent = {c: v for c, v in (optional or {}).items() if c not in header}
    missing = [c for c in expected if c not in header and c not in absent]
    unknown = [c for c in header if c not in expected]
    if missing or unknown or len(set(header)) != len(header):
        parts = []
        if missing:
            parts.append("missing columns: " + ", ".join(missing))
        if unknown:
            parts.append("unknown columns: " + ", ".join(unknown[:5]))
        if len(set(header)) != len(header):
            parts.append("a column appears twice")
        raise UnusableFile(f"{path}:1: not the posturetest interchange format ({'; '.join(parts)})")
    width = len(header)
    reorder: Callable[[Sequence[str]], Sequence[str]] | None = None
    if absent:
        header = [*header, *absent]
        filled = tuple(absent.values())
        pick = operator.itemgetter(*(header.index(c) for c in expected))
        reorder = lambda row: pick((*row, *filled))  # noqa: E731
    elif tuple(header) != expected:
        reorder = operator.itemgetter(*(header.index(c) for c in expected))
    try:
        done = reader.line_num
        while rows := list(itertools.islice(reader, BATCH_ROWS)):
            if reader.line_num - done == len(rows):
                lines = list(range(done + 1, reader.line_num + 1))
            else:
                lines = _line_numbers(done, rows)
            done = reader.line_num
            if set(map(len, rows)) != {width}:
                lines, rows = _whole_rows(checked, str(path), width, lines, rows)
            if rows and reorder is not None:
                yield lines, list(map(reorder, rows))
            elif rows:
                yield lines, list[Sequence[str]](rows)
    except csv.Error as e:
        problem = _csv_problem(e, "malformed CSV")
        raise UnusableFile(f"{path}:{reader.line_num}: {problem}") from None
    except UnicodeDecodeError:
        raise UnusableFile(
            f"{path}:{reader.line_num + 1}: not UTF-8 text; save it as 'CSV UTF-8' and try again"
        ) from None


def _line_numbers(before: int, rows: list[list[str]]) -> list[int]:
    """The line each row starts on, when some quoted cells hold line breaks."""
    lines = []
    line = before + 1
    for row in rows:
        lines.append(line)
        line += 1 + sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in row)
    return lines


def _whole_rows(
    checked: _Checked, where: str, width: int, lines: list[int], rows: list[list[str]]
) -> tuple[list[int], list[list[str]]]:
    """Rows with as many cells as the header; blank lines skipped, others reported."""
    kept_lines, kept = [], []
    for line, row in zip(lines, rows, strict=True):
        if len(row) == width:
            kept_lines.append(line)
            kept.append(row)
        elif row:
            checked.add(where, line, "", f"{len(row)} cells, the header has {width}")
    return kept_lines, kept


# -- checking one row ------------------------------------------------------------------------


Columns = dict[str, Sequence[object]]
"""A batch of rows as typed columns, by name."""

CellCheck = Callable[[str], tuple[object, str | None]]
"""Raw cell text in; the typed value (None for empty) and a problem (None when fine) out."""

_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DATETIME_FORM = (
    r"(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"
)
"""Exactly the real UTC moments written like 2026-11-24T09:15:00Z, calendar included: one
pattern for a whole column at once and for a single cell."""
_MOMENT = re.compile(_DATETIME_FORM, re.ASCII)


def _cell_check(f: Field) -> CellCheck:
    """One field's check, built once: a file has hundreds of thousands of cells per field."""
    empty: tuple[object, str | None] = (None, "required, but empty" if f.required else None)
    if f.type == "integer":
        low, high = f.minimum, f.maximum

        def integer(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            digits = raw[1:] if raw.startswith("-") else raw
            if not (digits.isascii() and digits.isdigit()):
                return None, f"{raw!r} is not a whole number"
            if len(digits) > 19:  # past any SQLite integer (and Python's limit on digits)
                return None, f"{raw[:12]}... ({len(digits):,} digits) is far too large"
            value = int(raw)
            if not -SQLITE_INTEGER <= value < SQLITE_INTEGER:
                return None, f"{raw} is far too large"
            if low is not None and value < low:
                return None, f"{raw} is below {low}"
            if high is not None and value > high:
                return None, f"{raw} is above {high}"
            return value, None

        return integer
    if f.type == "datetime":

        def moment(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            if not _MOMENT.fullmatch(raw):
                return None, f"{raw!r} is not a UTC time like 2026-11-24T09:15:00Z"
            return raw, None

        return moment
    if f.enum:
        allowed = frozenset(f.enum)
        listed = ", ".join(f.enum)

        def one_of(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            return (raw, None) if raw in allowed else (None, f"{raw!r} is not one of {listed}")

        return one_of
    if f.pattern:
        pattern = re.compile(f.pattern)

        def matching(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            if pattern.fullmatch(raw):
                return raw, None
            return None, f"{raw!r} does not match the expected form"

        return matching

    if f.note_rule:

        def note(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            problem = note_problem(raw)
            return (None, problem) if problem else (raw, None)

        return note

    def text(raw: str) -> tuple[object, str | None]:
        return (None, empty[1]) if raw == "" else (raw, None)

    return text


_CHECKS: dict[int, list[tuple[str, CellCheck]]] = {}
"""Keyed by id() of the module-level field tuples: hashing the tuple itself costs more than
checking the row."""


def _cell_checks(fields: tuple[Field, ...]) -> list[tuple[str, CellCheck]]:
    checks = _CHECKS.get(id(fields))
    if checks is None:
        checks = _CHECKS[id(fields)] = [(f.name, _cell_check(f)) for f in fields]
    return checks


def check_row(
    fields: tuple[Field, ...], row: Sequence[str]
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """Cells in the order of `fields`: their typed values by name, and any problems."""
    checks = _cell_checks(fields)
    values: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for (name, check_cell), raw in zip(checks, row, strict=True):
        value, problem = check_cell(raw)
        values[name] = value
        if problem:
            problems.append((name, problem))
    return values, problems


def check_trial_rules(values: dict[str, object]) -> list[tuple[str, str]]:
    """What the protocol says about one trial beyond single cells."""
    problems = []
    outcome = values["outcome"]
    if outcome == "stopped" and values["stop_reason"] is None:
        problems.append(("stop_reason", "a stopped trial needs a reason"))
    if outcome != "stopped" and values["stop_reason"] is not None:
        problems.append(("stop_reason", f"only a stopped trial has a reason (outcome {outcome})"))
    if outcome == "rated":
        for name in REQUIRED_WHEN_RATED:
            if values[name] is None:
                problems.append((name, "a rated trial needs this rating"))
    elif outcome in ("stopped", "skipped"):
        for name in RATINGS:
            if values[name] is not None:
                problems.append((name, f"a {outcome} trial has no ratings"))
    return problems


def trial_rules_hold(columns: Columns) -> bool:
    """`check_trial_rules` for a whole batch: those rules look only at the outcome and at which
    of the reason and ratings are empty, so one example of each such pattern settles it."""
    optional = ("stop_reason", *RATINGS)
    patterns = set(
        zip(
            columns["outcome"],
            *(map(operator.is_, columns[c], itertools.repeat(None)) for c in optional),
            strict=True,
        )
    )
    for outcome, *empty in patterns:
        example: dict[str, object] = {"outcome": outcome}
        example.update((c, None if e else 0) for c, e in zip(optional, empty, strict=True))
        if check_trial_rules(example):
            return False
    return True


def check_session_rules(values: dict[str, object]) -> list[tuple[str, str]]:
    """What the protocol says about one session beyond single cells."""
    status = values["status"]
    if values["end_reason"] is not None and status != "stopped":
        return [("end_reason", f"only a stopped session has an end reason (status {status})")]
    return []


def session_rules_hold(columns: Columns) -> bool:
    """`check_session_rules` for a whole batch."""
    return all(
        reason is None or status == "stopped"
        for reason, status in zip(columns["end_reason"], columns["status"], strict=True)
    )


# -- the whole file --------------------------------------------------------------------------


@dataclass
class Source:
    """What is being imported: trials always; rankings and sessions from a data package."""

    trials: Path
    rankings: Path | None = None
    sessions: Path | None = None
    label: str = ""
    safety_answers: Path | None = None
    corrections: Path | None = None

    def members(self) -> list[Path]:
        return [
            p
            for p in (
                self.trials,
                self.rankings,
                self.sessions,
                self.safety_answers,
                self.corrections,
            )
            if p is not None
        ]


def locate(path: Path) -> Source:
    """The files to read, after refusing any that is a database (reading one this process has
    open, then closing it, would drop the locks that keep it safe)."""
    _not_a_database(path)
    if path.suffix.lower() == ".json" or path.name == "datapackage.json":
        source = _from_datapackage(path)
        for member in source.members():
            _not_a_database(member)
        return source
    return Source(trials=path, label=str(path))


def _not_a_database(path: Path) -> None:
    """Refuse a database, and anything but a regular file (a named pipe would hang the read)."""
    if is_special_file(path):
        raise UnusableFile(f"{path}: not a regular file (a pipe or a device); give a CSV file")
    if holds_connection(path):
        raise UnusableFile(f"{path}: this is the database being imported into")
    if is_sqlite_file(path):
        raise UnusableFile(
            f"{path}: this is an SQLite database, not CSV or JSON; to bring in another "
            "station's database use `posturetest merge`"
        )


JSON_MAX_DIGITS = 1000
"""No number in a descriptor comes near this; a longer one would only cost time to read."""


class _NotUsableJson(Exception):
    """What is wrong with a descriptor's JSON, in words, raised from inside the parser."""


def _json_number(convert: Callable[[str], object]) -> Callable[[str], object]:
    def number(text: str) -> object:
        if len(text) > JSON_MAX_DIGITS:
            raise _NotUsableJson("a number too long")
        return convert(text)

    return number


def _no_constant(text: str) -> object:
    raise _NotUsableJson(f"{text} is not a JSON value")


def _json_kind(value: object) -> str:
    """A JSON value's type, in words."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    return "null" if value is None else "a number"


def _shown(text: str) -> str:
    """A string from the file, quoted on one line and cut short."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "..."


MAX_PATH_BYTES = 1024
MAX_NAME_BYTES = 255
"""A resource path, and each name in it, at most this long: longer ones are refused here, in
a short line, before the system refuses them with the whole path in its message."""

_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _path_problem(base: Path, relative: object) -> str | None:
    """Why a resource's path does not name a file inside the package folder, or None."""
    if not isinstance(relative, str):
        return f"{_json_kind(relative)}, not a string"
    shown = _shown(relative)
    if not relative:
        return "empty"
    if "\x00" in relative:
        return f"{shown} holds a NUL character"
    if _CONTROL.search(relative):
        return f"{shown} holds a control character"
    try:
        encoded = os.fsencode(relative)
    except UnicodeError:
        return f"{shown} holds characters no file name can"
    if len(encoded) > MAX_PATH_BYTES or max(map(len, encoded.split(b"/"))) > MAX_NAME_BYTES:
        return f"{shown} is too long for a file name"
    scheme = _URL_SCHEME.match(relative)
    if scheme and (
        relative[scheme.end() :].startswith("//")
        or scheme[1].lower() in ("file", "data", "http", "https", "ftp")
    ):
        return f"{shown} is a URL; only files in the package folder are read"
    if "\\" in relative:
        return f"{shown} has a backslash (a Windows path?); paths use / and stay in the folder"
    if relative.startswith("/") or re.match("[A-Za-z]:", relative):
        return f"{shown} is an absolute path; it must be relative to the package folder"
    if ".." in relative.split("/"):
        return f"{shown} leaves the package folder"
    try:
        inside = (base / relative).resolve().is_relative_to(base.resolve())
    except (OSError, RuntimeError, ValueError):  # a loop of links, a folder that cannot be read
        return f"{shown} cannot be followed"
    if not inside:
        return f"{shown} is a link to outside the package folder"
    return None


def _from_datapackage(path: Path) -> Source:
    """The files a datapackage.json names, after checking every part of it that is used: the
    JSON itself, the type of each value, and that each path stays inside the package folder."""
    try:
        descriptor = json.loads(
            _decode(path),
            parse_int=_json_number(int),
            parse_float=_json_number(float),
            parse_constant=_no_constant,
        )
    except json.JSONDecodeError as e:
        raise UnusableFile(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    except RecursionError:
        raise UnusableFile(f"{path}: not a usable data package (nested too deep)") from None
    except _NotUsableJson as e:
        raise UnusableFile(f"{path}: not a usable data package ({e})") from None
    except ValueError:  # Python's own limit on the digits of a whole number
        raise UnusableFile(f"{path}: not a usable data package (a number too long)") from None

    def unusable(problem: str) -> UnusableFile:
        return UnusableFile(f"{path}: not a usable data package ({problem})")

    if not isinstance(descriptor, dict):
        raise UnusableFile(
            f"{path}: not a posturetest data package "
            f"(the top level is {_json_kind(descriptor)}, not an object)"
        )
    if "posturetest" in descriptor and not isinstance(descriptor["posturetest"], dict):
        raise unusable(f"posturetest is {_json_kind(descriptor['posturetest'])}, not an object")
    listed = descriptor.get("resources", [])
    if not isinstance(listed, list):
        raise unusable(f"resources is {_json_kind(listed)}, not a list")
    resources: dict[str, dict[str, object]] = {}
    for number, resource in enumerate(listed, 1):
        if not isinstance(resource, dict):
            raise unusable(f"resource {number} is {_json_kind(resource)}, not an object")
        if "name" not in resource:
            continue  # not one of ours
        name = resource["name"]
        if not isinstance(name, str):
            raise unusable(f"the name of resource {number} is {_json_kind(name)}, not a string")
        if name in resources:
            raise unusable(f"two resources are named {_shown(name)}")
        resources[name] = resource
    if "trials" not in resources:
        raise UnusableFile(f"{path}: not a posturetest data package (no trials resource)")
    if "posturetest" not in descriptor:
        raise UnusableFile(f"{path}: not a posturetest data package (no posturetest section)")
    base = path.parent

    def resource_path(name: str) -> Path | None:
        resource = resources.get(name)
        if resource is None:
            return None
        relative = resource.get("path")
        problem = _path_problem(base, relative)
        if problem is not None or not isinstance(relative, str):
            raise UnusableFile(f"{path}: resource {name} has an unusable path ({problem})")
        return base / relative

    trials = resource_path("trials")
    assert trials is not None
    return Source(
        trials,
        resource_path("rankings"),
        resource_path("sessions"),
        str(path),
        safety_answers=resource_path("safety_answers"),
        corrections=resource_path("corrections"),
    )


@dataclass
class _Checked:
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    sessions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    session_lines: dict[str, int] = field(default_factory=dict)
    trial_ids: set[str] = field(default_factory=set)
    seqs: set[tuple[str, int]] = field(default_factory=set)

    def add(self, where: str, line: int, column: str, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            label = f"{column}: " if column else ""
            self.errors.append(f"{where}:{line}: {label}{problem}")

    def absorb(self, problems: list[str], count: int) -> None:
        """Problems found elsewhere (by a checking process): `count` of them, these listed."""
        self.error_count += count
        self.errors.extend(problems[: MAX_ERRORS - len(self.errors)])


Rules = Callable[[dict[str, object]], list[tuple[str, str]]]
BATCH_ROWS = 5000


@dataclass(frozen=True)
class _Table:
    """One kind of file: its columns, their fields, and rules across a row's cells."""

    columns: tuple[str, ...]
    fields: tuple[Field, ...]
    rules: Rules | None = None
    rules_hold: Callable[[Columns], bool] | None = None
    optional: frozenset[str] = frozenset()
    """Columns an older file may lack; each row then gets the time of the import."""
    optional_empty: frozenset[str] = frozenset()
    """Columns an older file may lack; each row then has them empty."""


_TRIALS = _Table(TRIAL_COLUMNS, TRIAL_FIELDS, check_trial_rules, trial_rules_hold)
_SESSIONS = _Table(
    SESSION_COLUMNS,
    SESSION_FIELDS,
    check_session_rules,
    session_rules_hold,
    optional_empty=SESSION_OPTIONAL,
)
_RANKINGS = _Table(RANKING_COLUMNS, RANKING_FIELDS, optional=RANKING_OPTIONAL)
_SAFETY_ANSWERS = _Table(SAFETY_ANSWER_COLUMNS, SAFETY_ANSWER_FIELDS)
_CORRECTIONS = _Table(CORRECTION_COLUMNS, CORRECTION_FIELDS)


def _typed_batches(
    path: Path, table: _Table, checked: _Checked
) -> Iterator[tuple[list[int], Columns]]:
    """Checked rows a batch at a time, as typed columns; problems go to `checked`.

    A batch is checked column by column (one regular expression or one set operation per
    column instead of a function call per cell); a batch with any problem is checked again row
    by row, so every problem is reported with its own line and words.
    """
    names = [f.name for f in table.fields]
    now = utc_now()
    defaults = {c: now for c in table.optional} | {c: "" for c in table.optional_empty}
    for lines, rows in _reader(path, table.columns, checked, defaults):
        typed = _typed_columns(table.fields, rows)
        if typed is not None:
            columns = dict(zip(names, typed, strict=True))
            if table.rules_hold is None or table.rules_hold(columns):
                yield lines, columns
                continue
        kept_lines, kept = [], []
        for line, row in zip(lines, rows, strict=True):
            values, problems = check_row(table.fields, row)
            if not problems and table.rules is not None:
                problems = table.rules(values)
            for column, problem in problems:
                checked.add(str(path), line, column, problem)
            if not problems:
                kept_lines.append(line)
                kept.append(values)
        if kept:
            yield kept_lines, {n: [v[n] for v in kept] for n in names}


def _records(columns: Columns) -> list[dict[str, object]]:
    """Columns back to one dict per row, for the row-by-row paths."""
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


_COLUMN_PATTERNS: dict[int, re.Pattern[str]] = {}


def _column_pattern(f: Field, cell: str) -> re.Pattern[str]:
    """Every cell of a column, joined by line breaks, as one match: fine cells, or empty ones
    where the field may be empty."""
    key = id(f)
    pattern = _COLUMN_PATTERNS.get(key)
    if pattern is None:
        one = f"(?:{cell})" if f.required else f"(?:{cell})?"
        pattern = _COLUMN_PATTERNS[key] = re.compile(f"{one}(?:\n{one})*", re.ASCII)
    return pattern


_EMPTY_IS_NONE = {"": None}


def _transposed(rows: list[Sequence[str]]) -> list[tuple[str, ...]]:
    """Rows to columns, a thousand rows at a time (zip over a few thousand rows at once is
    several times slower: the rows no longer fit in the processor's cache)."""
    if len(rows) <= 1000:
        return list(zip(*rows, strict=True))
    parts = [list(zip(*rows[i : i + 1000], strict=True)) for i in range(0, len(rows), 1000)]
    return [tuple(itertools.chain.from_iterable(c)) for c in zip(*parts, strict=True)]


def _typed_columns(
    fields: tuple[Field, ...], rows: list[Sequence[str]]
) -> list[Sequence[object]] | None:
    """The batch's typed columns, or None when any cell needs a closer look.

    Whole numbers and enum values are looked up (one step checks and types a cell); a value
    repeated down a column becomes one shared string, which costs less to keep and to send.
    """
    columns: list[Sequence[object]] = []
    for f, cells in zip(fields, _transposed(rows), strict=True):
        lookup = _lookups(f)
        if lookup is not None:
            try:
                columns.append(list(map(lookup.__getitem__, cells)))
                continue
            except KeyError:
                if f.type != "integer":
                    return None
            numbers = _integers(f, cells)
            if numbers is None:
                return None
            columns.append(numbers)
            continue
        if f.type == "datetime":
            if not _column_pattern(f, _DATETIME_FORM).fullmatch("\n".join(cells)):
                return None
        elif f.pattern:
            if not _column_pattern(f, f.pattern).fullmatch("\n".join(cells)):
                return None
        elif f.required and "" in cells:
            return None
        if f.note_rule and (
            NOTE_FORBIDDEN.search("\n".join(cells)) or max(map(len, cells)) > NOTE_MAX_LENGTH
        ):
            return None
        column: Sequence[str] = cells
        if f.name in SESSION_LEVEL_TRIAL_COLUMNS:  # the same on every row of a session
            shared: dict[str, str] = {}
            column = list(map(shared.setdefault, cells, cells))
        columns.append(column if f.required else list(map(_EMPTY_IS_NONE.get, column, column)))
    return columns


_LOOKUPS: dict[int, dict[str, object] | None] = {}


def _lookups(f: Field) -> dict[str, object] | None:
    """Every allowed value of an enum or whole-number field by its plain text (numbers only up
    to 10,000 of them), and "" where the field may be empty; None for other fields."""
    key = id(f)
    if key not in _LOOKUPS:
        table: dict[str, object] | None = None
        if f.enum:
            table = {v: v for v in f.enum}
        elif f.type == "integer":
            low = f.minimum if f.minimum is not None else 0
            high = min(f.maximum if f.maximum is not None else low + 9_999, low + 9_999)
            table = {str(n): n for n in range(low, high + 1)}
        if table is not None and not f.required:
            table[""] = None
        _LOOKUPS[key] = table
    return _LOOKUPS[key]


def _integers(f: Field, cells: Sequence[str]) -> Sequence[object] | None:
    """A column of whole numbers written other than plainly (or out of the lookup's range)."""
    if not _column_pattern(f, "-?[0-9]{1,19}").fullmatch("\n".join(cells)):
        return None
    numbers = [int(c) if c else None for c in cells]
    present = [n for n in numbers if n is not None]
    if present and (
        (f.minimum is not None and min(present) < f.minimum)
        or (f.maximum is not None and max(present) > f.maximum)
        or not -SQLITE_INTEGER <= min(present) <= max(present) < SQLITE_INTEGER
    ):
        return None
    return numbers


def _check_trials(checked: _Checked, where: str, lines: list[int], columns: Columns) -> Columns:
    """Checks across rows for a batch at once (set operations); row by row if anything is off:
    unique ids and positions, one set of session facts per session."""
    ids = set(columns["trial_id"])
    seqs = set(zip(columns["session_id"], columns["seq"], strict=True))
    session_ids = set(columns["session_id"])
    levels = set(zip(*(columns[c] for c in SESSION_LEVEL_TRIAL_COLUMNS), strict=True))
    rows = len(lines)
    clean = (
        len(ids) == rows
        and len(seqs) == rows
        and len(levels) == len(session_ids)  # one set of facts per session
        and checked.trial_ids.isdisjoint(ids)
        and checked.seqs.isdisjoint(seqs)
    )
    new: list[tuple[str, tuple[object, ...]]] = []
    for level in levels if clean else ():
        session_id = str(level[0])
        folded = (level[0], str(level[1]).casefold(), *level[2:])
        known = checked.sessions.get(session_id)
        if known is None:
            new.append((session_id, folded))
        elif known != folded:
            clean = False
            break
    if not clean:
        kept = [
            values
            for line, values in zip(lines, _records(columns), strict=True)
            if _check_trial(checked, where, line, values)
        ]
        return {c: [v[c] for v in kept] for c in columns}
    if new:
        first_lines = dict(zip(reversed(columns["session_id"]), reversed(lines), strict=True))
        for session_id, folded in new:
            checked.sessions[session_id] = folded
            checked.session_lines[session_id] = first_lines[session_id]
    checked.trial_ids |= ids  # type: ignore[arg-type]
    checked.seqs |= seqs  # type: ignore[arg-type]
    return columns


def _check_trial(checked: _Checked, where: str, line: int, values: dict[str, object]) -> bool:
    """Checks across rows: unique ids and positions, one set of session facts per session."""
    trial_id, session_id = str(values["trial_id"]), str(values["session_id"])
    if trial_id in checked.trial_ids:
        checked.add(where, line, "trial_id", "this trial appears twice in the file")
        return False
    checked.trial_ids.add(trial_id)
    key = (session_id, int(values["seq"]))  # type: ignore[call-overload]
    if key in checked.seqs:
        checked.add(where, line, "seq", f"session {session_id} has two trials at seq {key[1]}")
        return False
    checked.seqs.add(key)
    session_level = tuple(
        str(values["subject"]).casefold() if c == "subject" else values[c]
        for c in SESSION_LEVEL_TRIAL_COLUMNS
    )
    known = checked.sessions.setdefault(session_id, session_level)
    if known != session_level:
        column = next(
            c
            for c, a, b in zip(SESSION_LEVEL_TRIAL_COLUMNS, known, session_level, strict=True)
            if a != b
        )
        first = checked.session_lines[session_id]
        checked.add(where, line, column, f"differs from line {first} of the same session")
        return False
    checked.session_lines.setdefault(session_id, line)
    return True


@dataclass
class _TrialBatch:
    """Checked trials ready for the writer."""

    columns: list[Sequence[object]] = field(default_factory=list)
    """The trials table's columns (`TRIAL_TABLE_COLUMNS`): cheaper to send than rows."""
    sessions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """The sessions first met in these rows: their facts (see `session_facts`), and once
    planned, their plans (see `with_plans`)."""
    plans: dict[str, tuple[object, ...]] = field(default_factory=dict)
    """At the end: the plans of sessions whose rows came in more than one batch."""

    @property
    def rows(self) -> list[tuple[object, ...]]:
        return list(zip(*self.columns, strict=True))


def _trial_batches(path: Path, checked: _Checked) -> Generator[_TrialBatch, None, None]:
    """The trials file checked, a batch at a time, with the sessions first met in each."""
    met: set[str] = set()
    for lines, columns in _typed_batches(path, _TRIALS, checked):
        good = _check_trials(checked, str(path), lines, columns)
        if good["trial_id"]:
            new = session_facts(good, met)
            met.update(new)
            yield _TrialBatch([good[c] for c in TRIAL_TABLE_COLUMNS], new)


def _planned(batches: Iterator[_TrialBatch]) -> Generator[_TrialBatch, None, None]:
    """The batches with their new sessions' plans, as far as their rows so far tell; last, a
    batch with the plans of sessions whose rows came in more than one batch."""
    tallies = Tallies()
    statuses: dict[str, object] = {}
    spread: set[str] = set()
    for batch in batches:
        columns = dict(zip(TRIAL_TABLE_COLUMNS, batch.columns, strict=True))
        spread.update(statuses.keys() & set(columns["session_id"]))
        statuses.update((sid, facts[STATUS_AT]) for sid, facts in batch.sessions.items())
        tallies.add(*(columns[c] for c in TALLIED_COLUMNS))
        yield _TrialBatch(batch.columns, with_plans(batch.sessions, tallies))
    yield _TrialBatch(plans={s: tallies.plan(s, str(statuses[s])) for s in spread})


PARALLEL_FROM_BYTES = 4 << 20
"""A trials file this large is read and checked in a second process while this one writes."""


def check_in_worker() -> None:
    """The checking process: `python -c` runs this with the trials file as its argument.

    Every planned batch of `_trial_batches` goes to standard output as a frame (its length, then the
    batch as `marshal` data: plain lists and strings, several times cheaper than pickle), then
    the ids of the sessions seen; a file that cannot be read goes as its problem line.
    """
    gc.disable()  # nothing here makes reference cycles; collecting would only slow it down
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the importing process's to handle
    out = sys.stdout.buffer
    checked = _Checked()
    reported = 0

    def send(*message: object) -> None:
        frame = marshal.dumps(message)  # type: ignore[arg-type]
        out.write(len(frame).to_bytes(8, "little"))
        out.write(frame)

    try:
        for batch in _planned(_trial_batches(Path(sys.argv[1]), checked)):
            send(
                "batch",
                checked.errors[reported:],
                checked.error_count,
                batch.columns,
                batch.sessions,
                batch.plans,
            )
            reported = len(checked.errors)
        send("end", checked.errors[reported:], checked.error_count, list(checked.sessions))
    except UnusableFile as e:
        send("unusable", e.problems[0])
    except Exception as e:  # noqa: BLE001 - reported by the importing process, in one line
        send("failed", f"{type(e).__name__}: {e}")
    out.flush()


FRAMES_AHEAD = 32
"""Batches the checking process may run ahead of the writing; a pipe alone holds 64 KiB."""


MAX_FRAME_BYTES = 1 << 30
"""No batch comes near this (5,000 rows); a longer frame means the stream is garbled."""
GARBLED = b"garbled"


def _receive(stream: BinaryIO, frames: queue.Queue[bytes | None]) -> None:
    """Reads the checking process's frames as they come (the pipe never fills up), then None.

    A frame whose length is out of bounds, or that ends early, is passed on as GARBLED."""
    try:
        while len(head := stream.read(8)) == 8:
            length = int.from_bytes(head, "little")
            if length > MAX_FRAME_BYTES:
                frames.put(GARBLED)
                return
            frame = stream.read(length)
            if len(frame) != length:
                frames.put(GARBLED)
                return
            frames.put(frame)
    except (OSError, ValueError, MemoryError):
        frames.put(GARBLED)
    finally:
        frames.put(None)


def _checked_elsewhere(path: Path, checked: _Checked) -> Generator[_TrialBatch, None, None]:
    """The planned `_trial_batches` from a second process: reading, checking and planning
    overlap with writing.

    A plain child Python (not multiprocessing), so nothing of the caller's own script is run
    again there; only its batches come back, over a private pipe.
    """
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    worker = subprocess.Popen(
        # -P: a folder named posturetest in the current directory is not imported instead
        [sys.executable, "-P", "-c", _WORKER_CODE, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert worker.stdout is not None
    frames: queue.Queue[bytes | None] = queue.Queue(FRAMES_AHEAD)
    receiver = threading.Thread(target=_receive, args=(worker.stdout, frames), daemon=True)
    receiver.start()
    counted = 0
    try:
        while True:
            frame = frames.get()
            if frame == GARBLED:
                raise UnusableFile(f"{path}: the process checking this file sent garbled data")
            try:
                kind, *message = marshal.loads(frame) if frame is not None else (None,)
            except (EOFError, ValueError, TypeError):
                kind = None
            if kind in ("batch", "end"):
                problems, problem_count, *content = message
                checked.absorb(problems, problem_count - counted)
                counted = problem_count
            if kind == "batch":
                yield _TrialBatch(*content)
            elif kind == "end":
                checked.sessions.update(dict.fromkeys(content[0], ()))
                return
            elif kind == "unusable":
                raise UnusableFile(message[0])
            elif kind == "failed":
                raise UnusableFile(f"{path}: {message[0]}")
            else:
                raise UnusableFile(f"{path}: the process checking this file stopped unexpectedly")
    finally:
        if worker.poll() is None:
            worker.kill()
        while receiver.is_alive():  # let it see the end of the pipe, even if the queue is full
            with contextlib.suppress(queue.Empty):
                frames.get(timeout=0.1)
        worker.stdout.close()
        worker.wait()


_WORKER_CODE = "from posturetest.importer import check_in_worker; check_in_worker()"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a bulk import: it makes no cycles, and every pass
    would walk the hundreds of thousands of ids kept for the checks."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_file(
    store: Store, path: Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check every row and write in the same pass, inside one transaction.

    Writing stops at the first problem while checking goes on (to list up to 20 problems); any
    problem or conflict rolls the whole transaction back, so nothing is ever half-imported.
    A large trials file is read and checked in a second process while this one writes.
    """
    source = locate(path)
    checked = _Checked()
    sessions: dict[str, dict[str, object]] = {}
    described_at: dict[str, int] = {}
    if source.sessions is not None:
        for lines, columns in _typed_batches(source.sessions, _SESSIONS, checked):
            for line, values in zip(lines, _records(columns), strict=True):
                sessions[str(values["session_id"])] = values
                described_at[str(values["session_id"])] = line
    large = (
        bool(sys.executable)  # an embedding program may have no Python to start
        and source.trials.is_file()
        and source.trials.stat().st_size >= PARALLEL_FROM_BYTES
    )
    new_file = store.empty("trials") and store.empty("sessions")
    try:
        with (
            store.rollback_journal() if new_file else contextlib.nullcontext(),
            store.write(),
            store.large_cache(),
            _collector_paused(),
        ):
            writer = ImportWriter(store, bulk=True)
            checking = (
                _checked_elsewhere(source.trials, checked)
                if large
                else _planned(_trial_batches(source.trials, checked))
            )
            with contextlib.closing(checking):
                for batch in checking:
                    if checked.error_count:
                        continue  # checking goes on, to list more problems; writing stops
                    rows = batch.rows
                    writer.add_trial_rows(rows, batch.sessions, sessions)
                    writer.apply_plans(batch.plans)
                    if progress and rows:
                        progress(len(rows))
            for sid, line in described_at.items():
                if sid not in checked.sessions:
                    checked.add(
                        str(source.sessions), line, "session_id", "no trial of this session"
                    )
            if source.rankings is not None:
                rankings = _checked_rankings(source.rankings, checked)
                if not checked.error_count:
                    writer.add_rankings(rankings)
            answers = _checked_safety_answers(source.safety_answers, checked)
            corrections = _checked_corrections(source.corrections, checked)
            _refuse_problems(checked)
            writer.finish()  # the trials' keys are in place from here on
            writer.add_safety_answers(answers)
            for where, line, trial_id in writer.add_corrections(corrections):
                checked.add(where, line, "trial_id", f"no trial {trial_id} in the file or database")
            _refuse_problems(checked)
            writer.finish()
    except ImportConflict as e:
        raise ImportRefused(e.problems) from None
    return writer.report


def _refuse_problems(checked: _Checked) -> None:
    if checked.error_count:
        more = checked.error_count - len(checked.errors)
        raise ImportRefused(checked.errors + ([f"... and {more} more problems"] if more else []))


def _checked_safety_answers(path: Path | None, checked: _Checked) -> list[dict[str, object]]:
    """Answers of sessions in the file, each question once per session."""
    answers: list[dict[str, object]] = []
    if path is None:
        return answers
    seen: set[tuple[object, object]] = set()
    for lines, columns in _typed_batches(path, _SAFETY_ANSWERS, checked):
        for line, values in zip(lines, _records(columns), strict=True):
            if str(values["session_id"]) not in checked.sessions:
                checked.add(str(path), line, "session_id", "no trial of this session")
            key = (values["session_id"], values["question"])
            if key in seen:
                checked.add(str(path), line, "question", "answered twice for one session")
            seen.add(key)
            answers.append(values)
    return answers


def _checked_corrections(path: Path | None, checked: _Checked) -> list[AuditRow]:
    """The audit trail's rows, each id once (its trials are looked up once they are written)."""
    rows: list[AuditRow] = []
    if path is None:
        return rows
    seen: set[object] = set()
    for lines, columns in _typed_batches(path, _CORRECTIONS, checked):
        for line, values in zip(lines, _records(columns), strict=True):
            if values["correction_id"] in seen:
                checked.add(str(path), line, "correction_id", "appears twice")
            seen.add(values["correction_id"])
            rows.append(AuditRow(str(path), line, values))
    return rows


def _checked_rankings(path: Path, checked: _Checked) -> list[dict[str, object]]:
    """Rankings of sessions in the file, each person ranking each posture once."""
    rankings = []
    ranked: set[tuple[object, ...]] = set()
    for lines, columns in _typed_batches(path, _RANKINGS, checked):
        for line, values in zip(lines, _records(columns), strict=True):
            if str(values["session_id"]) not in checked.sessions:
                checked.add(str(path), line, "session_id", "no trial of this session")
            person = (values["session_id"], values["test"], values["role"])
            for column in ("posture", "rank"):
                key = (*person, column, values[column])
                if key in ranked:
                    checked.add(
                        str(path),
                        line,
                        column,
                        f"{values[column]} appears twice in one person's ranking",
                    )
                ranked.add(key)
            rankings.append(values)
    return rankings
