"""The :class:`Store`: the one object that reads and writes the DuckDB file, composed of one part per table family.

Why this module: callers hold a single ``Store`` (``from factory.store import Store``); here it is put
together from the connection (:mod:`factory.store.connection`), the migrations (:mod:`factory.store.migrations`)
and the table modules, and opening it applies pending migrations unless it is read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from factory.store.candidates import Candidates
from factory.store.env_memory import EnvMemory
from factory.store.environments import Environments
from factory.store.eval_results import EvalResults
from factory.store.experience import Experience
from factory.store.instances import Instances
from factory.store.llm_ledger import LlmLedger
from factory.store.migrations import Migrations
from factory.store.reads import Reads
from factory.store.runs import Runs
from factory.store.sources import Sources


class Store(
    Migrations, Candidates, Sources, Instances, Environments, Runs, LlmLedger, EnvMemory, EvalResults, Experience,
    Reads,
):
    """DuckDB-backed record store. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        path: Path | str,
        read_only: bool = False,
        lock_wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
        busy_wait: float | None = None,
    ):
        """``read_only`` (for checks like ``factory doctor``): no migration runs, nothing is written.

        ``lock_wait``: seconds a writer waits while another process writes the file (scheduled flows that
        overlap queue up instead of failing); 0 fails at once with a message naming the holder. ``on_wait``
        is told once that we are waiting, and why. ``busy_wait``: seconds an open of the file is retried
        while another process has it open (for one query, normally; a foreign program may keep it; default
        :data:`~factory.store.connection.BUSY_WAIT`). Readers
        never wait for a writer: the file is open only while one query or transaction runs
        (:mod:`factory.store.connection`).
        """
        super().__init__(path, read_only, lock_wait, on_wait, busy_wait)
        if not read_only:
            try:
                self._migrate()
            except BaseException:
                self.close()
                raise

    def table_counts(self) -> dict[str, int]:
        names = ["candidates", "instances", "environments", "attempts", "validations"]
        with self.session():
            return {n: self._rows(f"SELECT count(*) AS n FROM {n}")[0]["n"] for n in names}
