"""The grader's guard in old environments (tests/faults_compat.py): every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_compat import PINS, old_runner_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = old_runner_rows(factory_cmd, tmp_path_factory.mktemp("faults-compat"))
    print("\n" + table(found))
    return {r.scenario: r for r in found}


SCENARIOS = [f"old runner: Python 3.9 + pytest {pin}, a fix validated" for pin in PINS] + [
    f"old runner: factory eval of {what} on pytest {', '.join(PINS)}"
    for what in ("gold patches", "a root conftest that flips failures")
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fault_row_holds(rows: dict[str, FaultRow], scenario: str) -> None:
    row = rows[scenario]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
