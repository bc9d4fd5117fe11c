"""The two-process import of a large trials file: a child Python reads, checks and plans it
while this process writes, and sends each batch back as a length-prefixed `marshal` frame."""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from typing import BinaryIO

from posturetest.importing.problems import Checked, UnusableFile
from posturetest.importing.tables import TrialBatch, planned, trial_batches

PARALLEL_FROM_BYTES = 4 << 20
"""A trials file this large is read and checked in a second process while this one writes."""


def worth_a_process(path: Path) -> bool:
    """Whether `path` is a trials file large enough to check in a second process."""
    return (
        bool(sys.executable)  # an embedding program may have no Python to start
        and path.is_file()
        and path.stat().st_size >= PARALLEL_FROM_BYTES
    )


def check_in_worker() -> None:
    """The checking process: `python -c` runs this with the trials file as its argument.

    Every planned batch of `trial_batches` goes to standard output as a frame (its length, then the
    batch as `marshal` data: plain lists and strings, several times cheaper than pickle), then
    the ids of the sessions seen; a file that cannot be read goes as its problem line.
    """
    gc.disable()  # nothing here makes reference cycles; collecting would only slow it down
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # ctrl+c is the importing process's to handle
    out = sys.stdout.buffer
    checked = Checked()
    reported = 0

    def send(*message: object) -> None:
        frame = marshal.dumps(message)  # type: ignore[arg-type]
        out.write(len(frame).to_bytes(8, "little"))
        out.write(frame)

    try:
        for batch in planned(trial_batches(Path(sys.argv[1]), checked)):
            send(
                "batch",
                checked.errors[reported:],
                checked.error_count,
                batch.columns,
                batch.sessions,
                batch.plans,
            )
            reported = len(checked.errors)
        send("end", checked.errors[reported:], checked.error_count, list(checked.sessions))
    except UnusableFile as e:
        send("unusable", e.problems[0])
    except Exception as e:  # noqa: BLE001 - reported by the importing process, in one line
        send("failed", f"{type(e).__name__}: {e}")
    out.flush()


FRAMES_AHEAD = 32
"""Batches the checking process may run ahead of the writing; a pipe alone holds 64 KiB."""


MAX_FRAME_BYTES = 1 << 30
"""No batch comes near this (5,000 rows); a longer frame means the stream is garbled."""
GARBLED = b"garbled"


def _receive(stream: BinaryIO, frames: queue.Queue[bytes | None]) -> None:
    """Reads the checking process's frames as they come (the pipe never fills up), then None.

    A frame whose length is out of bounds, or that ends early, is passed on as GARBLED."""
    try:
        while len(head := stream.read(8)) == 8:
            length = int.from_bytes(head, "little")
            if length > MAX_FRAME_BYTES:
                frames.put(GARBLED)
                return
            frame = stream.read(length)
            if len(frame) != length:
                frames.put(GARBLED)
                return
            frames.put(frame)
    except (OSError, ValueError, MemoryError):
        frames.put(GARBLED)
    finally:
        frames.put(None)


def checked_elsewhere(path: Path, checked: Checked) -> Generator[TrialBatch, None, None]:
    """The planned `trial_batches` from a second process: reading, checking and planning
    overlap with writing.

    A plain child Python (not multiprocessing), so nothing of the caller's own script is run
    again there; only its batches come back, over a private pipe.
    """
    package_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (package_root, env.get("PYTHONPATH"))))
    worker = subprocess.Popen(
        # -P: a folder named posturetest in the current directory is not imported instead
        [sys.executable, "-P", "-c", _WORKER_CODE, str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert worker.stdout is not None
    frames: queue.Queue[bytes | None] = queue.Queue(FRAMES_AHEAD)
    receiver = threading.Thread(target=_receive, args=(worker.stdout, frames), daemon=True)
    receiver.start()
    counted = 0
    try:
        while True:
            frame = frames.get()
            if frame == GARBLED:
                raise UnusableFile(f"{path}: the process checking this file sent garbled data")
            try:
                kind, *message = marshal.loads(frame) if frame is not None else (None,)
            except (EOFError, ValueError, TypeError):
                kind = None
            if kind in ("batch", "end"):
                problems, problem_count, *content = message
                checked.absorb(problems, problem_count - counted)
                counted = problem_count
            if kind == "batch":
                yield TrialBatch(*content)
            elif kind == "end":
                checked.sessions.update(dict.fromkeys(content[0], ()))
                return
            elif kind == "unusable":
                raise UnusableFile(message[0])
            elif kind == "failed":
                raise UnusableFile(f"{path}: {message[0]}")
            else:
                raise UnusableFile(f"{path}: the process checking this file stopped unexpectedly")
    finally:
        if worker.poll() is None:
            worker.kill()
        while receiver.is_alive():  # let it see the end of the pipe, even if the queue is full
            with contextlib.suppress(queue.Empty):
                frames.get(timeout=0.1)
        worker.stdout.close()
        worker.wait()


_WORKER_CODE = "from posturetest.importing.parallel import check_in_worker; check_in_worker()"
