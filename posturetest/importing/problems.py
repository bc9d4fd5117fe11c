"""What an import finds wrong: the exceptions that refuse a file, and the tally a check keeps
(the first problems in words, how many in all, and what the rules across rows remember)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ERRORS = 20


class ImportRefused(Exception):
    """Rows that cannot be imported. `problems` are lines fit to print, the first 20 at most."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "refused")
        self.problems = problems


class UnusableFile(ImportRefused):
    """The file as a whole cannot be read as an export (empty, binary, wrong columns...)."""

    def __init__(self, problem: str) -> None:
        super().__init__([problem])


@dataclass
class Checked:
    errors: list[str] = field(default_factory=list)
    error_count: int = 0
    sessions: dict[str, tuple[object, ...]] = field(default_factory=dict)
    session_lines: dict[str, int] = field(default_factory=dict)
    trial_ids: set[str] = field(default_factory=set)
    seqs: set[tuple[str, int]] = field(default_factory=set)

    def add(self, where: str, line: int, column: str, problem: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            label = f"{column}: " if column else ""
            self.errors.append(f"{where}:{line}: {label}{problem}")

    def absorb(self, problems: list[str], count: int) -> None:
        """Problems found elsewhere (by a checking process): `count` of them, these listed."""
        self.error_count += count
        self.errors.extend(problems[: MAX_ERRORS - len(self.errors)])

    def refuse_any(self) -> None:
        """Raise ImportRefused with the problems listed so far, if there are any."""
        if self.error_count:
            more = self.error_count - len(self.errors)
            raise ImportRefused(self.errors + ([f"... and {more} more problems"] if more else []))
