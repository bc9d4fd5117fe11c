"""One cell at a time, or a whole column at once: each field's checks, built once per field,
turning raw CSV text into typed values (or the words of what is wrong with it)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from posturetest.domain.interchange import SESSION_LEVEL_TRIAL_COLUMNS, Field
from posturetest.domain.protocol import NOTE_FORBIDDEN, NOTE_MAX_LENGTH, note_problem

SQLITE_INTEGER = 2**63
"""SQLite stores whole numbers in 64 bits."""

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


_WHOLE_NUMBER_FORM = "-?[0-9]{1,19}"


@dataclass(frozen=True)
class FieldCheck:
    """One field's checks, built once when the tables are defined: a file has hundreds of
    thousands of cells per field."""

    field: Field
    cell: CellCheck
    lookup: dict[str, object] | None
    """Every allowed value of an enum or whole-number field by its plain text (numbers only up
    to 10,000 of them), and "" where the field may be empty; None for other fields."""
    column_form: re.Pattern[str] | None
    """Every cell of a column, joined by line breaks, as one match: fine cells, or empty ones
    where the field may be empty. For whole numbers, datetimes and patterned text."""
    shared: bool
    """The same on every row of a session: a repeated value becomes one shared string."""


def _lookup(f: Field) -> dict[str, object] | None:
    table: dict[str, object] | None = None
    if f.enum:
        table = {v: v for v in f.enum}
    elif f.type == "integer":
        low = f.minimum if f.minimum is not None else 0
        high = min(f.maximum if f.maximum is not None else low + 9_999, low + 9_999)
        table = {str(n): n for n in range(low, high + 1)}
    if table is not None and not f.required:
        table[""] = None
    return table


def _column_form(f: Field) -> re.Pattern[str] | None:
    if f.type == "integer":
        cell = _WHOLE_NUMBER_FORM
    elif f.type == "datetime":
        cell = _DATETIME_FORM
    elif f.pattern:
        cell = f.pattern
    else:
        return None
    one = f"(?:{cell})" if f.required else f"(?:{cell})?"
    return re.compile(f"{one}(?:\n{one})*", re.ASCII)


def field_checks(fields: tuple[Field, ...]) -> tuple[FieldCheck, ...]:
    """The checks of each of `fields`, in their order."""
    return tuple(
        FieldCheck(
            f, _cell_check(f), _lookup(f), _column_form(f), f.name in SESSION_LEVEL_TRIAL_COLUMNS
        )
        for f in fields
    )


def check_row(
    checks: Sequence[FieldCheck], row: Sequence[str]
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """Cells in the order of `checks`: their typed values by name, and any problems."""
    values: dict[str, object] = {}
    problems: list[tuple[str, str]] = []
    for check, raw in zip(checks, row, strict=True):
        value, problem = check.cell(raw)
        name = check.field.name
        values[name] = value
        if problem:
            problems.append((name, problem))
    return values, problems


def records(columns: Columns) -> list[dict[str, object]]:
    """Columns back to one dict per row, for the row-by-row paths."""
    return [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]


_EMPTY_IS_NONE = {"": None}


def _transposed(rows: list[Sequence[str]]) -> list[tuple[str, ...]]:
    """Rows to columns, a thousand rows at a time (zip over a few thousand rows at once is
    several times slower: the rows no longer fit in the processor's cache)."""
    if len(rows) <= 1000:
        return list(zip(*rows, strict=True))
    parts = [list(zip(*rows[i : i + 1000], strict=True)) for i in range(0, len(rows), 1000)]
    return [tuple(itertools.chain.from_iterable(c)) for c in zip(*parts, strict=True)]


def typed_columns(
    checks: Sequence[FieldCheck], rows: list[Sequence[str]]
) -> list[Sequence[object]] | None:
    """The batch's typed columns, or None when any cell needs a closer look.

    Whole numbers and enum values are looked up (one step checks and types a cell); a value
    repeated down a column becomes one shared string, which costs less to keep and to send.
    """
    columns: list[Sequence[object]] = []
    for check, cells in zip(checks, _transposed(rows), strict=True):
        f = check.field
        if check.lookup is not None:
            try:
                columns.append(list(map(check.lookup.__getitem__, cells)))
                continue
            except KeyError:
                if f.type != "integer":
                    return None
            numbers = _integers(check, cells)
            if numbers is None:
                return None
            columns.append(numbers)
            continue
        if check.column_form is not None:
            if not check.column_form.fullmatch("\n".join(cells)):
                return None
        elif f.required and "" in cells:
            return None
        if f.note_rule and (
            NOTE_FORBIDDEN.search("\n".join(cells)) or max(map(len, cells)) > NOTE_MAX_LENGTH
        ):
            return None
        column: Sequence[str] = cells
        if check.shared:
            shared: dict[str, str] = {}
            column = list(map(shared.setdefault, cells, cells))
        columns.append(column if f.required else list(map(_EMPTY_IS_NONE.get, column, column)))
    return columns


def _integers(check: FieldCheck, cells: Sequence[str]) -> Sequence[object] | None:
    """A column of whole numbers written other than plainly (or out of the lookup's range)."""
    f = check.field
    if check.column_form is None or not check.column_form.fullmatch("\n".join(cells)):
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
