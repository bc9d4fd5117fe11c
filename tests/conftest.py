"""Fixtures shared by the tests: a store on a temporary file. Helpers that build things live in
plain modules (tests/factories.py, tests/disks.py, tests/functional/pilot.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from posturetest.store import Store


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    return tmp_path / "tui.db"


@pytest.fixture
def store(db_file: Path) -> Iterator[Store]:
    s = Store(db_file)
    yield s
    s.close()
