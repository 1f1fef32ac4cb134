"""The ``repair`` flow: train the repair agent's memory on a split's train issues, then evaluate its test
issues under each memory configuration — ``factory.pipeline.repair_cycle`` as two Prefect tasks, so a run
shows in the UI with its logs and can be scheduled or triggered like the other stages.

Results land where ``factory repair`` puts them (``train-results.json``, ``eval-results.json`` in the split
folder; memory, ledger and harness results in the store), so ``factory repair report`` reads a flow's run.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from factory.pipeline.repair_cycle import (
    CONFIGS,
    CycleContext,
    evaluate_configs,
    load_reranker,
    open_context,
    read_split,
    save_results,
    train,
)
from factory.pipeline.repair_report import render, rows
from factory.store import Store
from flows.common import load_project, open_store, run_name
from memory_pool.experience import ExperienceMemory


@task(name="repair-train", cache_policy=NONE)
def train_memory(ctx: CycleContext, store: Store, split_dir: Path, mode: str) -> dict[str, str]:
    graded = train(ctx, read_split(split_dir, "train"), ExperienceMemory(store), "flow-train", mode,
                   state_dir=split_dir)
    save_results(split_dir / "train-results.json", {"train": graded})
    get_run_logger().info("trained on %d issue(s): %d resolved", len(graded),
                          sum(g.status == "resolved" for g in graded))
    return {g.attempt.instance_id: g.status for g in graded}


@task(name="repair-eval", cache_policy=NONE)
def evaluate_split(ctx: CycleContext, store: Store, split_dir: Path, configs: list[str]) -> str:
    results = evaluate_configs(ctx, read_split(split_dir, "test"), store, "flow-eval", configs,
                               load_reranker(split_dir))
    save_results(split_dir / "eval-results.json", results)
    table = render(rows(results, store))
    get_run_logger().info("ablation:\n%s", table)
    return table


@flow(name="repair", flow_run_name=run_name("repair"), log_prints=True)
def repair_flow(
    split: str,
    config: str | None = None,
    mode: str = "both",
    configs: list[str] | None = None,
    candidates: int | None = None,
    max_calls: int | None = None,
    db: str | None = None,
    home: str | None = None,
    db_lock_wait: float | None = None,
) -> dict:
    """Train on ``split``/train.jsonl (``mode``: episodic, semantic, both), evaluate ``split``/test.jsonl under
    ``configs`` (default: all of none, episodic, semantic, both, random). Returns the train outcomes and the
    ablation table."""
    project = load_project(config, db, home, db_lock_wait)
    split_dir = Path(split).expanduser().absolute()
    with open_store(project) as store:
        ctx = open_context(project, store, split_dir / "reports", candidates=candidates, max_calls=max_calls)
        trained = train_memory(ctx, store, split_dir, mode)
        table = evaluate_split(ctx, store, split_dir, configs or list(CONFIGS))
    return {"train": trained, "table": table}
