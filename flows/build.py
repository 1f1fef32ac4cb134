"""The ``build`` flow: build an environment and validate fail-to-pass for every pending candidate.

One Prefect task per candidate (run name ``build <instance id>``, tag ``docker``) wrapping
``factory.pipeline.build.process``. At most ``workers`` candidates use Docker at once (:class:`DockerSlots`);
task runs are submitted in a sliding window one wider than that, so the UI shows only what runs or is
next, and an infrastructure error is retried by Prefect with a doubling delay, a rejection never.
Tasks are threads of this flow run's process sharing one store, whose writes are serialized, so
parallel tasks cannot corrupt the DuckDB file.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture, as_completed, wait
from prefect.task_runners import ThreadPoolTaskRunner

from factory.core.models import outcome_label
from factory.core.settings import BuildSettings
from factory.pipeline.build import BuildSession, open_session, plan, process
from factory.store import Store
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

#: Upper bound on threads; the real limit is ``BuildSettings.workers`` (the sliding window below).
MAX_WORKERS = 64


@task(name="build-validate", task_run_name="build {instance_id}", tags=["docker"], cache_policy=NONE,
      retry_condition_fn=retry_on_infra_only)
def build_instance(instance_id: str, session: BuildSession, slots: DockerSlots) -> str:
    """Build + validate one candidate (``factory.pipeline.build.process``); infra errors are retried by Prefect."""
    return run_candidate(instance_id, session, slots, process)


def run_window(submit, ids: list[str], window: int) -> dict[str, PrefectFuture]:
    """Submit ``ids`` keeping at most ``window`` task runs in flight; return every future once all are done."""
    futures: dict[str, PrefectFuture] = {}
    running: list[PrefectFuture] = []
    for iid in dict.fromkeys(ids):  # an id listed twice is built once
        if len(running) >= window:
            first = next(as_completed(running))
            running = [f for f in running if f is not first and not f.state.is_final()]
        futures[iid] = submit(iid)
        running.append(futures[iid])
    wait(running)
    return futures


def settle(futures: dict[str, PrefectFuture], session: BuildSession) -> dict[str, str]:
    """Outcome label per instance; re-raise the first error that is not an infrastructure failure, as the
    task raised it (so a user error reaches the CLI with its fix)."""
    outcomes: dict[str, str] = {}
    problem: BaseException | None = None
    for iid, future in futures.items():
        if future.state.is_completed():
            outcomes[iid] = future.result()
        elif iid in session.errors:  # the task raised: a user error or a bug
            outcomes[iid] = "failed"
            problem = problem or session.errors[iid]
        else:  # InfraFailure, raised after the error was stored, and Prefect's retries are used up
            inst = session.ctx.store.instance(iid)
            outcomes[iid] = outcome_label(inst.status, inst.reason)
    if problem is not None:
        raise problem
    return outcomes


def enforce_image_budget(store: Store, max_gb: float) -> list[str]:
    """Evict the least recently used env/instance images of this project's repositories beyond ``max_gb``
    (``[build] max_image_gb``), after every build run, also one with nothing to build. Scoped to the
    project: on a shared engine one project's budget never evicts another project's images."""
    from factory.docker.cleanup import clean
    from factory.docker.runtime import connect

    repos = {c.repo for c in store.candidates()}
    report = clean(connect(), last_use=store.image_last_use(), repos=repos, max_bytes=int(max_gb * 1e9))
    if report.images:
        get_run_logger().info("image budget %.1f GB: evicted %d image(s), %.2f GB", max_gb, len(report.images),
                              report.freed_bytes / 1e9)
    return report.images


@flow(name="build", flow_run_name=run_name("build"), task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS),
      log_prints=True)
def build_flow(
    config: str | None = None,
    options: BuildSettings | None = None,
    instances: list[str] | None = None,
    rebuild: bool = False,
    db: str | None = None,
    home: str | None = None,
    db_lock_wait: float | None = None,
    retry_rejected: list[str] | None = None,
) -> dict:
    """Build + validate pending candidates of the project's store (``instances``: only these;
    ``retry_rejected``: also re-open instances rejected for these reasons, see ``plan``).

    ``options`` default to the project file's ``[build]`` table. Returns ``{"outcomes": {instance id:
    outcome}, "reaped_containers": [...], "llm": "llm:<model>" or "", "settings": the [build] settings
    this run used}``.
    """
    from agents.llm import client_from_options, describe_llm

    logger = get_run_logger()
    project = load_project(config, db, home, db_lock_wait)
    options = options or project.build
    settings = project.model_copy(update={"build": options})
    with open_store(project) as store:
        pending = plan(store, instances, rebuild, retry_rejected)
        logger.info("%d candidate(s) to build with %d worker(s) (store %s)", len(pending), options.workers,
                    settings.db_path)
        report_planned(pending)
        summary: dict = {"outcomes": {}, "reaped_containers": [], "llm": "", "evicted_images": [],
                         "settings": options.model_dump(mode="json")}
        if not pending:
            if options.max_image_gb:
                summary["evicted_images"] = enforce_image_budget(store, options.max_image_gb)
            return summary
        llm, budget = client_from_options(store, settings)
        if llm is not None:
            summary["llm"] = ("replaying " if options.replay else "") + llm.label
            logger.info("%s", describe_llm(settings))  # model, endpoint host and budget, before the first call
        session = open_session(store, settings, llm, budget, rebuild)
        summary["reaped_containers"] = session.reaped_containers
        if session.reaped_containers:
            logger.warning("removed %d container(s) left by a killed run", len(session.reaped_containers))
        task_ = build_instance.with_options(
            retries=options.infra_retries, retry_delay_seconds=backoff(options.retry_delay, options.infra_retries)
        )
        slots = DockerSlots(options.workers)
        futures = run_window(lambda iid: task_.submit(iid, session, slots), pending, options.workers + 1)
        outcomes = summary["outcomes"] = settle(futures, session)
        if options.max_image_gb:
            summary["evicted_images"] = enforce_image_budget(store, options.max_image_gb)
    errors = sum(o.startswith("error(") for o in outcomes.values())
    logger.info("done: %d processed, %d valid, %d left in an infrastructure error (retried by the next run)",
                len(outcomes), sum(o == "valid" for o in outcomes.values()), errors)
    return summary
