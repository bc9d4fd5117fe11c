"""Where things live on this machine: the default database and the station name."""

from __future__ import annotations

import os
import socket
from pathlib import Path

DB_ENV = "POSTURETEST_DB"
STATION_ENV = "POSTURETEST_STATION"


def default_db_path(*, create_folder: bool = True) -> Path:
    """`POSTURETEST_DB` (a ~ in it is the home folder), else posturetest.db in the user data
    folder (created owner-only when `create_folder`: commands that only read create nothing)."""
    from_env = os.environ.get(DB_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs  # deferred: only needed when no path was given

    folder = Path(platformdirs.user_data_dir("posturetest", appauthor=False))
    if create_folder:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder / "posturetest.db"


def station_name() -> str:
    """Which machine recorded a session: `POSTURETEST_STATION`, else the host name."""
    return os.environ.get(STATION_ENV) or socket.gethostname()


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as a user would type it: the home folder shown as ~."""
    text = str(Path(path).expanduser().resolve()) if str(path) != ":memory:" else ":memory:"
    home = str(Path.home())
    return "~" + text[len(home) :] if text.startswith(home + os.sep) else text


KEYS_ENV = "POSTURETEST_KEYS"


def keys_file_path() -> Path:
    """The keys file that remaps the app's keys: `POSTURETEST_KEYS`, else keys.toml in the user
    config folder (~/.config/posturetest/keys.toml on Linux). It need not exist."""
    from_env = os.environ.get(KEYS_ENV)
    if from_env:
        return Path(from_env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("posturetest", appauthor=False)) / "keys.toml"
