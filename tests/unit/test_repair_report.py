"""The repair report's statistics (factory.pipeline.repair_report): Wilson intervals and the exact McNemar
test, checked against values computed by hand."""

from __future__ import annotations

import pytest

from factory.pipeline.repair_report import mcnemar, wilson


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)
    assert wilson(0, 5)[0] == 0.0 and 0.4 < wilson(0, 5)[1] < 0.45
    assert wilson(5, 5)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)


def test_exact_mcnemar() -> None:
    # 6 instances only the first configuration resolved, 1 only the second: p = 2 * P(X <= 1 | n=7) = 0.125
    a = [True] * 6 + [False] + [True] * 3
    b = [False] * 6 + [True] + [True] * 3
    assert mcnemar(a, b) == pytest.approx(0.125)
    assert mcnemar(a, a) == 1.0
    assert mcnemar([True] * 10, [False] * 10) == pytest.approx(2 / 1024)
    with pytest.raises(ValueError):
        mcnemar([True], [True, False])
