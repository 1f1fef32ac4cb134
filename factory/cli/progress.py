"""What ``factory build`` (and ``validate``) show while candidates are worked on: a live bar on a terminal,
numbered plain lines anywhere else.

Why apart: the flow tells a :class:`flows.common.Watch` what it plans, starts and finishes, from several
worker threads at once; turning that into one coherent display (counts that a Prefect retry of the same
instance does not inflate, the set running right now, an ETA) is its own job. On a terminal it is a
``rich`` bar (done / total, valid so far, the instances running, ETA) with each finished instance printed
above it; in a log or a pipe a bar would be noise, so each finished instance is one line with its count,
``[12/135] owner__repo-7: valid``, exactly what a later grep wants.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from factory.core.models import Instance, Status, outcome_label

#: Running instances named on the bar before the rest are counted (``+3 more``).
SHOWN_RUNNING = 3


class BuildDisplay:
    """Thread-safe hooks for :class:`flows.common.Watch`, drawing on ``console``."""

    def __init__(self, console: Console, verb: str = "building", live: bool | None = None):
        self.console = console
        self.verb = verb
        self.live = console.is_terminal if live is None else live
        self._lock = threading.Lock()
        self._total: int | None = None
        self._outcomes: dict[str, Instance] = {}
        self._running: list[str] = []
        self._bar: Progress | None = None
        self._task = None

    # ---- the Watch hooks (called from worker threads) ----------------------------------------------

    def planned(self, ids: list[str]) -> None:
        with self._lock:
            self._total = len(ids)
            if self._bar is not None:
                self._bar.update(self._task, total=self._total)
            elif ids:
                self.console.print(f"{self.verb} {len(ids)} candidate(s)")

    def started(self, instance_id: str) -> None:
        with self._lock:
            if instance_id not in self._running:
                self._running.append(instance_id)
            self._refresh()

    def done(self, inst: Instance) -> None:
        with self._lock:
            if inst.instance_id in self._running:
                self._running.remove(inst.instance_id)
            self._outcomes[inst.instance_id] = inst  # a retried instance counts once, with its last outcome
            line = f"{self.count()} {inst.instance_id}: {outcome_label(inst.status, inst.reason)}"
            if self._bar is not None:
                self._bar.console.print(f"  {line}", markup=False, highlight=False)
            else:
                self.console.print(line, markup=False, highlight=False)
            self._refresh()

    # ---- what is shown ----------------------------------------------------------------------------

    @property
    def finished(self) -> int:
        return len(self._outcomes)

    @property
    def valid(self) -> int:
        return sum(inst.status is Status.VALID for inst in self._outcomes.values())

    def count(self) -> str:
        """``[12/135]`` (``[12]`` before the flow said how many)."""
        return f"[{self.finished}/{self._total}]" if self._total is not None else f"[{self.finished}]"

    def running_text(self) -> str:
        shown = ", ".join(self._running[:SHOWN_RUNNING])
        more = len(self._running) - SHOWN_RUNNING
        return shown + (f" +{more} more" if more > 0 else "")

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=self.finished, valid=self.valid, running=self.running_text())

    @contextmanager
    def shown(self) -> Iterator[BuildDisplay]:
        """The live bar for the block (on a terminal; else nothing to set up)."""
        if not self.live:
            yield self
            return
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("[green]{task.fields[valid]} valid[/]"), TimeElapsedColumn(),
                   TextColumn("ETA"), TimeRemainingColumn(), TextColumn("[dim]{task.fields[running]}[/]"))
        with Progress(*columns, console=self.console, transient=True) as bar:
            with self._lock:
                self._bar = bar
                self._task = bar.add_task(self.verb, total=self._total, valid=0, running="")
            try:
                yield self
            finally:
                with self._lock:
                    self._bar = None
