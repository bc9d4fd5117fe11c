"""Start the app on a database path: the CLI's single call into the TUI."""

from __future__ import annotations

from pathlib import Path

from posturetest.config import default_db_path, station_name
from posturetest.store import Store
from posturetest.tui.app import PostureTestApp


def run_app(db_path: Path | None) -> int:
    """Open the store (raising StoreError with a one-line reason) and run the app until quit."""
    store = Store(db_path or default_db_path(), check_in_background=True)
    try:
        app = PostureTestApp(store, station=station_name())
        app.run()
        return app.return_code or 0
    finally:
        store.close()
