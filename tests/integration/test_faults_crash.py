"""Crash safety (tests/faults_crash.py): kill -9 at random moments, a Docker daemon restart mid-build, two
builds on one DB. Each ends in an export byte-identical to an uninterrupted run, with no stored row lost.

``FACTORY_FAULT_KILLS`` (default 3 here; ``bench/faults.py`` does 10) and ``FACTORY_CRASH_SEED`` replay a run.
"""

from __future__ import annotations

import os

import pytest

from tests.faults import FaultRow, table
from tests.faults_crash import crash_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> list[FaultRow]:
    seed = int(os.environ["FACTORY_CRASH_SEED"]) if os.environ.get("FACTORY_CRASH_SEED") else None
    found = crash_rows(tmp_path_factory.mktemp("faults-crash"), factory_cmd,
                       kills=int(os.environ.get("FACTORY_FAULT_KILLS", "3")), seed=seed)
    print("\n" + table(found))
    return found


@pytest.mark.parametrize("index", [0, 1, 2], ids=["kill-9", "two-builds", "daemon-restart"])
def test_crash_row_holds(rows: list[FaultRow], index: int) -> None:
    row = rows[index]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
