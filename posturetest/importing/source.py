"""What to read: a CSV file or the files a datapackage.json names, located, path-checked and
sniffed (encoding, binary, emptiness) before a line of it is parsed."""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from posturetest.importing.problems import UnusableFile
from posturetest.store.files import holds_connection, is_special_file, is_sqlite_file

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


def open_text(path: Path) -> tuple[TextIO, str]:
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
