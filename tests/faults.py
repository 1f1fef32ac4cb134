"""The fault suite's shared vocabulary: one observed row per scenario, and how "rows lost" is counted.

Every scenario of issue 7 (sandbox, honest grading, crash safety, secrets, hostile input) is a plain
function that sets up its fault on real parts (Docker engine, DuckDB file, git repositories, the
``factory`` CLI) and returns :class:`FaultRow` s. ``tests/integration/test_faults*.py`` assert each row
(``observed == expected`` and ``rows_lost == 0``); ``bench/faults.py`` runs the same functions and prints
the table. One implementation, two readers: the printed table is exactly what the tests check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from factory.store import Store

TERMINAL = {"valid", "rejected", "error", "build_failed"}


@dataclass
class FaultRow:
    scenario: str
    expected: str
    observed: str
    rows_lost: int = 0
    detail: str = ""
    """What was measured on the way (seconds, counts), printed by the bench, not compared."""

    @property
    def ok(self) -> bool:
        return self.observed == self.expected and self.rows_lost == 0


@dataclass
class Snapshot:
    """The rows a fault must not take away: every candidate, environment and *finished* instance."""

    candidates: set[str] = field(default_factory=set)
    environments: set[str] = field(default_factory=set)
    finished: dict[str, str] = field(default_factory=dict)
    """instance id -> ``status(reason)`` of instances that had reached a terminal status."""


def _label(inst) -> str:
    return f"{inst.status.value}({inst.reason})" if inst.reason else inst.status.value


def snapshot(db: Path) -> Snapshot:
    if not Path(db).exists():
        return Snapshot()
    with Store(db, read_only=True, lock_wait=60) as store:
        instances = store.instances()
        return Snapshot(
            candidates={c.instance_id for c in store.candidates()},
            environments={i.fingerprint for i in instances if i.fingerprint and store.environment(i.fingerprint)},
            finished={i.instance_id: _label(i) for i in instances if i.status.value in TERMINAL},
        )


def rows_lost(before: Snapshot, after: Snapshot) -> int:
    """Rows stored before the fault that are gone (or whose finished verdict changed) after it."""
    lost = len(before.candidates - after.candidates) + len(before.environments - after.environments)
    lost += sum(1 for iid, verdict in before.finished.items() if after.finished.get(iid) != verdict)
    return lost


def statuses(db: Path) -> dict[str, str]:
    """instance id -> ``status`` or ``status(reason)``, as ``factory status`` shows it."""
    with Store(db, read_only=True, lock_wait=60) as store:
        return {i.instance_id: _label(i) for i in store.instances()}


def jsonl_ids(path: Path) -> list[str]:
    return [json.loads(line)["instance_id"] for line in Path(path).read_text().splitlines() if line.strip()]


def table(rows: list[FaultRow]) -> str:
    """The fault table as Markdown (scenario, expected, observed, rows lost, pass)."""
    lines = ["| scenario | expected | observed | rows lost | ok | measured |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.scenario} | {r.expected} | {r.observed} | {r.rows_lost} | "
                     f"{'yes' if r.ok else 'NO'} | {r.detail} |")
    return "\n".join(lines)
