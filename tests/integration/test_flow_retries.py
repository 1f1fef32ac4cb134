"""Bounded infra retries with backoff, never for rejections (tests/faults_retries.py), on the session's
Prefect server."""

from __future__ import annotations

import pytest

from tests.faults import FaultRow, table
from tests.faults_retries import retry_rows


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[FaultRow]:
    found = retry_rows(tmp_path_factory.mktemp("faults-retries"))
    print("\n" + table(found))
    return found


@pytest.mark.parametrize("index", [0, 1], ids=["oom-retried", "rejection-not-retried"])
def test_retry_row_holds(rows: list[FaultRow], index: int) -> None:
    row = rows[index]
    assert row.ok, f"{row.scenario}: expected {row.expected!r}, observed {row.observed!r} ({row.detail})"
