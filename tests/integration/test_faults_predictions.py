"""Hostile predictions meet ``factory eval`` (tests/faults_predictions.py): every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_predictions import ATTACKS, hostile_prediction_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = hostile_prediction_rows(factory_cmd, tmp_path_factory.mktemp("faults-predictions"))
    print("\n" + table(found))
    return {r.scenario: r for r in found}


SCENARIOS = [a.scenario for a in ATTACKS] + ["gold predictions on the demo dataset"]
IDS = [a.name for a in ATTACKS] + ["gold"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_fault_row_holds(rows: dict[str, FaultRow], scenario: str) -> None:
    row = rows[scenario]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
