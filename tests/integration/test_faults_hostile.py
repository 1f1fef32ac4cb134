"""Hostile or odd repositories meet mine / build / export (tests/faults_hostile.py): every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_hostile import SCENARIOS, hostile_repo_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = hostile_repo_rows(tmp_path_factory.mktemp("faults-hostile"), factory_cmd)
    print("\n" + table(found))
    return {r.scenario: r for r in found}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fault_row_holds(rows: dict[str, FaultRow], scenario: str) -> None:
    row = rows[scenario]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
