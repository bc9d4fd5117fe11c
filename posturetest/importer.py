"""Import of an export: a CSV in the interchange format, or a datapackage.json from `export`.

Two passes over the file: the first checks every row and keeps only what cross-row checks need
(so memory stays small); nothing is written unless every row is fine. The second pass writes
everything in one transaction, comparing with what the database already holds: the same UUID
with the same values is already present, with other values it is a conflict and nothing is kept.
"""

from __future__ import annotations

import codecs
import csv
import json
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from posturetest.domain.interchange import (
    RANKING_COLUMNS,
    RANKING_FIELDS,
    SESSION_COLUMNS,
    SESSION_FIELDS,
    SESSION_LEVEL_TRIAL_COLUMNS,
    TRIAL_COLUMNS,
    TRIAL_FIELDS,
    Field,
)
from posturetest.store import Store
from posturetest.store.exchange import ImportConflict, ImportReport, ImportWriter

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


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UnusableFile(f"{path}: is a folder; give a CSV file or a datapackage.json") from None
    except OSError as e:
        raise UnusableFile(f"{path}: cannot read it: {e.strerror or e}") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a spreadsheet's UTF-8 byte order mark
    if not data.strip():
        raise UnusableFile(f"{path}: the file is empty")
    if b"\x00" in data[:8192]:
        raise UnusableFile(f"{path}: this is a binary file, not CSV text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UnusableFile(
            f"{path}: not UTF-8 text (byte {e.start}); save it as 'CSV UTF-8' and try again"
        ) from None


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


def _reader(path: Path, expected: tuple[str, ...]) -> Iterator[tuple[int, list[str] | str]]:
    """(line number, row) for each data row, after checking the header."""
    stream, first_line = _open_text(path)
    with stream:
        yield from _rows(path, stream, first_line, expected)


def _rows(
    path: Path, stream: TextIO, first_line: str, expected: tuple[str, ...]
) -> Iterator[tuple[int, list[str] | str]]:
    delimiter = ","
    if "," not in first_line and ";" in first_line:
        delimiter = ";"  # a spreadsheet in a locale that writes ; between columns
    reader = csv.reader(stream, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except csv.Error as e:
        raise UnusableFile(f"{path}:1: cannot read the header: {e}") from None
    missing = [c for c in expected if c not in header]
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
    in_order = tuple(header) == expected
    order = [header.index(c) for c in expected]
    try:
        starts = reader.line_num + 1
        for values in reader:
            line, starts = starts, reader.line_num + 1  # a quoted line break spans lines
            if not values:
                continue
            if len(values) != width:
                yield line, f"{len(values)} cells, the header has {width}"
                continue
            yield line, values if in_order else [values[i] for i in order]
    except csv.Error as e:
        raise UnusableFile(f"{path}:{reader.line_num}: malformed CSV: {e}") from None
    except UnicodeDecodeError:
        raise UnusableFile(
            f"{path}:{reader.line_num + 1}: not UTF-8 text; save it as 'CSV UTF-8' and try again"
        ) from None


# -- checking one row ------------------------------------------------------------------------


CellCheck = Callable[[str], tuple[object, str | None]]
"""Raw cell text in; the typed value (None for empty) and a problem (None when fine) out."""

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


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
        seen: set[str] = set()

        def moment(raw: str) -> tuple[object, str | None]:
            if raw == "":
                return empty
            if raw not in seen:
                try:
                    if not _DATETIME.fullmatch(raw):
                        raise ValueError
                    datetime.fromisoformat(raw[:-1])
                except ValueError:
                    return None, f"{raw!r} is not a UTC time like 2026-11-24T09:15:00Z"
                if len(seen) < 100_000:
                    seen.add(raw)
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
    fields: tuple[Field, ...], row: list[str]
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


# -- the whole file --------------------------------------------------------------------------


@dataclass
class Source:
    """What is being imported: trials always; rankings and sessions from a data package."""

    trials: Path
    rankings: Path | None = None
    sessions: Path | None = None
    label: str = ""


def locate(path: Path) -> Source:
    if path.suffix.lower() == ".json" or path.name == "datapackage.json":
        return _from_datapackage(path)
    return Source(trials=path, label=str(path))


def _from_datapackage(path: Path) -> Source:
    try:
        descriptor = json.loads(_decode(path))
    except json.JSONDecodeError as e:
        raise UnusableFile(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    resources = (
        {r.get("name"): r for r in descriptor.get("resources", []) if isinstance(r, dict)}
        if isinstance(descriptor, dict)
        else {}
    )
    if "trials" not in resources or "posturetest" not in descriptor:
        raise UnusableFile(f"{path}: not a posturetest data package (no trials resource)")
    base = path.parent

    def resource_path(name: str) -> Path | None:
        resource = resources.get(name)
        if resource is None:
            return None
        relative = resource.get("path")
        if not isinstance(relative, str) or Path(relative).is_absolute() or ".." in relative:
            raise UnusableFile(f"{path}: resource {name} has an unusable path")
        return base / relative

    trials = resource_path("trials")
    assert trials is not None
    return Source(trials, resource_path("rankings"), resource_path("sessions"), str(path))


@dataclass
class _Checked:
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    sessions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    session_lines: dict[str, int] = field(default_factory=dict)
    trial_ids: set[str] = field(default_factory=set)
    seqs: set[tuple[str, int]] = field(default_factory=set)
    trials: int = 0

    def add(self, where: str, line: int, column: str, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            label = f"{column}: " if column else ""
            self.errors.append(f"{where}:{line}: {label}{problem}")


Rules = Callable[[dict[str, object]], list[tuple[str, str]]]
BATCH_ROWS = 2000


def _typed_rows(
    path: Path,
    expected: tuple[str, ...],
    fields: tuple[Field, ...],
    checked: _Checked,
    rules: Rules | None = None,
) -> Iterator[tuple[int, dict[str, object]]]:
    """Checked rows with typed values; problems go to `checked`.

    Rows are checked a batch at a time, column by column (one regular expression or one set
    operation per column instead of a function call per cell); a batch with any problem is
    checked again row by row, so every problem is reported with its own line and words.
    """
    lines: list[int] = []
    rows: list[list[str]] = []
    for line, row in _reader(path, expected):
        if isinstance(row, str):
            checked.add(str(path), line, "", row)
            continue
        lines.append(line)
        rows.append(row)
        if len(rows) >= BATCH_ROWS:
            yield from _typed_batch(path, fields, checked, rules, lines, rows)
            lines, rows = [], []
    yield from _typed_batch(path, fields, checked, rules, lines, rows)


def _typed_batch(
    path: Path,
    fields: tuple[Field, ...],
    checked: _Checked,
    rules: Rules | None,
    lines: list[int],
    rows: list[list[str]],
) -> Iterator[tuple[int, dict[str, object]]]:
    if not rows:
        return
    typed = _typed_columns(fields, rows)
    if typed is not None:
        names = [f.name for f in fields]
        batch = [dict(zip(names, values, strict=True)) for values in zip(*typed, strict=True)]
        if rules is None or not any(rules(values) for values in batch):
            yield from zip(lines, batch, strict=True)
            return
    for line, row in zip(lines, rows, strict=True):
        values, problems = check_row(fields, row)
        if not problems and rules is not None:
            problems = rules(values)
        for column, problem in problems:
            checked.add(str(path), line, column, problem)
        if not problems:
            yield line, values


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


def _typed_columns(fields: tuple[Field, ...], rows: list[list[str]]) -> list[list[object]] | None:
    """The batch's typed columns, or None when any cell needs a closer look."""
    columns: list[list[object]] = []
    for f, cells in zip(fields, zip(*rows, strict=True), strict=True):
        if f.type == "integer":
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
            columns.append(list(numbers))
            continue
        if f.type == "datetime":
            check = _cell_checks(fields)[fields.index(f)][1]
            if any(check(c)[1] for c in set(cells)):
                return None
        elif f.enum:
            allowed = set(f.enum) if f.required else {*f.enum, ""}
            if not allowed.issuperset(cells):
                return None
        elif f.pattern:
            if not _column_pattern(f, f.pattern).fullmatch("\n".join(cells)):
                return None
        elif f.required and "" in cells:
            return None
        columns.append([c or None for c in cells])
    return columns


_SESSION_FACTS = operator.itemgetter(*SESSION_LEVEL_TRIAL_COLUMNS)


def _check_trials(
    checked: _Checked, where: str, batch: list[tuple[int, dict[str, object]]]
) -> list[dict[str, object]]:
    """Cross-row checks for a batch at once (set operations); row by row if anything is off."""
    ids = [str(v["trial_id"]) for _, v in batch]
    seqs = [(str(v["session_id"]), v["seq"]) for _, v in batch]
    facts: dict[str, tuple[int, tuple[object, ...]]] = {}
    clean = (
        len(set(ids)) == len(ids)
        and checked.trial_ids.isdisjoint(ids)
        and len(set(seqs)) == len(seqs)
        and checked.seqs.isdisjoint(seqs)
    )
    if clean:
        for line, values in batch:
            session_id = str(values["session_id"])
            first = facts.get(session_id)
            session_level = _SESSION_FACTS(values)
            if first is None:
                facts[session_id] = (line, session_level)
            elif first[1] != session_level:
                clean = False
                break
    if clean:
        for session_id, (line, session_level) in facts.items():
            folded = (session_level[0], str(session_level[1]).casefold(), *session_level[2:])
            known = checked.sessions.get(session_id)
            if known is None:
                checked.sessions[session_id] = folded
                checked.session_lines[session_id] = line
            elif known != folded:
                clean = False
                break
    if not clean:
        return [v for line, v in batch if _check_trial(checked, where, line, v)]
    checked.trial_ids.update(ids)
    checked.seqs.update(seqs)  # type: ignore[arg-type]
    checked.trials += len(batch)
    return [v for _, v in batch]


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
    checked.trials += 1
    return True


def import_file(
    store: Store, path: Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check every row and write in the same pass, inside one transaction.

    Writing stops at the first problem while checking goes on (to list up to 20 problems); any
    problem or conflict rolls the whole transaction back, so nothing is ever half-imported.
    """
    source = locate(path)
    checked = _Checked()
    sessions: dict[str, dict[str, object]] = {}
    described_at: dict[str, int] = {}
    if source.sessions is not None:
        for line, v in _typed_rows(source.sessions, SESSION_COLUMNS, SESSION_FIELDS, checked):
            sessions[str(v["session_id"])] = v
            described_at[str(v["session_id"])] = line
    writer = ImportWriter(store)
    where = str(source.trials)
    try:
        with store.write(), store.large_cache():
            pending: list[tuple[int, dict[str, object]]] = []

            def flush() -> None:
                good = _check_trials(checked, where, pending)
                if not checked.error_count:
                    writer.add_trials(good, sessions)
                    if progress and good:
                        progress(len(good))
                pending.clear()

            for line, values in _typed_rows(
                source.trials, TRIAL_COLUMNS, TRIAL_FIELDS, checked, check_trial_rules
            ):
                pending.append((line, values))
                if len(pending) >= 5000:
                    flush()
            flush()
            for sid, line in described_at.items():
                if sid not in checked.sessions:
                    checked.add(
                        str(source.sessions), line, "session_id", "no trial of this session"
                    )
            if source.rankings is not None:
                rankings = []
                ranked: set[tuple[object, ...]] = set()
                for line, values in _typed_rows(
                    source.rankings, RANKING_COLUMNS, RANKING_FIELDS, checked
                ):
                    if str(values["session_id"]) not in checked.sessions:
                        checked.add(
                            str(source.rankings), line, "session_id", "no trial of this session"
                        )
                    person = (values["session_id"], values["test"], values["role"])
                    for column in ("posture", "rank"):
                        key = (*person, column, values[column])
                        if key in ranked:
                            checked.add(
                                str(source.rankings),
                                line,
                                column,
                                f"{values[column]} appears twice in one person's ranking",
                            )
                        ranked.add(key)
                    rankings.append(values)
                if not checked.error_count:
                    writer.add_rankings(rankings)
            if checked.error_count:
                more = checked.error_count - len(checked.errors)
                raise ImportRefused(
                    checked.errors + ([f"... and {more} more problems"] if more else [])
                )
            writer.finish()
    except ImportConflict as e:
        raise ImportRefused(e.problems) from None
    return writer.report
