"""`import_file`: every file of an export checked and written in one pass, in one transaction."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable, Iterator
from pathlib import Path

from posturetest.importing.cells import records
from posturetest.importing.parallel import checked_elsewhere, worth_a_process
from posturetest.importing.problems import Checked, ImportRefused
from posturetest.importing.rules import (
    Batches,
    checked_corrections,
    checked_rankings,
    checked_safety_answers,
)
from posturetest.importing.source import locate
from posturetest.importing.tables import (
    CORRECTIONS,
    RANKINGS,
    SAFETY_ANSWERS,
    SESSIONS,
    Table,
    planned,
    trial_batches,
    typed_batches,
)
from posturetest.store import Store
from posturetest.store.import_report import ImportConflict, ImportReport
from posturetest.store.import_writer import ImportWriter


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a bulk import: it makes no cycles, and every pass
    would walk the hundreds of thousands of ids kept for the checks."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _rows(path: Path | None, table: Table, checked: Checked) -> tuple[str, Batches]:
    """Where a member's rows come from, and its checked batches (none if it is not there)."""
    if path is None:
        return "", ()
    return str(path), typed_batches(path, table, checked)


def import_file(
    store: Store, path: Path, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Check every row and write in the same pass, inside one transaction.

    Writing stops at the first problem while checking goes on (to list up to 20 problems); any
    problem or conflict rolls the whole transaction back, so nothing is ever half-imported.
    A large trials file is read and checked in a second process while this one writes.
    """
    source = locate(path)
    checked = Checked()
    sessions: dict[str, dict[str, object]] = {}
    described_at: dict[str, int] = {}
    if source.sessions is not None:
        for lines, columns in typed_batches(source.sessions, SESSIONS, checked):
            for line, values in zip(lines, records(columns), strict=True):
                sessions[str(values["session_id"])] = values
                described_at[str(values["session_id"])] = line
    large = worth_a_process(source.trials)
    new_file = store.empty("trials") and store.empty("sessions")
    try:
        with (
            store.rollback_journal() if new_file else contextlib.nullcontext(),
            store.write(),
            store.large_cache(),
            _collector_paused(),
        ):
            writer = ImportWriter(store, bulk=True)
            checking = (
                checked_elsewhere(source.trials, checked)
                if large
                else planned(trial_batches(source.trials, checked))
            )
            with contextlib.closing(checking):
                for batch in checking:
                    if checked.error_count:
                        continue  # checking goes on, to list more problems; writing stops
                    rows = batch.rows
                    writer.add_trial_rows(rows, batch.sessions, sessions)
                    writer.apply_plans(batch.plans)
                    if progress and rows:
                        progress(len(rows))
            for sid, line in described_at.items():
                if sid not in checked.sessions:
                    checked.add(
                        str(source.sessions), line, "session_id", "no trial of this session"
                    )
            if source.rankings is not None:
                rankings = checked_rankings(*_rows(source.rankings, RANKINGS, checked), checked)
                if not checked.error_count:
                    writer.add_rankings(rankings)
            answers = checked_safety_answers(
                *_rows(source.safety_answers, SAFETY_ANSWERS, checked), checked
            )
            corrections = checked_corrections(
                *_rows(source.corrections, CORRECTIONS, checked), checked
            )
            checked.refuse_any()
            writer.finish()  # the trials' keys are in place from here on
            writer.add_safety_answers(answers)
            for where, line, trial_id in writer.add_corrections(corrections):
                checked.add(where, line, "trial_id", f"no trial {trial_id} in the file or database")
            checked.refuse_any()
            writer.finish()
    except ImportConflict as e:
        raise ImportRefused(e.problems) from None
    return writer.report
