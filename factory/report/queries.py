"""The numbers of ``factory report``'s overview, each one SQL aggregate over the store.

Why apart: every figure the overview shows is computed by DuckDB here, not by looping over records in
Python, so a store of 10,000 instances is summarised in milliseconds and a unit test can check each number
on a store it builds itself. The status counts are :meth:`Store.counts` itself — the very function behind
``factory status --json`` — so the report and the CLI cannot disagree. Per-instance pages are streamed by
:mod:`factory.report.pages`; evaluation runs are summarised by :mod:`factory.report.evals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from factory.core.models import Status
from factory.store import Store

#: Statuses that mean "a verdict was reached on a built environment".
JUDGED = (Status.VALID.value, Status.REJECTED.value)
#: Statuses that mean "an environment was built for it" (judged, or between build and verdict).
BUILT = (*JUDGED, Status.BUILT.value, Status.VALIDATING.value)


@dataclass
class Histogram:
    """Equal-width bins of one column: ``edges`` has one more entry than ``counts``."""

    edges: list[float]
    counts: list[int]
    n: int = 0
    median: float = 0.0
    p90: float = 0.0
    total: float = 0.0


@dataclass
class Overview:
    counts: dict
    funnel: list[tuple[str, int]]
    repos: list[dict]
    reasons: list[tuple[str, int]]
    builders: list[dict]
    llm: dict
    llm_by_model: list[dict]
    build_seconds: Histogram
    test_seconds: Histogram
    tables: dict[str, int] = field(default_factory=dict)


def _in(values: tuple[str, ...]) -> str:
    return ",".join(f"'{v}'" for v in values)  # our own enum values, never user input


def funnel(store: Store) -> list[tuple[str, int]]:
    """Candidates → environment built → verdict reached → valid."""
    row = store.select_one(
        "SELECT count(*) AS mined,"
        f" count(*) FILTER (WHERE i.status IN ({_in(BUILT)})) AS built,"
        f" count(*) FILTER (WHERE i.status IN ({_in(JUDGED)})) AS judged,"
        " count(*) FILTER (WHERE i.status = 'valid') AS valid"
        " FROM candidates c JOIN instances i USING (instance_id)"
    )
    labels = {"mined": "candidates", "built": "environment built", "judged": "verdict reached", "valid": "valid"}
    return [(labels[k], int(row.get(k) or 0)) for k in labels]


def repo_yield(store: Store) -> list[dict]:
    """Per repository: candidates, instances per final status, pending, and yield = valid / candidates."""
    rows = list(store.select(
        "SELECT c.repo, count(*) AS candidates,"
        " count(*) FILTER (WHERE i.status = 'valid') AS valid,"
        " count(*) FILTER (WHERE i.status = 'rejected') AS rejected,"
        " count(*) FILTER (WHERE i.status = 'build_failed') AS build_failed,"
        " count(*) FILTER (WHERE i.status = 'error') AS error"
        " FROM candidates c JOIN instances i USING (instance_id) GROUP BY c.repo"
        " ORDER BY valid DESC, candidates DESC, c.repo"
    ))
    for r in rows:
        r["pending"] = r["candidates"] - r["valid"] - r["rejected"] - r["build_failed"] - r["error"]
        r["yield"] = r["valid"] / r["candidates"] if r["candidates"] else 0.0
    return rows


def reasons(store: Store) -> list[tuple[str, int]]:
    """Why candidates did not become instances: ``rejected(flaky)``, ``error(docker)``, ``build_failed(env_build)``."""
    rows = store.select(
        "SELECT status, reason, count(*) AS n FROM instances WHERE status IN ('rejected', 'error', 'build_failed')"
        " GROUP BY ALL ORDER BY n DESC, status, reason"
    )
    return [(f"{r['status']}({r['reason']})" if r["reason"] else r["status"], int(r["n"])) for r in rows]


def builders(store: Store) -> list[dict]:
    """Which builder produced each instance's environment: ``heuristic``, ``memory`` or ``llm`` (with model)."""
    return list(store.select(
        "SELECT CASE WHEN builder LIKE 'llm:%' THEN 'llm' ELSE builder END AS kind, builder,"
        " count(*) AS instances, count(*) FILTER (WHERE status = 'valid') AS valid"
        " FROM instances WHERE builder <> '' GROUP BY ALL ORDER BY instances DESC, builder"
    ))


def llm_by_model(store: Store) -> list[dict]:
    """Spend per model and role (live calls only: replayed ones cost nothing)."""
    return list(store.select(
        "SELECT model, role, count(*) AS calls, count(*) FILTER (WHERE status = 'error') AS errors,"
        " sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out, sum(usd) AS usd, sum(seconds) AS seconds"
        " FROM llm_calls WHERE status <> 'replayed' GROUP BY ALL ORDER BY usd DESC, calls DESC, model, role"
    ))


def histogram(store: Store, table: str, column: str, bins: int = 12, where: str = "TRUE") -> Histogram:
    """Equal-width histogram of ``table.column`` (our own table and column names, never user input)."""
    source = f"SELECT CAST({column} AS DOUBLE) AS x FROM {table} WHERE {column} IS NOT NULL AND ({where})"
    stats = store.select_one(
        f"SELECT count(*) AS n, min(x) AS lo, max(x) AS hi, coalesce(sum(x), 0) AS total,"
        f" quantile_cont(x, 0.5) AS median, quantile_cont(x, 0.9) AS p90 FROM ({source})"
    )
    n = int(stats.get("n") or 0)
    if n == 0:
        return Histogram([], [])
    lo, hi = float(stats["lo"]), float(stats["hi"])
    width = (hi - lo) / bins if hi > lo else 1.0
    bins = bins if hi > lo else 1
    counts = [0] * bins
    for r in store.select(
        f"SELECT least(CAST(floor((x - ?) / ?) AS INTEGER), ?) AS b, count(*) AS n FROM ({source}) GROUP BY b",
        [lo, width, bins - 1],
    ):
        counts[int(r["b"])] = int(r["n"])
    edges = [lo + i * width for i in range(bins + 1)]
    return Histogram(edges, counts, n, float(stats["median"]), float(stats["p90"]), float(stats["total"]))


def overview(store: Store) -> Overview:
    """Everything the overview page shows, from a handful of aggregate queries."""
    return Overview(
        counts=store.counts(),
        funnel=funnel(store),
        repos=repo_yield(store),
        reasons=reasons(store),
        builders=builders(store),
        llm=store.llm_totals(),
        llm_by_model=llm_by_model(store),
        build_seconds=histogram(store, "environments", "seconds", where="status = 'built'"),
        test_seconds=histogram(store, "validations", "seconds"),
        tables=store.table_counts(),
    )
