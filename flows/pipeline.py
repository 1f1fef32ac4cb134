"""The ``pipeline`` flow: mine → build → validate → export, as subflows of one run.

Each stage is the same flow a schedule runs on its own, so a pipeline run reads in the UI as four child
runs with their tasks. A stage that fails stops the chain (what earlier stages stored stays stored).
"""

from __future__ import annotations

from prefect import flow

from flows.build import build_flow
from flows.common import run_name
from flows.export import export_flow
from flows.mine import mine_flow
from flows.validate import validate_flow


@flow(name="pipeline", flow_run_name=run_name("pipeline"), log_prints=True)
def pipeline_flow(config: str | None = None, db: str | None = None, home: str | None = None,
                  db_lock_wait: float | None = None) -> dict:
    """Run every stage for the project file ``config``; returns each stage's result."""
    common = {"config": config, "db": db, "db_lock_wait": db_lock_wait}
    mined = mine_flow(home=home, **common)
    built = build_flow(home=home, **common)
    confirmed = validate_flow(home=home, **common)
    exported = export_flow(**common)
    return {"mine": mined, "build": built, "validate": confirmed, "export": exported}
