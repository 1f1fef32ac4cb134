"""The deployments ``factory serve`` runs and ``factory deploy`` registers, built from ``factory.toml``.

One deployment per stage with its cron schedule (nightly mine, hourly build, hourly validate, daily
export) plus ``pipeline`` (unscheduled unless the project file gives it a cron; trigger it from the UI or
``prefect deployment run pipeline/<project>``). Every run gets the project file's absolute path as its
``config`` parameter and reads it at run time. Each deployment allows one run at a time: a new scheduled
run while the last one still works is cancelled, since the running one will pick up the new work anyway.
``prefect.yaml`` at the repository root declares the same deployments for ``prefect deploy --all``.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.types.entrypoint import EntrypointType

from factory.core.errors import UserError
from factory.core.project import Project


@dataclass(frozen=True)
class DeploymentSpec:
    stage: str
    """Key in ``[schedules]`` and the flow's name."""
    entrypoint: str
    """``file.py:function`` form, as in ``prefect.yaml``."""
    description: str

    def flow(self):
        from importlib import import_module

        path, func = self.entrypoint.split(":")
        return getattr(import_module(path.removesuffix(".py").replace("/", ".")), func)


DEPLOYMENTS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec("mine", "flows/mine.py:mine_flow", "Mine new fix commits from every source of factory.toml."),
    DeploymentSpec("build", "flows/build.py:build_flow", "Build environments and validate fail-to-pass for "
                   "pending candidates."),
    DeploymentSpec("validate", "flows/validate.py:validate_flow", "Confirmation runs for new valid instances."),
    DeploymentSpec("export", "flows/export.py:export_flow", "Write a fresh SWE-bench JSONL dataset."),
    DeploymentSpec("pipeline", "flows/pipeline.py:pipeline_flow", "mine → build → validate → export in one run."),
)


def runner_deployments(project: Project) -> list[RunnerDeployment]:
    """The project's deployments. Entrypoints are module paths (``flows.build.build_flow``): a runner or
    worker imports the installed package, wherever it runs and whatever its working directory."""
    if project.path is None:
        raise UserError("no project file: deployments need a factory.toml listing the sources",
                        "create factory.toml (see the one in the issue-factory repository) or pass --config")
    crons = project.schedules.crons()
    deployments = []
    for spec in DEPLOYMENTS:
        cron = crons[spec.stage]
        kwargs: dict = {"entrypoint_type": EntrypointType.MODULE_PATH}
        if cron:
            kwargs["schedules"] = [Cron(cron, timezone=project.schedules.timezone)]
        deployments.append(spec.flow().to_deployment(
            name=project.name,
            description=spec.description,
            parameters={"config": str(project.path)},
            tags=["issue-factory", spec.stage],
            concurrency_limit=ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW),
            **kwargs,
        ))
    return deployments


def serve(project: Project, limit: int | None = None) -> None:
    """Run every deployment in this process until interrupted (schedules fire, UI runs are picked up)."""
    from prefect import serve as prefect_serve

    prefect_serve(*runner_deployments(project), limit=limit)


def deploy(project: Project, work_pool: str) -> list[str]:
    """Register every deployment with ``work_pool`` (its workers run the flows); returns their names."""
    from prefect import deploy as prefect_deploy

    deployments = runner_deployments(project)
    try:
        prefect_deploy(*deployments, work_pool_name=work_pool, build=False, push=False,
                       print_next_steps_message=False)
    except ValueError as exc:
        if "could not find work pool" not in str(exc).lower():
            raise
        raise UserError(f"Prefect has no work pool named {work_pool!r}",
                        f"create it: prefect work-pool create {work_pool} --type process (or docker, kubernetes)"
                        ) from None
    return [f"{d.flow_name}/{d.name}" for d in deployments]
