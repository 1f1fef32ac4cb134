"""Evaluation runs for ``factory report``: ``factory eval`` runs and the repair agent's, from ``eval_results``.

Why apart: the harness stores one row per (run, model, instance); the report shows per run its resolve
rate (with Wilson's 95 % interval), the instances side by side across runs, and — for the repair agent,
whose runs are named by ``factory repair`` (``eval-<time>-<configuration>`` per configuration of one
evaluation, ``train-<time>-<k>`` per training attempt) — the ablation table (resolve rate, interval, apply
and empty rates, calls and tokens per instance from the ledger, exact McNemar against ``none``), the
learning curve (``both-N``: memory holding the first N train cases) and the training curve. Everything is
read with SQL; the per-instance matrix is streamed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from factory.pipeline.repair_report import mcnemar, wilson
from factory.store import Store

REPAIR_EVAL = re.compile(r"^(eval-\d{8}T\d{6})-(.+)$")
REPAIR_TRAIN = re.compile(r"^(train-\d{8}T\d{6})-(\d+)$")
CURVE = re.compile(r"^both-(\d+)$")
MAX_COLUMNS = 24


@dataclass
class Run:
    run_id: str
    model: str
    instances: int
    resolved: int
    unresolved: int
    error: int
    empty: int

    @property
    def rate(self) -> float:
        return self.resolved / self.instances if self.instances else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.resolved, self.instances)

    @property
    def key(self) -> str:
        return f"{self.run_id} · {self.model}"


@dataclass
class AblationRow:
    config: str
    run: Run
    calls: float
    tokens_in: float
    tokens_out: float
    p_vs_none: float | None

    @property
    def applied(self) -> int:
        return self.run.resolved + self.run.unresolved


@dataclass
class Evaluation:
    """One ``factory repair eval``: its configurations' rows and its learning curve."""

    name: str
    rows: list[AblationRow]
    curve: list[tuple[int, float, float, float]]
    """(train cases N, rate, low, high) for each ``both-N``, by N."""


def runs(store: Store) -> list[Run]:
    """Every (run, model) in the store, oldest first."""
    return [Run(r["run_id"], r["model"], r["instances"], r["resolved"], r["unresolved"], r["error"], r["empty"])
            for r in reversed(store.eval_runs())]


def matrix(store: Store, columns: list[Run]) -> Iterator[tuple[str, list[str]]]:
    """Per instance (by id), the status it got in each of ``columns`` ('' where that run did not have it)."""
    if not columns:
        return
    index = {(c.run_id, c.model): i for i, c in enumerate(columns)}
    pairs = " OR ".join("(run_id = ? AND model = ?)" for _ in columns)
    params = [v for c in columns for v in (c.run_id, c.model)]
    current, cells = None, [""] * len(columns)
    for r in store.select(f"SELECT instance_id, run_id, model, status FROM eval_results WHERE {pairs}"
                          " ORDER BY instance_id", params):
        if r["instance_id"] != current:
            if current is not None:
                yield current, cells
            current, cells = r["instance_id"], [""] * len(columns)
        cells[index[(r["run_id"], r["model"])]] = r["status"]
    if current is not None:
        yield current, cells


def _outcomes(store: Store, run: Run) -> dict[str, bool]:
    return {r["instance_id"]: r["status"] == "resolved" for r in store.select(
        "SELECT instance_id, status FROM eval_results WHERE run_id = ? AND model = ?", [run.run_id, run.model])}


def _ledger(store: Store, label: str) -> dict:
    """Calls and tokens of one configuration of one evaluation (ledger keys ``<instance>@<eval>:<config>``)."""
    return store.select_one(
        "SELECT count(*) AS calls, coalesce(sum(tokens_in), 0) AS tokens_in, coalesce(sum(tokens_out), 0)"
        " AS tokens_out FROM llm_calls WHERE status <> 'replayed' AND instance_id LIKE ? ESCAPE '\\'",
        ["%@" + label.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")],
    )


def repair_evaluations(all_runs: list[Run]) -> dict[str, list[tuple[str, Run]]]:
    """The repair agent's evaluations: name -> [(configuration, run)], in the order they were written."""
    found: dict[str, list[tuple[str, Run]]] = {}
    for run in all_runs:
        m = REPAIR_EVAL.match(run.run_id)
        if m:
            found.setdefault(m.group(1), []).append((m.group(2), run))
    return found


def ablation(store: Store, name: str, configs: list[tuple[str, Run]]) -> Evaluation:
    """The ablation table and learning curve of one evaluation (configurations as run)."""
    outcomes = {config: _outcomes(store, run) for config, run in configs}
    base = outcomes.get("none")
    rows = []
    for config, run in configs:
        spent = _ledger(store, f"{name}:{config}")
        n = run.instances or 1
        p = None
        if base is not None and config != "none" and set(base) == set(outcomes[config]):
            ids = sorted(base)
            p = mcnemar([outcomes[config][i] for i in ids], [base[i] for i in ids])
        rows.append(AblationRow(config, run, spent["calls"] / n, spent["tokens_in"] / n, spent["tokens_out"] / n, p))
    curve = sorted((int(m.group(1)), row.run.rate, *row.run.interval)
                   for row in rows if (m := CURVE.match(row.config)))
    return Evaluation(name, rows, curve)


def training_curves(all_runs: list[Run]) -> dict[str, list[tuple[int, float]]]:
    """Per ``factory repair train`` run: (attempts so far, cumulative resolve rate), in attempt order."""
    attempts: dict[str, list[tuple[int, Run]]] = {}
    for run in all_runs:
        m = REPAIR_TRAIN.match(run.run_id)
        if m:
            attempts.setdefault(m.group(1), []).append((int(m.group(2)), run))
    curves = {}
    for name, items in attempts.items():
        done = resolved = 0
        points = []
        for _, run in sorted(items, key=lambda item: item[0]):
            done += run.instances
            resolved += run.resolved
            points.append((done, resolved / done if done else 0.0))
        curves[name] = points
    return curves


def plain_runs(all_runs: list[Run]) -> list[Run]:
    """Runs that are not the repair agent's per-attempt training runs (those are summed in a curve)."""
    return [r for r in all_runs if not REPAIR_TRAIN.match(r.run_id)]


def columns(all_runs: list[Run]) -> list[Run]:
    """The runs shown side by side per instance: the newest :data:`MAX_COLUMNS`, oldest first."""
    return plain_runs(all_runs)[-MAX_COLUMNS:]
