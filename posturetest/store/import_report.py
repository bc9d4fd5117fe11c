"""What an import or a merge tells its caller: what it added and found present, or why it
wrote nothing."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ImportReport:
    subjects_added: int = 0
    sessions_added: int = 0
    sessions_present: int = 0
    trials_added: int = 0
    trials_present: int = 0
    rankings_added: int = 0
    rankings_present: int = 0
    safety_answers_added: int = 0
    safety_answers_present: int = 0
    corrections_added: int = 0
    corrections_present: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.subjects_added
            or self.sessions_added
            or self.trials_added
            or self.rankings_added
            or self.safety_answers_added
            or self.corrections_added
        )

    @property
    def audit(self) -> str:
        """A sentence on the safety answers and corrections, if the import had any."""
        if not (
            self.safety_answers_added
            or self.safety_answers_present
            or self.corrections_added
            or self.corrections_present
        ):
            return ""
        return (
            f"Safety answers: {self.safety_answers_added:,} added, "
            f"{self.safety_answers_present:,} already present; corrections: "
            f"{self.corrections_added:,} added, {self.corrections_present:,} already present."
        )


class ImportConflict(Exception):
    """Rows whose UUID is already in the database with other values. Nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0])
        self.problems = problems
