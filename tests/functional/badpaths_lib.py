"""Helpers for the tests that hand the real command bad databases, bad outputs and bad disks.

Every command runs as a real process (the console script), with stdin closed and a timeout,
so a hang, a traceback or a stray file is seen exactly as a user would see it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

POSTURETEST = Path(sys.executable).parent / "posturetest"
TIMEOUT = 20.0
"""Seconds a command may take before it counts as hung (and fails its test)."""
WORKERS = 2 * (os.cpu_count() or 1)
"""Processes run at once: enough to overlap start-up, few enough that none nears the timeout."""
MANY_WORKERS = 12
"""For commands that should all be refused at once (or wait, on a FIFO, using no CPU)."""
MEMBERS = ("datapackage.json", "trials.csv", "sessions.csv", "rankings.csv")
"""The files a data package folder holds (export --format datapackage and sample write them)."""
SIDE_FILES = ("-wal", "-shm", "-journal")

T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    args: tuple[str, ...]
    returncode: int | None
    """None when the command did not finish within the timeout (it was killed)."""
    stdout: str
    stderr: str

    def describe(self) -> str:
        code = "killed after the timeout" if self.returncode is None else f"exit {self.returncode}"
        return (
            f"posturetest {' '.join(self.args)}: {code}\n"
            f"--- stderr ---\n{self.stderr[-3000:]}\n--- stdout ---\n{self.stdout[-1500:]}"
        )


def base_env(folder: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without POSTURETEST_*, with a private default data folder and
    temporary folder (crash logs) under `folder`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTURETEST_")}
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    env["XDG_DATA_HOME"] = str(folder / "data-home")
    env["TMPDIR"] = str(folder / "tmp")
    env.update(extra)
    return env


def run(
    args: Sequence[str | os.PathLike[str] | int],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    prefix: Sequence[str] = (),
    timeout: float = TIMEOUT,
) -> Outcome:
    """The real `posturetest ARGS`: stdin closed, output captured, killed after `timeout`."""
    argv = tuple(str(a) for a in args)
    try:
        done = subprocess.run(
            [*prefix, str(POSTURETEST), *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=env,
            cwd=cwd,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as e:
        return Outcome(argv, None, _text(e.stdout), _text(e.stderr))
    return Outcome(argv, done.returncode, done.stdout, done.stderr)


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def run_ok(args: Sequence[str | os.PathLike[str] | int], env: dict[str, str]) -> Outcome:
    outcome = run(args, env, timeout=120)
    assert outcome.returncode == 0, outcome.describe()
    return outcome


def in_parallel(jobs: Iterable[Callable[[], T]], workers: int = WORKERS) -> list[T]:
    """Run the jobs on a few threads (each mostly waits on its process); results in order."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(job) for job in jobs]
        return [f.result() for f in futures]


# -- what a user sees --------------------------------------------------------------------------


def nonblank_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def assert_no_traceback(outcome: Outcome) -> None:
    assert "Traceback" not in outcome.stderr, outcome.describe()
    assert "Traceback" not in outcome.stdout, outcome.describe()


def assert_one_line_error(
    outcome: Outcome,
    *,
    code: int = 2,
    words: Sequence[str] = (),
    any_of: Sequence[str] = (),
    not_words: Sequence[str] = (),
) -> str:
    """Exit `code`, exactly one non-empty stderr line `posturetest: ...`, no traceback.

    `words` must all be in the line, one of `any_of` must be, none of `not_words` may be
    (all compared in lower case). Returns the line.
    """
    assert outcome.returncode is not None, "hung: " + outcome.describe()
    assert_no_traceback(outcome)
    assert outcome.returncode == code, outcome.describe()
    lines = nonblank_lines(outcome.stderr)
    assert len(lines) == 1, f"expected one line on stderr; {outcome.describe()}"
    line = lines[0]
    assert line.startswith("posturetest: "), outcome.describe()
    low = line.lower()
    for word in words:
        assert word.lower() in low, f"{word!r} not in {line!r}"
    if any_of:
        assert any(w.lower() in low for w in any_of), f"none of {list(any_of)} in {line!r}"
    for word in not_words:
        assert word.lower() not in low, f"{word!r} should not be in {line!r}"
    return line


def assert_done(outcome: Outcome) -> None:
    assert outcome.returncode == 0, outcome.describe()
    assert_no_traceback(outcome)


# -- databases ---------------------------------------------------------------------------------


def side_files(db: Path) -> list[Path]:
    return [p for p in (Path(f"{db}{s}") for s in SIDE_FILES) if os.path.lexists(p)]


def build_db(folder: Path, name: str, subjects: int, seed: int, env: dict[str, str]) -> Path:
    """A database with a synthetic study: `sample`, then `import` of its data package.

    Leaves `folder/NAME.db` (closed cleanly: no -wal or -shm) and `folder/NAME-package/`.
    """
    package = folder / f"{name}-package"
    run_ok(["sample", "--out", package, "--subjects", subjects, "--seed", seed], env)
    db = folder / f"{name}.db"
    run_ok(["--db", db, "import", package / "datapackage.json"], env)
    assert not side_files(db), f"{db} was not closed cleanly: {side_files(db)}"
    return db


def copy_db(template: Path, dest: Path) -> Path:
    """A copy of a cleanly closed database (WAL mode: its -wal and -shm must not exist)."""
    assert not side_files(template), f"{template} has {side_files(template)}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, dest)
    return dest


def _readonly_uri(path: Path) -> str:
    # immutable: reads the file as it is, without locks and without creating -wal or -shm
    return f"{Path(path).resolve().as_uri()}?immutable=1"


def integrity(path: Path) -> str:
    """PRAGMA integrity_check of the file, without writing anything next to it."""
    try:
        with closing(sqlite3.connect(_readonly_uri(path), uri=True)) as conn:
            rows = conn.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as e:
        return f"error: {e}"
    return "; ".join(str(r[0]) for r in rows)


def query(path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(_readonly_uri(path), uri=True)) as conn:
        return conn.execute(sql).fetchall()


def counts(path: Path) -> dict[str, int]:
    return {
        table: int(str(query(path, f"SELECT count(*) FROM {table}")[0][0]))
        for table in ("sessions", "trials", "rankings")
    }


def session_ids(path: Path) -> set[str]:
    return {str(r[0]) for r in query(path, "SELECT session_id FROM sessions")}


def first_session_id(path: Path) -> str:
    return str(query(path, "SELECT session_id FROM sessions ORDER BY session_id LIMIT 1")[0][0])


def foreign_sqlite(path: Path) -> Path:
    """A SQLite database of some other program (rollback journal: nothing left beside it)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('not posturetest data')")
        conn.commit()
    assert not side_files(path)
    return path


def damaged_copy(template: Path, dest: Path) -> int:
    """Copy the template and overwrite one page past the first (a page of `trials` where
    SQLite can say which) with garbage, so that integrity_check fails. Returns the page."""
    copy_db(template, dest)
    header = template.read_bytes()[:100]
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    page_count = int.from_bytes(header[28:32], "big")
    assert page_count >= 10, f"{template} has only {page_count} pages"
    try:
        rows = query(template, "SELECT pageno FROM dbstat WHERE name = 'trials' ORDER BY pageno")
        candidates = [page for (page,) in rows if isinstance(page, int) and page >= 3]
    except sqlite3.DatabaseError:  # no dbstat in this SQLite
        candidates = []
    middle = page_count // 2
    candidates += [*range(middle, page_count + 1), *range(3, middle)]
    original = dest.read_bytes()
    garbage = bytes((i * 37 + 11) % 256 for i in range(page_size))
    for page in candidates:
        start = (page - 1) * page_size
        dest.write_bytes(original[:start] + garbage + original[start + page_size :])
        if integrity(dest) != "ok":
            return page
    raise AssertionError(f"no page of {template} made integrity_check fail")


# -- files as they were ------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(
    root: Path, *, mtimes: bool = True, skip_mtime: Iterable[str] = ()
) -> dict[str, object]:
    """Every entry under `root`, as (kind, size, sha256, mtime) for files, the target for
    symbolic links, and the kind for anything else (FIFOs are never opened)."""
    skip = set(skip_mtime)
    found: dict[str, object] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                mtime = st.st_mtime_ns if mtimes and rel not in skip else None
                found[rel] = ("file", st.st_size, _sha256(path), mtime)
            else:
                found[rel] = (stat.S_IFMT(st.st_mode),)
    return found


def assert_unchanged(before: dict[str, object], after: dict[str, object], where: str) -> None:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    assert not (added or removed or changed), (
        f"{where} changed: new {added}, gone {removed}, modified {changed}"
    )


# -- users whom permission bits bind -----------------------------------------------------------


@functools.cache
def restricted_prefix() -> tuple[str, ...] | None:
    """How to run a command so that file permission bits bind, or None if that is impossible.

    Not root: as we are. Root: with the capabilities that bypass them (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH) dropped by `setpriv`. Running as `nobody` instead would not work on
    every machine: the interpreter may live in a folder only root can enter (/root/.pyenv).
    """
    if os.geteuid() != 0:
        return ()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = (setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--")
    probe = Path(tempfile.mkdtemp(prefix="posturetest-probe-"))
    try:
        (probe / "secret").write_text("x")
        probe.chmod(0)
        done = subprocess.run(
            [*prefix, sys.executable, "-c", f"open({str(probe / 'secret')!r})"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        return prefix if "PermissionError" in done.stderr else None
    except OSError:
        return None
    finally:
        probe.chmod(0o700)
        shutil.rmtree(probe, ignore_errors=True)


# -- mounts (root only) ------------------------------------------------------------------------


def mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        timeout=30,
    )
    return done.returncode == 0


def remount_readonly(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True, timeout=30)


def umount(where: Path) -> None:
    done = subprocess.run(["umount", str(where)], capture_output=True, timeout=30)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, timeout=30)


def selected_params(
    request: object, test_name: str, names: Sequence[str]
) -> list[tuple[object, ...]]:
    """The parameters of the items of `test_name` (in the requesting module) that will run.

    A module fixture prepares and runs all of them at once, in parallel, and each test then
    only checks its own outcome; running one test with -k runs only its command.
    """
    module = request.module  # type: ignore[attr-defined]
    chosen = []
    for item in request.session.items:  # type: ignore[attr-defined]
        callspec = getattr(item, "callspec", None)
        if callspec is None or getattr(item, "module", None) is not module:
            continue
        if getattr(item, "originalname", None) != test_name:
            continue
        params = tuple(callspec.params[n] for n in names)
        if params not in chosen:
            chosen.append(params)
    return chosen


def devnull_is_a_device() -> bool:
    return stat.S_ISCHR(os.stat(os.devnull).st_mode)


def restore_devnull() -> bool:
    """Put /dev/null back if a command replaced it with a file (possible as root only).
    Returns whether it had been replaced."""
    if devnull_is_a_device():
        return False
    os.unlink(os.devnull)
    os.mknod(os.devnull, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(os.devnull, 0o666)
    return True
