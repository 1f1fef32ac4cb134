"""Hostile tests meet the sandbox and the grader (tests/faults_candidates.py): every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_candidates import EXPECTED, hostile_candidate_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = hostile_candidate_rows(tmp_path_factory.mktemp("faults-candidates"), factory_cmd)
    print("\n" + table(found))
    return {r.scenario: r for r in found}


SCENARIOS = [s for s, _ in EXPECTED.values()] + [
    "sandbox: user, mounts, future history, inputs",
    "patch safety: factory eval of a model patch writing ../outside.txt",
]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fault_row_holds(rows: dict[str, FaultRow], scenario: str) -> None:
    row = rows[scenario]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
