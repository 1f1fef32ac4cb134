"""The DuckDB file itself: who may write it, and how every query and write reaches it.

Why this shape: DuckDB lets one process at a time hold a file open for writing, and a process that holds it
open locks out every reader too. So no ``Store`` keeps the file open: each query and each write
transaction opens it, runs, commits and closes (:meth:`Connection._use`; :meth:`Connection.session` keeps
it open over a block of reads that must agree). Between two writes of a running ``factory build`` the file
is free, so ``factory status`` reads it while the build runs. Opening it meets, at worst, another process in
the middle of one short query or transaction: the open is retried with backoff (``busy_wait``), never the
transaction, so a write is never half-done twice.

Who writes is decided apart from DuckDB: a writing ``Store`` holds an advisory lock on ``<db>.lock``
(``flock``, released by the kernel when the process dies, so ``kill -9`` leaves no stale lock) for as
long as it is open, and the file names its PID. Two writing processes therefore never interleave —
one build never picks up the candidate another is building — while readers (``read_only=True``) take no
lock at all. Within one process every ``Store`` on the same file shares that lock and one guard
(:class:`_File`), so parallel workers (threads) are serialized here. A write is a transaction committed
before the method returns, so a ``kill -9`` loses at most the step in flight.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Self

import duckdb

from factory.core.errors import UserError

#: Seconds an open waits while another process has the DuckDB file open for one query or transaction
#: (readers, writers). Factory processes hold it for milliseconds (an export: seconds); only a foreign
#: program (a duckdb shell, a notebook) holds it longer, and then the message names it. A writer waits
#: longer: giving up stops its run, while a reader (``factory status``) had better answer soon.
BUSY_WAIT = {True: 10.0, False: 60.0}


def now() -> datetime:
    return datetime.now(UTC)


def decode_json(row: dict, keys: Iterable[str]) -> dict:
    """A copy of ``row`` with its JSON text columns ``keys`` decoded."""
    row = dict(row)
    for key in keys:
        row[key] = json.loads(row[key])
    return row


_LOCK_PID = re.compile(r"PID (\d+)")


class StoreLocked(UserError):
    """Another process holds the DuckDB file: a writing factory process, or another program."""


class _File:
    """This process's use of one DuckDB file, shared by every ``Store`` on it: the guard that serializes
    queries, the connection open during one (possibly nested) use, and the writer lock."""

    def __init__(self, path: Path):
        self.path = path
        self.guard = threading.RLock()
        self.con: duckdb.DuckDBPyConnection | None = None
        self.con_read_only = False
        self.depth = 0
        self.writers = 0
        self.lock_fd: int | None = None

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def holder(self) -> str:
        """`` (PID n)`` of the process named in the lock file, or nothing."""
        try:
            pid = self.lock_path.read_text().strip()
        except OSError:
            return ""
        return f" (PID {pid})" if pid.isdigit() else ""

    def try_lock(self) -> bool:
        """Take the writer lock for this process (shared by its writing Stores); False when another holds it."""
        with self.guard:
            if self.writers:
                self.writers += 1
                return True
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self.lock_fd, self.writers = fd, 1
            return True

    def unlock(self) -> None:
        with self.guard:
            self.writers -= 1
            if self.writers == 0 and self.lock_fd is not None:
                os.ftruncate(self.lock_fd, 0)
                fcntl.flock(self.lock_fd, fcntl.LOCK_UN)
                os.close(self.lock_fd)
                self.lock_fd = None


_files: dict[Path, _File] = {}
_files_guard = threading.Lock()


def _shared(path: Path) -> _File:
    key = Path(os.path.realpath(path))
    with _files_guard:
        return _files.setdefault(key, _File(key))


class Connection:
    """One DuckDB file, its writer lock, and the query / transaction helpers every table module uses."""

    def __init__(
        self,
        path: Path | str,
        read_only: bool = False,
        lock_wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        busy_wait: float | None = None,
    ):
        self.path = Path(path)
        self.read_only = read_only
        self.busy_wait = max(BUSY_WAIT[read_only] if busy_wait is None else busy_wait, lock_wait)
        self._closed = False
        self._make_parent()
        self._file = _shared(self.path)
        if not read_only:
            self._lock_waiting(lock_wait, on_wait)  # a writer's first use (the migrations) follows at once
        else:
            self._require_file()  # a missing file fails here; one that is not a database at the first query

    def _make_parent(self) -> None:
        if self.read_only or self.path.parent.exists():
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                f"cannot create the directory for the database {self.path}: {exc.strerror}",
                "pass --db (or FACTORY_DB) pointing to a writable location",
            ) from exc

    def _lock_waiting(self, lock_wait: float, on_wait: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + lock_wait
        delay, told = 0.2, False
        while True:
            try:
                if self._file.try_lock():
                    return
            except OSError as exc:
                raise UserError(f"cannot create the lock file {self._file.lock_path}: {exc.strerror}",
                                "pass --db (or FACTORY_DB) pointing to a writable location") from exc
            what = f"the database {self.path} is in use by another factory process{self._file.holder()}"
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StoreLocked(what, "wait for that process to finish, or use another --db "
                                        "(`factory status` and `factory eval-status` work meanwhile)")
            if on_wait and not told:
                on_wait(f"{what}; waiting up to {lock_wait:.0f}s for it")
                told = True
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 5.0)

    def close(self) -> None:
        """Release the writer lock (nothing stays open between queries, so nothing else is to close)."""
        with self._file.guard:
            if self._closed:
                return
            self._closed = True
            if not self.read_only:
                self._file.unlock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep the file open over a block: its queries see one state and pay for one open. Other
        processes wait meanwhile, so keep the block short (reads, no Docker work)."""
        with self._use():
            yield

    @contextmanager
    def _use(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The open connection for one query or transaction (nested uses share it); closed after the
        outermost one, which is what frees the file for other processes."""
        f = self._file
        with f.guard:
            if self._closed:
                raise RuntimeError(f"the store {self.path} is closed")
            if f.con is None:
                f.con, f.con_read_only = self._connect_busy(), self.read_only
            elif f.con_read_only and not self.read_only:
                raise RuntimeError(f"a write to {self.path} inside a read-only session of the same process")
            f.depth += 1
            try:
                yield f.con
            finally:
                f.depth -= 1
                if f.depth == 0:
                    con, f.con = f.con, None
                    con.close()

    def _connect_busy(self) -> duckdb.DuckDBPyConnection:
        """Open the file, retrying while another process has it open (for one query, normally)."""
        deadline = time.monotonic() + self.busy_wait
        delay = 0.01
        while True:
            try:
                return self._connect()
            except StoreLocked as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreLocked(
                        f"{exc.what} for more than {self.busy_wait:g}s",
                        "close the program that keeps it open (a duckdb shell, a notebook), or work on a copy "
                        "with --db",
                    ) from exc
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 0.25)

    def _require_file(self) -> None:
        if not self.path.exists():
            raise UserError(f"there is no database at {self.path} yet",
                            "mine candidates first (`factory mine --git PATH`), or pass --db (or FACTORY_DB)")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.read_only:
            self._require_file()
        try:
            return duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                pid = _LOCK_PID.search(text)
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise StoreLocked(
                    f"the database {self.path} is held open by another process{holder}",
                    "wait for that process to finish, or use another --db",
                ) from exc
            if "not a valid duckdb database" in text.lower():
                raise UserError(
                    f"{self.path} is not a usable DuckDB database: {text.splitlines()[0]}",
                    "pass --db with a new file name, or move the damaged file away",
                ) from exc
            raise UserError(
                f"cannot open the database {self.path}: {text.splitlines()[0]}",
                "pass --db (or FACTORY_DB) pointing to a writable file",
            ) from exc
        except duckdb.Error as exc:
            raise UserError(
                f"{self.path} is not a usable DuckDB database: {str(exc).splitlines()[0]}",
                "pass --db with a new file name, or move the damaged file away",
            ) from exc

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._use() as con:
            con.execute("BEGIN")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Iterable[object] = ()) -> list[dict]:
        with self._use() as con:
            cur = con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
