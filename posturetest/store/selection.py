"""Which sessions a command covers (`Selection`), and the WHERE clause that picks them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from posturetest.domain import SessionStatus


@dataclass(frozen=True)
class Selection:
    """Which sessions an export covers. Empty means everything."""

    subjects: tuple[str, ...] = ()
    session_ids: tuple[str, ...] = ()
    since: date | None = None
    until: date | None = None
    """Inclusive: sessions started on this day are in."""
    complete_only: bool = False
    deidentify: bool = False

    def where(
        self, started_at: str, status: str, session_id: str, subject: str
    ) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.subjects:
            marks = ", ".join("?" * len(self.subjects))
            clauses.append(f"{subject} COLLATE NOCASE IN ({marks})")
            params.extend(self.subjects)
        if self.session_ids:
            clauses.append(f"{session_id} IN ({', '.join('?' * len(self.session_ids))})")
            params.extend(self.session_ids)
        if self.since is not None:
            clauses.append(f"{started_at} >= ?")
            params.append(self.since.isoformat())
        if self.until is not None:
            clauses.append(f"{started_at} < ?")
            params.append((self.until + timedelta(days=1)).isoformat())
        if self.complete_only:
            clauses.append(f"{status} = '{SessionStatus.COMPLETE.value}'")
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
