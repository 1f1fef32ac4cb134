"""The ``validate`` flow: confirmation runs for valid instances (``factory.pipeline.confirm``).

One task per instance (run name ``confirm <instance id>``, tag ``docker``), at most ``workers`` at once,
infrastructure errors retried by Prefect like in the build flow.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.task_runners import ThreadPoolTaskRunner

from factory.core.settings import ValidateSettings
from factory.pipeline.build import BuildSession, open_session
from factory.pipeline.confirm import confirm, unconfirmed
from flows.build import MAX_WORKERS, run_window, settle
from flows.common import (
    DockerSlots,
    backoff,
    load_project,
    open_store,
    report_planned,
    retry_on_infra_only,
    run_candidate,
    run_name,
)


@task(name="confirm", task_run_name="confirm {instance_id}", tags=["docker"], cache_policy=NONE,
      retry_condition_fn=retry_on_infra_only)
def confirm_instance(instance_id: str, session: BuildSession, slots: DockerSlots) -> str:
    """Confirmation runs for one valid instance (``factory.pipeline.confirm.confirm``); infra errors are retried."""
    return run_candidate(instance_id, session, slots, confirm)


@flow(name="validate", flow_run_name=run_name("validate"), task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS),
      log_prints=True)
def validate_flow(
    config: str | None = None,
    options: ValidateSettings | None = None,
    instances: list[str] | None = None,
    workers: int | None = None,
    db: str | None = None,
    home: str | None = None,
    db_lock_wait: float | None = None,
) -> dict[str, str]:
    """Validate again every valid instance with fewer after-runs than ``options.runs_after`` (default: the
    project's ``[validate]`` table); returns ``{instance id: outcome}``."""
    logger = get_run_logger()
    project = load_project(config, db, home, db_lock_wait)
    options = options or project.validate_
    slots = workers or project.build.workers
    settings = project.model_copy(update={"validate_": options}).confirming()
    with open_store(project) as store:
        todo = unconfirmed(store, options.runs_after, instances)
        logger.info("%d valid instance(s) to confirm with %d before / %d after run(s)", len(todo),
                    options.runs_before, options.runs_after)
        report_planned(todo)
        if not todo:
            return {}
        session = open_session(store, settings)
        retries = project.build.infra_retries
        task_ = confirm_instance.with_options(retries=retries,
                                              retry_delay_seconds=backoff(project.build.retry_delay, retries))
        docker_slots = DockerSlots(slots)
        return settle(run_window(lambda iid: task_.submit(iid, session, docker_slots), todo, slots + 1), session)
