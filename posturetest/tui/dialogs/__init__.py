"""The modal dialogs: over a trial (stop, correct, note), over home (discard), over any screen
(damaged file, help)."""

from posturetest.tui.dialogs.correct import CorrectDialog, Correction
from posturetest.tui.dialogs.damaged import DamagedDialog
from posturetest.tui.dialogs.discard import DiscardDialog
from posturetest.tui.dialogs.note import NoteDialog
from posturetest.tui.dialogs.stop import StopChoice, StopDialog

__all__ = [
    "CorrectDialog",
    "Correction",
    "DamagedDialog",
    "DiscardDialog",
    "NoteDialog",
    "StopChoice",
    "StopDialog",
]
