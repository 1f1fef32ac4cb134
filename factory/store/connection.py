"""The DuckDB file itself: opening it, the cross-process lock, and how every query and write goes through it.

Why apart: DuckDB allows a single writing process, so opening the file can meet another factory process
holding it (:class:`StoreLocked`, optionally waited out), and within one process every query goes through
one connection guarded by one lock (parallel workers are serialized here). A write is a transaction
(:meth:`Connection._tx`) that commits before the method returns, so a ``kill -9`` loses at most the step in
flight. The per-table modules build on :class:`Connection`; none of them opens or locks anything itself.
"""

from __future__ import annotations

import json
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
    """Another process holds the DuckDB file (DuckDB allows one writing process)."""


class Connection:
    """One open DuckDB file, its lock, and the query / transaction helpers every table module uses."""

    def __init__(
        self,
        path: Path | str,
        read_only: bool = False,
        lock_wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._con = self._connect_waiting(lock_wait, on_wait)

    def _connect_waiting(self, lock_wait: float, on_wait: Callable[[str], None] | None) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + lock_wait
        delay, told = 0.2, False
        while True:
            try:
                return self._connect()
            except StoreLocked as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                if on_wait and not told:
                    on_wait(f"{exc.what}; waiting up to {lock_wait:.0f}s for it")
                    told = True
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 5.0)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path.parent and not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(
                    f"cannot create the directory for the database {self.path}: {exc.strerror}",
                    "pass --db (or FACTORY_DB) pointing to a writable location",
                ) from exc
        try:
            return duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                pid = _LOCK_PID.search(text)
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise StoreLocked(
                    f"the database {self.path} is in use by another factory process{holder}",
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

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Iterable[object] = ()) -> list[dict]:
        with self._lock:
            cur = self._con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
