"""Storage: the schema, its migrations and every SQL statement live here."""

from posturetest.domain.interchange import RANKING_COLUMNS
from posturetest.store.opening import (
    StoreBusy,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreReadOnly,
)
from posturetest.store.schema import INTERCHANGE_COLUMNS, SCHEMA_VERSION
from posturetest.store.store import (
    Correction,
    RecordError,
    SessionRow,
    Store,
    new_id,
    open_store,
    utc_now,
)

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
