"""The ``export`` flow: write the dataset (SWE-bench JSONL, parquet or a Hugging Face directory) from the
store, atomically."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from factory.pipeline.export import export
from factory.pipeline.instances_export import default_path, export_instances
from factory.store import Store
from flows.common import load_project, open_store, run_name


@task(name="export-dataset", task_run_name="export {out}", cache_policy=NONE)
def export_dataset(store: Store, out: Path, include_all: bool, fmt: str = "jsonl") -> int:
    """The dataset (``fmt``: jsonl, parquet, hf) holds valid instances only; ``include_all`` writes every
    instance to a separate file (``<out>.all-instances.jsonl``) that says it is not a SWE-bench dataset."""
    count = export(store, out, fmt)
    get_run_logger().info("wrote %d instance(s) to %s", count, out)
    if include_all:
        every = export_instances(store, default_path(out))
        get_run_logger().info("wrote every instance (%d) to %s", every["instances"], default_path(out))
    return count


@flow(name="export", flow_run_name=run_name("export"), log_prints=True)
def export_flow(
    config: str | None = None,
    out: str | None = None,
    include_all: bool | None = None,
    db: str | None = None,
    db_lock_wait: float | None = None,
) -> dict:
    """Export valid instances to ``out`` (default: the project's ``[export] out``) in the project's
    ``[export] format`` (``include_all``: every instance to ``<out>.all-instances.jsonl`` too). Returns
    ``{"path": ..., "instances": n}``."""
    project = load_project(config, db, None, db_lock_wait)
    target = Path(out).expanduser().absolute() if out else project.resolve(project.export.out)
    everything = project.export.include_all if include_all is None else include_all
    with open_store(project) as store:
        count = export_dataset(store, target, everything, project.export.format)
    return {"path": str(target), "instances": count}
