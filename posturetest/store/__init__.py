"""Storage: the schema, its migrations and every SQL statement live here."""

from posturetest.domain.interchange import RANKING_COLUMNS
from posturetest.store.errors import (
    RecordError,
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreReadOnly,
)
from posturetest.store.reads import Correction, SessionRow
from posturetest.store.schema import INTERCHANGE_COLUMNS, SCHEMA_VERSION
from posturetest.store.store import Store, open_store
from posturetest.store.transactions import new_id, utc_now

__all__ = [
    "INTERCHANGE_COLUMNS",
    "RANKING_COLUMNS",
    "SCHEMA_VERSION",
    "Correction",
    "RecordError",
    "SessionRow",
    "Store",
    "StoreBusy",
    "StoreDamaged",
    "StoreError",
    "StoreFull",
    "StoreReadOnly",
    "new_id",
    "open_store",
    "utc_now",
]
