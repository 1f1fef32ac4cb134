"""The repair report: per configuration the resolve rate with a 95 % interval, the apply and empty-patch rates,
what an instance cost (calls, tokens, seconds from the LLM ledger), and a paired test against the
no-memory baseline — so a memory that "helps" on three lucky instances is seen to prove nothing.

The interval is Wilson's score interval (sound at small n, never outside [0, 1]); the paired test is the
exact McNemar test on the instances where two configurations disagree (two-sided binomial, p = 1 when they
never disagree).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from factory.store import Store


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar(a: list[bool], b: list[bool]) -> float:
    """Exact two-sided McNemar p-value for paired outcomes ``a`` and ``b`` (same instances, same order)."""
    if len(a) != len(b):
        raise ValueError("paired outcomes need the same instances")
    only_a = sum(x and not y for x, y in zip(a, b, strict=True))
    only_b = sum(y and not x for x, y in zip(a, b, strict=True))
    n = only_a + only_b
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(only_a, only_b) + 1)) / 2**n
    return min(1.0, 2 * tail)


@dataclass
class ConfigRow:
    name: str
    n: int
    resolved: int
    applied: int
    empty: int
    calls: float
    tokens_in: float
    tokens_out: float
    seconds: float
    p_vs_none: float | None

    @property
    def rate(self) -> float:
        return self.resolved / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.resolved, self.n)


def rows(results: dict[str, list], store: Store | None = None) -> list[ConfigRow]:
    """One row per configuration of ``results`` (``{name: [Graded]}``); costs from ``store``'s ledger."""
    base = [g.status == "resolved" for g in results.get("none", [])]
    table = []
    for name, graded in results.items():
        resolved = [g.status == "resolved" for g in graded]
        applied = sum(g.status in ("resolved", "unresolved") for g in graded)
        empty = sum(not g.attempt.submitted.strip() for g in graded)
        spent = _costs(store, [g.attempt.ledger_key for g in graded if g.attempt.ledger_key]) if store else (
            0, 0, 0, 0.0)
        n = len(graded) or 1
        table.append(ConfigRow(
            name, len(graded), sum(resolved), applied, empty, spent[0] / n, spent[1] / n, spent[2] / n, spent[3] / n,
            mcnemar(resolved, base) if base and name != "none" and len(base) == len(resolved) else None))
    return table


def _costs(store: Store, ledger_keys: list[str]) -> tuple[int, int, int, float]:
    """Calls, tokens and model seconds under these ledger keys (``<instance>@<run>:<configuration>``: one
    run's calls, so a second evaluation on the same store does not add to the first)."""
    calls = tokens_in = tokens_out = 0
    seconds = 0.0
    for key in set(ledger_keys):
        for row in store.llm_calls(key):
            calls += 1
            tokens_in += row.get("tokens_in", 0) or 0
            tokens_out += row.get("tokens_out", 0) or 0
            seconds += row.get("seconds", 0.0) or 0.0
    return calls, tokens_in, tokens_out, seconds


def render(table: list[ConfigRow]) -> str:
    """The ablation table as fixed-width text (what the CLI and the benchmark print)."""
    head = (f"{'config':<10}{'resolved':>10}{'rate':>7}{'95% CI':>16}{'applied':>9}{'empty':>7}"
            f"{'calls':>7}{'tok in':>9}{'tok out':>9}{'s/inst':>8}{'p vs none':>11}")
    lines = [head]
    for r in table:
        lo, hi = r.interval
        p = "-" if r.p_vs_none is None else f"{r.p_vs_none:.3f}"
        lines.append(f"{r.name:<10}{f'{r.resolved}/{r.n}':>10}{r.rate:>7.2f}{f'[{lo:.2f}, {hi:.2f}]':>16}"
                     f"{r.applied:>9}{r.empty:>7}{r.calls:>7.1f}{r.tokens_in:>9.0f}{r.tokens_out:>9.0f}"
                     f"{r.seconds:>8.1f}{p:>11}")
    return "\n".join(lines)
