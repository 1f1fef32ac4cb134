"""``factory serve`` and ``factory deploy``: the project's Prefect deployments with their schedules,
served in this process or registered with a work pool."""

from __future__ import annotations

from typing import Annotated

import typer

from factory.cli.common import ConfigOption, console, out, project_settings


def serve(
    config: ConfigOption = None,
    limit: Annotated[int | None, typer.Option(help="Flow runs at once in this process (default: no limit).")
                     ] = None,
) -> None:
    """Run every deployment (nightly mine, hourly build + validate, daily export, pipeline) in this process.

    Uses PREFECT_API_URL, or Prefect's local server; open the Prefect UI to watch and trigger runs.

    Example: prefect server start &  PREFECT_API_URL=http://127.0.0.1:4200/api factory serve
    """
    from flows.common import require_api
    from flows.deployments import serve as serve_deployments

    require_api()
    project = project_settings(config)
    console.print(f"serving the deployments of {project.path} (Ctrl-C stops; schedules pause until the next serve)")
    serve_deployments(project, limit)


def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool whose workers run the flows.")],
    config: ConfigOption = None,
) -> None:
    """Register the deployments with a Prefect work pool (process, docker or kubernetes workers run them).

    Example: prefect work-pool create factory --type process && factory deploy --pool factory
    """
    from flows.common import require_api
    from flows.deployments import deploy as deploy_deployments

    require_api()
    project = project_settings(config)
    names = deploy_deployments(project, pool)
    for name in names:
        out.print(f"deployed {name} → work pool {pool}")
    out.print(f"start a worker: prefect worker start --pool {pool}")

