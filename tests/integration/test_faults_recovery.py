"""Recovery (tests/faults_recovery.py): a candidate that breaks our code ends error(internal) while the run goes
on, and ``factory build --retry-rejected`` re-opens verdicts an older factory reached: every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_recovery import recovery_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> list[FaultRow]:
    found = recovery_rows(factory_cmd, tmp_path_factory.mktemp("faults-recovery"))
    print("\n" + table(found))
    return found


@pytest.mark.parametrize("index", [0, 1, 2], ids=["internal-error", "retry-rejected", "bad-reason"])
def test_recovery_row_holds(rows: list[FaultRow], index: int) -> None:
    row = rows[index]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
