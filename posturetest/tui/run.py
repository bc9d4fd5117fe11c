"""Start the app on a database path: the CLI's single call into the TUI."""

from __future__ import annotations

import os
from pathlib import Path

from posturetest.config import default_db_path, keys_file_path, station_name
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp
from posturetest.tui.keys import load_keymap

CHECK_BEFORE_PAINT_BYTES = 8 << 20
"""A file up to this size is checked before the first paint (about 40 ms here); a larger one
in the background right after it (the app then says so if it is damaged)."""


def run_app(db_path: Path | None) -> int:
    """Open the store (raising StoreError with a one-line reason) and run the app until quit.

    A keys file that cannot be used raises KeysFileError (one line) before anything opens."""
    keymap = load_keymap(keys_file_path())
    path = db_path or default_db_path()
    try:
        small = os.stat(path).st_size <= CHECK_BEFORE_PAINT_BYTES
    except OSError:
        small = True  # a new file, or one Store will explain
    store = Store(path, check=small, check_in_background=not small)
    try:
        app = PostureTestApp(store, station=station_name(), keymap=keymap)
        app.run()
        if app.store_failure is not None:
            raise app.store_failure
        return app.return_code or 0
    finally:
        store.close()
