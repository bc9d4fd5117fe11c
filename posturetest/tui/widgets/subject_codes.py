"""Suggests subject codes already in the study while a code is typed (one subject, one code)."""

from __future__ import annotations

from textual.suggester import Suggester

from posturetest.store import Store


class SubjectCodeSuggester(Suggester):
    """Offers existing subject codes while the tester types."""

    def __init__(self, store: Store) -> None:
        super().__init__(use_cache=False, case_sensitive=False)
        self.store = store

    async def get_suggestion(self, value: str) -> str | None:
        codes = self.store.subject_codes(value, limit=1) if value else []
        return codes[0] if codes else None
