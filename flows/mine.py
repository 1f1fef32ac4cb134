"""The ``mine`` flow: mine new fix commits from every source of the project file.

One task per source (run name ``mine <source>``) wrapping ``factory.mining.git_source.mine_git``, one
after the other: mining is I/O on one mirror and one store, and re-mining a source only adds what is new.
A source that fails (bad URL, unreachable host) is reported and the others still run.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from factory.core.errors import UserError
from factory.core.project import Project, Source
from factory.mining.git_source import mine_git
from factory.pipeline.demo import ensure_example
from factory.store import Store
from flows.common import load_project, open_store, run_name

#: Built-in examples a source may name; each creates its repository under the project's home.
EXAMPLES = {"tinyledger"}


def source_location(source: Source, project: Project) -> str:
    """A path or URL git can read: the source's own, or the example's repository (created if missing)."""
    if source.git:
        return source.git if "://" in source.git or "@" in source.git else str(project.resolve(Path(source.git)))
    if source.example not in EXAMPLES:
        raise UserError(f"unknown example {source.example!r} in {project.path or 'the project'}",
                        f"use one of: {', '.join(sorted(EXAMPLES))}")
    return str(ensure_example(project.home / "examples" / source.example))


@task(name="mine-source", task_run_name="mine {source.label}", cache_policy=NONE, retries=0)
def mine_source(source: Source, project: Project, store: Store) -> dict:
    """Mine one source; returns the mining report as a dict (shown as the task's result)."""
    if source.github:
        from factory.mining.github_api import GitHubAPI
        from factory.mining.github_source import mine_github

        gh = mine_github(source.github, store, project, source.since, source.until, source.limit,
                         api=GitHubAPI.from_env(say=get_run_logger().warning), filters=project.github)
        get_run_logger().info("%s: scanned %d pull request(s), %d new candidate(s), %d API request(s)", gh.repo,
                              gh.scanned, len(gh.added), gh.requests)
        return {"repo": gh.repo, "scanned": gh.scanned, "added": len(gh.added), "already_known": gh.already_known,
                "skipped": dict(gh.skipped), "requests": gh.requests}
    report = mine_git(source_location(source, project), store, project, source.since, source.until,
                      source.limit, source.name, branch=source.branch)
    summary = {"repo": report.repo, "scanned": report.scanned, "added": len(report.added),
               "already_known": report.already_known, "skipped": dict(report.skipped)}
    get_run_logger().info("%s: scanned %d commit(s), %d new candidate(s)", report.repo, report.scanned,
                          len(report.added))
    return summary


@flow(name="mine", flow_run_name=run_name("mine"), log_prints=True)
def mine_flow(
    config: str | None = None, db: str | None = None, home: str | None = None, db_lock_wait: float | None = None
) -> dict[str, dict]:
    """Mine every source listed in the project file; returns ``{source: report}``.

    A failing source does not stop the others; the flow fails at the end, naming each failed source.
    """
    logger = get_run_logger()
    project = load_project(config, db, home, db_lock_wait)
    if not project.sources:
        logger.warning("no sources in %s: add [[sources]] entries", project.path or "the project (no factory.toml)")
        return {}
    reports: dict[str, dict] = {}
    failed: list[str] = []
    with open_store(project) as store:
        for source in project.sources:
            state = mine_source(source, project, store, return_state=True)
            if state.is_completed():
                reports[source.label] = state.result()
                continue
            exc = state.result(raise_on_failure=False)
            what = f"{exc.what} (fix: {exc.fix})" if isinstance(exc, UserError) else str(exc)
            logger.error("%s: %s", source.label, what)
            failed.append(f"{source.label}: {what}")
    if failed:
        raise UserError("mining failed for " + "; ".join(failed),
                        "fix those sources in the project file; the other sources were mined and stored")
    return reports
