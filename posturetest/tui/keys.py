"""The keys file: a user's own keys for the app's actions, by binding id (Textual's keymap).

    # ~/.config/posturetest/keys.toml
    stop-trial = "x"          # x stops a trial instead of s
    correct = "c,u"           # several keys: comma-separated

A file that cannot be read, is not TOML, or names an id the app does not have is refused in
one line before the app opens (a typo would otherwise be silently ignored).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from textual.binding import Binding


class KeysFileError(ValueError):
    """The keys file cannot be used; the message is one line for the user."""


def _binding_owners() -> list[type]:
    """Every class of tui/ that declares BINDINGS of its own (every module is walked, so a new
    screen or dialog cannot escape the check that each binding has an id)."""
    import importlib
    import pkgutil

    import posturetest.tui as tui

    owners: list[type] = []
    for info in pkgutil.walk_packages(tui.__path__, "posturetest.tui."):
        module = importlib.import_module(info.name)
        owners.extend(
            value
            for value in vars(module).values()
            if isinstance(value, type)
            and value.__module__ == module.__name__
            and "BINDINGS" in vars(value)
        )
    return owners


def all_bindings() -> list[tuple[type, Binding]]:
    """Every binding the app declares, with the class that declares it."""
    return [
        (owner, binding)
        for owner in _binding_owners()
        for binding in vars(owner)["BINDINGS"]
        if isinstance(binding, Binding)
    ]


@cache
def binding_ids() -> frozenset[str]:
    return frozenset(b.id for _, b in all_bindings() if b.id)


def load_keymap(path: Path) -> dict[str, str]:
    """The keymap of a keys file ({} when there is no file)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise KeysFileError(f"cannot read the keys file {path}: {e.strerror or e}") from None
    import tomllib  # only when there is a keys file

    try:
        table = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise KeysFileError(f"the keys file {path} is not valid TOML ({e})") from None
    keymap: dict[str, str] = {}
    known = binding_ids()
    for key_id, keys in table.items():
        if key_id not in known:
            raise KeysFileError(
                f"the keys file {path} names {key_id!r}, which is not a key of the app "
                "(the help screen, ?, lists each key's id)"
            )
        if not isinstance(keys, str) or not keys.strip():
            raise KeysFileError(
                f'the keys file {path}: {key_id} must be a key name in quotes, e.g. "x"'
            )
        keymap[key_id] = ",".join(k.strip() for k in keys.split(","))
    return keymap
