"""``factory build``, ``validate`` and ``pipeline``: the stages that run containers, as Prefect flows.

Every flag that sets a setting takes its help text and its effective default from
:mod:`factory.core.settings` (``--show-config`` prints them all with their origins and stops), and the
flags, the project file and the environment are layered by the same :func:`resolve` a scheduled run uses.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.common import (
    ConfigOption,
    DbOption,
    HomeOption,
    console,
    flow_paths,
    open_store,
    out,
    project_settings,
    resumable,
    run_flow,
    setting_help,
)
from factory.cli.config import print_settings
from factory.cli.progress import BuildDisplay
from factory.core.errors import UserError

#: ``factory build`` flags whose name is not the setting's own.
BUILD_FLAG_NAMES = {"build.run_timeout": "--timeout", "build.infra_retries": "--retries"}


def build(
    workers: Annotated[int | None, typer.Option(help=setting_help("build.workers"))] = None,
    instance: Annotated[
        list[str] | None, typer.Option("--instance", help="Only this instance id (repeatable).")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Redo finished instances (also retries failed env builds).")] = False,
    retry_rejected: Annotated[list[str] | None, typer.Option(
        "--retry-rejected", metavar="REASON",
        help="Re-open instances rejected for REASON (repeatable or comma-separated; e.g. no_tests_ran, error2pass, "
             "pass2pass) and build them again: recovers verdicts an older factory reached.")] = None,
    runs_before: Annotated[int | None, typer.Option(help=setting_help("build.runs_before"))] = None,
    runs_after: Annotated[int | None, typer.Option(help=setting_help("build.runs_after"))] = None,
    timeout: Annotated[int | None, typer.Option(help=setting_help("build.run_timeout"))] = None,
    memory: Annotated[bool | None, typer.Option("--memory/--no-memory", help=setting_help("build.memory"))] = None,
    exclude_newer: Annotated[bool | None, typer.Option(
        "--exclude-newer/--no-exclude-newer", help=setting_help("build.exclude_newer"))] = None,
    llm: Annotated[bool | None, typer.Option("--llm/--no-llm", help=setting_help("build.llm"))] = None,
    replay: Annotated[bool | None, typer.Option("--replay/--no-replay", help=setting_help("build.replay"))] = None,
    llm_rounds: Annotated[int | None, typer.Option(help=setting_help("build.llm_rounds"))] = None,
    max_llm_calls: Annotated[int | None, typer.Option(help=setting_help("build.max_llm_calls"))] = None,
    max_llm_usd: Annotated[float | None, typer.Option(help=setting_help("build.max_llm_usd"))] = None,
    max_llm_seconds: Annotated[float | None, typer.Option(help=setting_help("build.max_llm_seconds"))] = None,
    retries: Annotated[int | None, typer.Option(help=setting_help("build.infra_retries"))] = None,
    mem_limit: Annotated[str | None, typer.Option(help=setting_help("build.mem_limit"))] = None,
    pids_limit: Annotated[int | None, typer.Option(help=setting_help("build.pids_limit"))] = None,
    cpus: Annotated[float | None, typer.Option(help=setting_help("build.cpus"))] = None,
    max_image_gb: Annotated[float | None, typer.Option(help=setting_help("build.max_image_gb"))] = None,
    show_config: Annotated[bool, typer.Option(
        "--show-config", help="Print every setting this build would use, with where it comes from, and stop.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --show-config: print the settings as JSON.")
                       ] = False,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Build environments and validate fail-to-pass for every pending candidate (the Prefect build flow).

    Order per candidate: memory-pool recipe, heuristic recipe, then LLM rounds — only with --llm (or \\[build]
    llm = true in factory.toml) and a model; the model, endpoint host and budget are printed first. On a
    terminal a live bar shows done / total, valid so far, what runs and the ETA; elsewhere one numbered
    line per instance.
    Each default shown is the effective one here: built-in < factory.toml < FACTORY_* environment < flag.

    Example: FACTORY_LLM_BASE_URL=http://localhost:8000/v1 FACTORY_LLM_MODEL=qwen2.5 factory build --llm --workers 2

    Example: factory build --retry-rejected no_tests_ran,error2pass
    """
    from factory.pipeline.build import rejection_reasons

    flags = {
        "build.workers": workers, "build.runs_before": runs_before, "build.runs_after": runs_after,
        "build.run_timeout": timeout, "build.memory": memory, "build.exclude_newer": exclude_newer,
        "build.llm": llm, "build.replay": replay, "build.llm_rounds": llm_rounds,
        "build.max_llm_calls": max_llm_calls, "build.max_llm_usd": max_llm_usd,
        "build.max_llm_seconds": max_llm_seconds, "build.infra_retries": retries, "build.mem_limit": mem_limit,
        "build.pids_limit": pids_limit, "build.cpus": cpus, "build.max_image_gb": max_image_gb,
    }
    settings = project_settings(config, db, home, flags, BUILD_FLAG_NAMES)
    reasons = [r.value for r in rejection_reasons(retry_rejected)]  # a bad reason stops before any work
    if show_config:
        print_settings(settings, as_json)
        return
    options = settings.build
    from agents.llm import describe_llm
    from flows.build import build_flow

    plan_llm = describe_llm(settings)  # also stops here when --llm has no model to call
    if plan_llm:
        console.print(plan_llm)
    started = time.monotonic()
    summary = run_watched(
        "build", build_flow, BuildDisplay(console, "building"), config=str(settings.path) if settings.path else None,
        options=options, instances=instance, rebuild=rebuild, retry_rejected=reasons, db_lock_wait=0,
        **flow_paths(settings),
    )
    if summary["llm"]:
        console.print(f"LLM builder: {summary['llm']}")
    if summary["reaped_containers"]:
        console.print(f"removed {len(summary['reaped_containers'])} container(s) left by a killed run")
    if summary.get("evicted_images"):
        console.print(f"image budget: evicted {len(summary['evicted_images'])} least recently used image(s)")
    outcomes = summary["outcomes"]
    with open_store(settings) as store:
        counts = store.counts()
        if not outcomes:
            out.print(nothing_to_do(counts, settings.db_path, bool(instance)))
        else:
            out.print(f"Processed {len(outcomes)} candidate(s) in {time.monotonic() - started:.1f}s.")
        if options.llm or options.replay:
            t = store.llm_totals()
            if t["calls"]:
                out.print(f"LLM ledger: {t['calls']} call(s), {t['tokens_in']} tokens in / {t['tokens_out']} out, "
                          f"${t['usd']:.4f}; {t['replayed']} replayed")
    print_counts(counts)


def run_watched(command: str, flow_fn, display: BuildDisplay, **params):
    """Run a flow with ``display`` told what it plans, starts and finishes; Ctrl-C says how to resume."""
    from flows.common import Watch

    watcher = Watch(planned=display.planned, started=display.started, done=display.done)
    with display.shown(), resumable(command):
        return run_flow(flow_fn, watcher=watcher, **params)


def nothing_to_do(counts: dict, db: Path, only: bool) -> str:
    """Why a build had no candidate to work on: none was ever mined, or every one is finished."""
    total = counts["valid"] + counts["build_failed"] + counts["pending"] + sum(counts["rejected"].values()) + sum(
        counts["error"].values())
    if total == 0:
        return (f"Nothing to build: there are no candidates in {db}. Mine some first: `factory mine --git PATH` "
                "(or `--github OWNER/REPO`; `factory mine` reads the sources of factory.toml).")
    which = "the instance(s) given are" if only else f"all {total} candidate(s) are"
    return (f"Nothing to do: {which} already built and validated (valid, rejected or build_failed). "
            "`factory build --rebuild` or `--retry-rejected REASON` redoes them.")


def print_counts(counts: dict) -> None:
    """The instances table: valid, each rejection and error reason, build failures, pending."""
    table = Table(title="instances", show_header=True)
    table.add_column("status")
    table.add_column("reason")
    table.add_column("count", justify="right")
    table.add_row("valid", "", str(counts["valid"]))
    for bucket in ("rejected", "error"):
        for reason, n in sorted(counts[bucket].items()):
            table.add_row(bucket, reason, str(n))
    table.add_row("build_failed", "", str(counts["build_failed"]))
    table.add_row("pending", "", str(counts["pending"]))
    out.print(table)


def validate(
    runs_after: Annotated[int | None, typer.Option(help=setting_help("validate.runs_after"))] = None,
    runs_before: Annotated[int | None, typer.Option(help=setting_help("validate.runs_before"))] = None,
    instance: Annotated[list[str] | None, typer.Option("--instance", help="Only this instance id (repeatable).")
                        ] = None,
    workers: Annotated[int | None, typer.Option(help=setting_help("build.workers"))] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Confirmation runs: validate valid instances again with more runs (the Prefect validate flow).

    A test that flips between runs demotes its instance to rejected(flaky). Instances that already have
    enough runs are skipped, so this is cheap to repeat.

    Example: factory validate --runs-after 5 --workers 2
    """
    from factory.core.models import Status
    from flows.validate import validate_flow

    settings = project_settings(config, db, home, {
        "validate.runs_after": runs_after, "validate.runs_before": runs_before, "build.workers": workers})
    options = settings.validate_
    outcomes = run_watched(
        "validate", validate_flow, BuildDisplay(console, "confirming"),
        config=str(settings.path) if settings.path else None, options=options, instances=instance,
        workers=settings.build.workers, db_lock_wait=0, **flow_paths(settings),
    )
    kept = sum(o == Status.VALID.value for o in outcomes.values())
    out.print(f"Confirmed {kept} of {len(outcomes)} instance(s) with {options.runs_before} before / "
              f"{options.runs_after} after run(s)." if outcomes else "Nothing to confirm.")


def pipeline(
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Mine every source of the project file, build, validate and export — one Prefect pipeline run.

    Example: factory pipeline --config factory.toml
    """
    from flows.pipeline import pipeline_flow

    settings = project_settings(config, db, home)
    if settings.path is None:
        raise UserError("the pipeline needs a project file listing its sources",
                        "create factory.toml (see README) or pass --config FILE")
    with resumable("pipeline"):
        result = run_flow(pipeline_flow, config=str(settings.path), db_lock_wait=0, **flow_paths(settings))
    built = result["build"]["outcomes"]
    out.print(f"mined {sum(r['added'] for r in result['mine'].values())} new candidate(s); built {len(built)}; "
              f"confirmed {len(result['validate'])}; exported {result['export']['instances']} instance(s) to "
              f"{result['export']['path']}")


