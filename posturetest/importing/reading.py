"""CSV text to rows: the header checked and put in order, rows a batch at a time with the line
each starts on, and rows of the wrong width reported instead of passed on."""

from __future__ import annotations

import csv
import itertools
import operator
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from posturetest.importing.problems import Checked, UnusableFile
from posturetest.importing.source import open_text

BATCH_ROWS = 5000

CELL_MAX_CHARS = 16 << 20
"""csv's limit on one cell: far beyond any cell a real row holds (those are checked for their
own lengths later), and bounds what a garbled quote makes the reader hold."""


def _csv_problem(e: csv.Error, what: str) -> str:
    """csv's complaint, in words; a cell over `CELL_MAX_CHARS` says so."""
    if "field larger than field limit" in str(e):
        return f"a cell is too long (more than {CELL_MAX_CHARS:,} characters)"
    return f"{what}: {e}"


def csv_batches(
    path: Path,
    expected: tuple[str, ...],
    checked: Checked,
    optional: Mapping[str, str] | None = None,
) -> Iterator[tuple[list[int], list[Sequence[str]]]]:
    """Data rows a batch at a time, with the line each starts on, after checking the header."""
    stream, first_line = open_text(path)
    with stream:
        yield from _batches(path, stream, first_line, expected, checked, optional)


def _batches(
    path: Path,
    stream: TextIO,
    first_line: str,
    expected: tuple[str, ...],
    checked: Checked,
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
    checked: Checked, where: str, width: int, lines: list[int], rows: list[list[str]]
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
