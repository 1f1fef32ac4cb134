"""Secrets never reach the DB, logs, exports or images (tests/faults_secrets.py): every row must hold."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_secrets import secret_canary_rows

SCENARIOS = [
    "secrets: canaries were in use",
    "secrets: the run the scans cover",
    "secrets: canaries in DB file",
    "secrets: canaries in logs (factory home, Prefect server)",
    "secrets: build and test environments printed into the searched logs",
    "secrets: canaries in CLI output",
    "secrets: canaries in exported JSONL",
    "secrets: canaries in image history/config",
    "secrets: canaries in image file systems",
]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory, factory_cmd: list[str]) -> dict[str, FaultRow]:
    found = secret_canary_rows(tmp_path_factory.mktemp("faults-secrets"), factory_cmd)
    print("\n" + table(found))
    return {r.scenario: r for r in found}


def test_every_scenario_has_a_row(rows: dict[str, FaultRow]) -> None:
    assert sorted(rows) == sorted(SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_fault_row_holds(rows: dict[str, FaultRow], scenario: str) -> None:
    row = rows[scenario]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r}, " \
                   f"rows lost {row.rows_lost} ({row.detail})"
