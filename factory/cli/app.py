"""The ``factory`` command line (Typer + rich).

Commands are thin: they parse options, call one library function and print. Heavy modules (docker,
the builder) are imported inside the commands that need them, so ``factory --help`` starts fast.
A :class:`UserError` anywhere ends in two lines — what went wrong, and the fix — and exit code 2.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from factory.cli.memory import memory_app
from factory.core.errors import UserError
from factory.core.settings import Settings

app = typer.Typer(
    help="issue-factory: turn repository history into validated, containerized SWE-bench tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
images_app = typer.Typer(
    help="Base images (OS + Python toolchain), with or without a registry.", no_args_is_help=True
)
app.add_typer(images_app, name="images")
app.add_typer(memory_app, name="memory")
console = Console(stderr=True)
out = Console()
if not out.is_terminal:  # logs and pipes: wide enough that tables do not fold every cell
    out = Console(width=160)

DbOption = Annotated[Path | None, typer.Option("--db", help="DuckDB file (default ./factory.duckdb or FACTORY_DB).")]
HomeOption = Annotated[
    Path | None, typer.Option("--home", help="Mirrors, contexts and logs (default ./.factory or FACTORY_HOME).")
]


ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Project file (default: ./factory.toml when it exists).")
]


def _settings(db: Path | None = None, home: Path | None = None, **extra: object) -> Settings:
    if db is not None:
        extra["db_path"] = db
    if home is not None:
        extra["home"] = home
    return Settings(**extra)


def _open_store(settings: Settings):
    from factory.store import Store

    return Store(settings.db_path)


@contextmanager
def _resumable(command: str):
    """Ctrl-C during long work: say that finished steps are kept and how to resume (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        console.print(f"\ninterrupted: every finished step is stored; run `factory {command}` again to resume")
        raise typer.Exit(130) from None


def _date(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"{flag} {value!r} is not a date", "use ISO format, e.g. 2024-03-01") from exc


@app.command()
def mine(
    git: Annotated[
        str | None, typer.Option("--git", help="Path or clone URL of a git repository (default: every source "
                                 "of the project file, through the mine flow).")
    ] = None,
    github: Annotated[
        str | None, typer.Option("--github", help="owner/repo on GitHub: merged PRs and the issues they resolve "
                                 "(GITHUB_TOKEN, GITHUB_API_URL).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="Only fixes committed (PRs merged) on/after this date (ISO).")
                     ] = None,
    max_files: Annotated[int | None, typer.Option(help="GitHub: skip PRs changing more files (default: 50).")
                         ] = None,
    max_lines: Annotated[int | None, typer.Option(help="GitHub: skip PRs changing more lines (default: 2000).")
                         ] = None,
    bots: Annotated[bool, typer.Option("--bots", help="GitHub: keep PRs opened by bots.")] = False,
    empty_issues: Annotated[bool, typer.Option("--empty-issues", help="GitHub: keep PRs whose issues have no body.")
                            ] = False,
    until: Annotated[str | None, typer.Option(help="Only fixes committed before this date (ISO).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many new candidates.")] = None,
    name: Annotated[str | None, typer.Option(help="owner/name for instance ids (default: from origin).")] = None,
    branch: Annotated[str | None, typer.Option(help="--git: mine this branch's history (default: the one the "
                                               "repository's HEAD names).")] = None,
    max_diff_bytes: Annotated[int | None, typer.Option(
        min=1, help="Skip fixes whose diff is longer than this many bytes, as diff_too_large (default: "
        "max_diff_bytes in the project file's \\[mine] table, else FACTORY_MAX_DIFF_BYTES, else 1000000).")] = None,
    db: DbOption = None,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    config: ConfigOption = None,
) -> None:
    """Mine fixes with tests from a git repository, a GitHub repository, or every source of factory.toml.

    Example: factory mine --git https://github.com/pallets/click --since 2024-01-01 --limit 20
    Example: factory mine --git ./repo.git --branch develop --max-diff-bytes 200000
    Example: GITHUB_TOKEN=... factory mine --github pallets/click --since 2024-01-01
    """
    from rich.progress import Progress

    from factory.mining.git_source import mine_git

    if git is not None and github is not None:
        raise UserError("--git and --github both given", "mine one source per command")
    if branch is not None and git is None:
        raise UserError("--branch needs --git", "pass --git PATH_OR_URL with it (GitHub sources are mined from their "
                        "merged pull requests, project sources from their default branch)")
    if max_diff_bytes is not None and git is None and github is None:
        raise UserError("--max-diff-bytes applies to --git / --github",
                        "for the project file's sources set `max_diff_bytes = N` in its `mine` table")
    if max_diff_bytes is None and (git is not None or github is not None):
        max_diff_bytes = _project(config).mine.max_diff_bytes
    diff_limit = {"max_diff_bytes": max_diff_bytes} if max_diff_bytes else {}
    if github is not None:
        from factory.core.github_filters import GitHubFilters

        base = _project(config).github
        filters = GitHubFilters(
            max_files=max_files or base.max_files, max_lines=max_lines or base.max_lines,
            exclude_bots=base.exclude_bots and not bots,
            require_issue_body=base.require_issue_body and not empty_issues,
        )
        _mine_github(github, _date(since, "--since"), _date(until, "--until"), limit,
                     _settings(db, home, **diff_limit), as_json, filters)
        return
    if git is None:
        project = _project(config)
        if not project.sources:
            raise UserError("nothing to mine: no --git given and no [[sources]] in a project file",
                            "pass --git PATH_OR_URL, or list sources in factory.toml (or --config FILE)")
        from flows.mine import mine_flow

        with _resumable("mine"):
            reports = _run_flow(mine_flow, config=str(project.path), db_lock_wait=0, **_store_paths(db, home))
        if as_json:
            out.print_json(json.dumps(reports))
            return
        for label, r in reports.items():
            out.print(f"[bold]{r['repo']}[/] ({label}): scanned {r['scanned']} first-parent commits, {r['added']} new "
                      f"candidate(s), {r['already_known']} already known")
        return
    settings = _settings(db, home, **diff_limit)
    since_date, until_date = _date(since, "--since"), _date(until, "--until")
    with _open_store(settings) as store, Progress(console=console, transient=True) as bar:
        task = bar.add_task("scanning commits", total=None)
        with _resumable("mine"):
            report = mine_git(
                git, store, settings, since_date, until_date, limit, name,
                progress=lambda done, total: bar.update(task, completed=done, total=total), branch=branch,
            )
    if as_json:
        out.print_json(json.dumps({
            "repo": report.repo, "branch": report.branch, "scanned": report.scanned, "added": report.added,
            "already_known": report.already_known, "skipped": dict(report.skipped),
        }))
        return
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped.items())) or "none"
    where = f" of {escape(report.branch)}" if report.branch else ""
    out.print(f"[bold]{escape(report.repo)}[/]: scanned {report.scanned} first-parent commits{where}, "
              f"{len(report.added)} new candidate(s), {report.already_known} already known; skipped: {skipped}")
    for reason, count in sorted(report.skipped.items()):
        if reason in _SKIP_EXPLAINED:
            why = _SKIP_EXPLAINED[reason].format(limit=settings.max_diff_bytes)
            out.print(f"  {reason}: {count} — {escape(why)}")
    if report.skipped.get("empty_repository"):
        out.print("No candidates: the repository has no commits yet.")
    elif not report.added and not report.already_known:
        out.print("No candidates: no usable commit changes both a test file and a non-test source file.")


#: Skip reasons ``factory mine`` explains (the common ones, no_test_change …, speak for themselves).
_SKIP_EXPLAINED = {
    "diff_too_large": "fix(es) whose diff is over {limit:,} bytes (raise --max-diff-bytes or [mine] max_diff_bytes "
                      "to keep them)",
    "non_utf8_diff": "fix(es) whose diff is not UTF-8 text (a patch must be stored and applied byte for byte)",
    "non_utf8_path": "fix(es) changing a file whose name is not UTF-8 (it cannot be named in an eval script or "
                     "a JSONL export)",
    "submodule_change": "fix(es) changing a submodule (its code is in another repository, not in this mirror)",
}


def _mine_github(full_name: str, since, until, limit: int | None, settings, as_json: bool, filters) -> None:
    from rich.progress import Progress

    from factory.mining.github_api import GitHubAPI
    from factory.mining.github_source import mine_github

    with _open_store(settings) as store, Progress(console=console, transient=True) as bar:
        task = bar.add_task("pull requests", total=None)
        api = GitHubAPI.from_env(say=lambda m: bar.console.print(m))
        with _resumable("mine"):
            report = mine_github(
                full_name, store, settings, since, until, limit, api=api, filters=filters,
                progress=lambda scanned, found: bar.update(
                    task, completed=scanned, description=f"pull requests ({found} candidate(s))"),
            )
    if as_json:
        out.print_json(json.dumps({
            "repo": report.repo, "scanned": report.scanned, "added": report.added,
            "already_known": report.already_known, "skipped": dict(report.skipped), "requests": report.requests,
        }))
        return
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(report.skipped.items())) or "none"
    out.print(f"[bold]{report.repo}[/]: scanned {report.scanned} pull request(s), {len(report.added)} new "
              f"candidate(s), {report.already_known} already known; skipped: {skipped}; "
              f"{report.requests} API request(s)")


def _project(config: Path | None):
    from factory.core import project as project_file

    return project_file.load(config)


def _store_paths(db: Path | None, home: Path | None) -> dict[str, str | None]:
    """``--db`` / ``--home``, else ``FACTORY_DB`` / ``FACTORY_HOME``, else (None) the project file's."""
    import os

    db_value = str(db) if db is not None else os.environ.get("FACTORY_DB") or None
    home_value = str(home) if home is not None else os.environ.get("FACTORY_HOME") or None
    return {"db": db_value, "home": home_value}


def _run_flow(flow_fn, on_done=None, **params):
    """Run a Prefect flow in this process, CLI-style: Prefect's console lines off (the UI keeps them), our
    progress on, and a word about Prefect's temporary server when no ``PREFECT_API_URL`` is set."""
    import os

    from flows.common import on_instance_done, quiet_console, require_api

    require_api()
    quiet_console()
    if not os.environ.get("PREFECT_API_URL"):
        console.print("[dim]no PREFECT_API_URL: using Prefect's temporary local server (set PREFECT_API_URL, e.g. "
                      "from `prefect server start`, to keep runs in the UI and skip its start-up)[/]")
    token = on_instance_done.set(on_done)
    try:
        return flow_fn(**params)
    finally:
        on_instance_done.reset(token)


@app.command()
def build(
    workers: Annotated[int | None, typer.Option(help="Candidates built/validated in parallel (default: 1).")] = None,
    instance: Annotated[
        list[str] | None, typer.Option("--instance", help="Only this instance id (repeatable).")
    ] = None,
    rebuild: Annotated[bool, typer.Option(help="Redo finished instances (also retries failed env builds).")] = False,
    runs_before: Annotated[
        int | None, typer.Option(help="Runs without the gold patch (all must fail) (default: 1).")] = None,
    runs_after: Annotated[
        int | None, typer.Option(help="Runs with the gold patch (all must pass, identically) (default: 2).")] = None,
    timeout: Annotated[int | None, typer.Option(help="Seconds per test run before it is killed.")] = None,
    memory: Annotated[
        bool | None, typer.Option("--memory/--no-memory", help="Try proven recipes from the environment memory "
                                  "pool first (default: on).")] = None,
    exclude_newer: Annotated[
        bool | None, typer.Option("--exclude-newer/--no-exclude-newer", help="Resolve dependencies as of the base "
                                  "commit's month (uv --exclude-newer) (default: on).")
    ] = None,
    llm: Annotated[
        bool | None, typer.Option("--llm/--no-llm", help="Use the LLM builder when FACTORY_LLM_MODEL (or OPENAI_*) "
                                  "is configured (default: on).")
    ] = None,
    replay: Annotated[bool, typer.Option(help="Answer LLM calls from the recorded ones; no model needed.")] = False,
    llm_rounds: Annotated[int | None, typer.Option(help="LLM rounds per candidate after memory and heuristics "
                                                   "(default: 3).")] = None,
    max_llm_calls: Annotated[int | None, typer.Option(help="LLM budget per instance: calls (default: 40).")] = None,
    max_llm_usd: Annotated[float | None, typer.Option(help="LLM budget per instance: US dollars (default: 0.5).")
                           ] = None,
    max_llm_seconds: Annotated[float | None, typer.Option(help="LLM budget per instance: wall seconds "
                                                          "(default: 1800).")] = None,
    retries: Annotated[int | None, typer.Option(help="Prefect retries of a candidate that hit an infrastructure "
                                                "error (default: 2).")] = None,
    mem_limit: Annotated[str | None, typer.Option(help="Memory of one test run, e.g. 512m; beyond it: error(oom) "
                                                  "(default: FACTORY_MEM_LIMIT or 2g).")] = None,
    pids_limit: Annotated[int | None, typer.Option(help="Processes one test run may hold (default: 512).")] = None,
    cpus: Annotated[float | None, typer.Option(help="CPUs one test run may use (default: 1).")] = None,
    max_image_gb: Annotated[float | None, typer.Option(
        help="After the build, evict least recently used env/instance images beyond this many GB.")] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Build environments and validate fail-to-pass for every pending candidate (the Prefect build flow).

    Order per candidate: memory-pool recipe, heuristic recipe, then LLM rounds (if a model is configured).
    Options not given come from the project file's build table, then the defaults shown.

    Example: FACTORY_LLM_BASE_URL=http://localhost:8000/v1 FACTORY_LLM_MODEL=qwen2.5 factory build --workers 2
    """
    from pydantic import ValidationError
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from factory.core.models import outcome_label
    from factory.core.project import BuildOptions

    project = _project(config)
    flags = {
        "workers": workers, "runs_before": runs_before, "runs_after": runs_after, "run_timeout": timeout,
        "memory": memory, "exclude_newer": exclude_newer, "llm": llm, "llm_rounds": llm_rounds,
        "max_llm_calls": max_llm_calls, "max_llm_usd": max_llm_usd, "max_llm_seconds": max_llm_seconds,
        "infra_retries": retries, "replay": replay or None, "mem_limit": mem_limit, "pids_limit": pids_limit,
        "cpus": cpus, "max_image_gb": max_image_gb,
    }
    try:
        options = BuildOptions.model_validate(
            {**project.build.model_dump(), **{k: v for k, v in flags.items() if v is not None}}
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise UserError(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}",
                        "see `factory build --help`") from None
    paths = _store_paths(db, home)
    from flows.build import build_flow

    started = time.monotonic()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("building", total=None)

        def done(inst) -> None:
            bar.advance(task)
            bar.console.print(f"  {inst.instance_id}: {outcome_label(inst.status, inst.reason)}")

        with _resumable("build"):
            summary = _run_flow(
                build_flow, on_done=done, config=str(project.path) if project.path else None, options=options,
                instances=instance, rebuild=rebuild, db_lock_wait=0, **paths,
            )
    settings = project.settings(**{k: v for k, v in {"db_path": paths["db"], "home": paths["home"]}.items() if v})
    if summary["llm"]:
        console.print(f"LLM builder: {summary['llm']}")
    if summary["reaped_containers"]:
        console.print(f"removed {len(summary['reaped_containers'])} container(s) left by a killed run")
    if summary.get("evicted_images"):
        console.print(f"image budget: evicted {len(summary['evicted_images'])} least recently used image(s)")
    outcomes = summary["outcomes"]
    if not outcomes:
        out.print("Nothing to do: every candidate is already built and validated.")
    else:
        out.print(f"Processed {len(outcomes)} candidate(s) in {time.monotonic() - started:.1f}s.")
    with _open_store(settings) as store:
        if options.llm or options.replay:
            t = store.llm_totals()
            if t["calls"]:
                out.print(f"LLM ledger: {t['calls']} call(s), {t['tokens_in']} tokens in / {t['tokens_out']} out, "
                          f"${t['usd']:.4f}; {t['replayed']} replayed")
        _print_counts(store.counts())


def _print_counts(counts: dict) -> None:
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


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False,
    list_all: Annotated[bool, typer.Option("--list", help="List every instance with its status.")] = False,
    db: DbOption = None,
) -> None:
    """Counts of instances per status and reason.

    Example: factory status --json
    """
    settings = _settings(db)
    with _open_store(settings) as store:
        counts = store.counts()
        if as_json:
            payload: dict = {"counts": counts}
            if list_all:
                payload["instances"] = [
                    {"instance_id": i.instance_id, "status": i.status.value, "reason": i.reason}
                    for i in store.instances()
                ]
            out.print_json(json.dumps(payload))
            return
        _print_counts(counts)
        if list_all:
            table = Table(show_header=True)
            for col in ("instance", "status", "reason", "detail"):
                table.add_column(col)
            for inst in store.instances():
                table.add_row(inst.instance_id, inst.status.value, inst.reason, inst.detail.splitlines()[0][:80]
                              if inst.detail else "")
            out.print(table)


@app.command()
def export(
    out_path: Annotated[
        Path | None, typer.Option("--out", help="JSONL file to write (default: the project file's export.out).")
    ] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Also export rejected/failed instances.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Write valid instances as SWE-bench-compatible JSONL.

    Example: factory export --out dataset.jsonl
    """
    from factory.pipeline.export import export_jsonl

    project = _project(config)
    if out_path is None:
        if project.path is None:
            raise UserError("no --out given and no project file", "pass --out FILE.jsonl (or --config factory.toml)")
        out_path = project.resolve(project.export.out)
    db_value = _store_paths(db, None)["db"]
    settings = project.settings(**({"db_path": Path(db_value)} if db_value else {}))
    with _open_store(settings) as store:
        n = export_jsonl(store, out_path, include_all or project.export.include_all)
    out.print(f"wrote {n} instance(s) to {out_path}")


@app.command("eval")
def eval_(
    predictions: Annotated[
        str, typer.Option("--predictions", "-p", help="Predictions .jsonl / .json / preds.json, or `gold`.")
    ],
    run_id: Annotated[str, typer.Option("--run-id", help="Names the report directory and the summary file.")],
    dataset: Annotated[
        Path | None, typer.Option("--dataset", "-d", help="Dataset JSONL (factory export); default: the DB's valid "
                                  "instances.")
    ] = None,
    instance: Annotated[
        list[str] | None, typer.Option("--instance", "-i", help="Only this instance id (repeatable).")
    ] = None,
    workers: Annotated[int, typer.Option(help="Predictions evaluated in parallel.")] = 1,
    timeout: Annotated[int | None, typer.Option(help="Seconds per run before its container is killed.")] = None,
    report_dir: Annotated[
        Path, typer.Option("--report-dir", help="Where logs/run_evaluation/… and the summary go.")
    ] = Path("."),
    reuse: Annotated[
        bool, typer.Option(help="Reuse stored results with the same instance, patch bytes, image id and eval script.")
    ] = True,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print summaries and per-instance results as JSON.")] = False,
) -> None:
    """Grade an agent's predictions in the instances' containers; write SWE-bench's reports.

    Writes logs/run_evaluation/RUN/MODEL/INSTANCE/report.json and MODEL.RUN.json under --report-dir.

    Example: factory eval --predictions preds.json --run-id agent-v1 --dataset dataset.jsonl --workers 4
    """
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from factory.harness import predictions as preds
    from factory.harness.dataset import dataset_from_store, load_dataset
    from factory.harness.evaluate import evaluate

    settings = _settings(db)
    loaded = predictions if predictions == preds.GOLD else preds.load(predictions)  # bad input fails first
    records = load_dataset(dataset) if dataset is not None else None
    with _open_store(settings) as store:
        if records is None:
            records = dataset_from_store(store)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("evaluating", total=None)

            def done(result) -> None:
                bar.advance(task)
                if not as_json:
                    note = f" ({result.reason})" if result.reason else ""
                    reused = f", reused from run {result.reused_from}" if result.reused_from else ""
                    line = f"  {result.instance_id} by {result.model}: {result.status}{note}{reused}"
                    bar.console.print(escape(line))

            with _resumable("eval"):
                report = evaluate(
                    loaded, records, run_id, store, settings, report_dir=report_dir, instance_ids=instance,
                    workers=workers, timeout=timeout, reuse=reuse, on_plan=lambda n: bar.update(task, total=n),
                    on_done=done, dataset_name=str(dataset) if dataset else str(settings.db_path),
                )
    if report.reaped_containers:
        console.print(f"removed {len(report.reaped_containers)} container(s) left by a killed run")
    for problem in report.problems:
        console.print(f"[yellow]skipped[/] {escape(problem)}")
    if as_json:
        out.print_json(json.dumps({
            "run_id": run_id,
            "seconds": round(report.seconds, 3),
            "containers_run": report.containers_run,
            "problems": report.problems,
            "summaries": {m: {"path": str(report.summary_paths[m]), **s} for m, s in report.summaries.items()},
            "results": [
                {"instance_id": r.instance_id, "model": r.model, "status": r.status, "reason": r.reason,
                 "seconds": r.seconds, "test_seconds": r.test_seconds, "reused_from": r.reused_from}
                for r in report.results
            ],
        }))
        return
    table = Table(title=f"evaluation {run_id}", show_header=True)
    for col in ("model", "instance", "status", "reason", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    colours = {"resolved": "green", "unresolved": "red", "error": "magenta", "empty": "dim"}
    for r in report.results:
        seconds = f"reused ({r.reused_from})" if r.reused_from else (f"{r.seconds:.1f}" if r.seconds else "-")
        table.add_row(escape(r.model), r.instance_id, f"[{colours[r.status]}]{r.status}[/]", escape(r.reason[:80]),
                      seconds)
    out.print(table)
    for model, summary in report.summaries.items():
        out.print(f"[bold]{escape(model)}[/]: {summary['resolved_instances']}/{summary['total_instances']} resolved, "
                  f"{summary['unresolved_instances']} unresolved, {summary['empty_patch_instances']} empty, "
                  f"{summary['error_instances']} error(s), {len(summary['incomplete_ids'])} without prediction")
        out.print(f"summary: {escape(str(report.summary_paths[model]))}")
    out.print(f"{report.containers_run} container run(s), {report.seconds:.1f}s")


@app.command("eval-status")
def eval_status(
    run_id: Annotated[str | None, typer.Argument(help="A run id; omit it to list every run.")] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Stored evaluation results: every run with its counts, or one run per instance.

    Example: factory eval-status agent-v1 --json
    """
    settings = _settings(db)
    with _open_store(settings) as store:
        if run_id is None:
            rows = store.eval_runs()
            if as_json:
                out.print_json(json.dumps(rows, default=str))
                return
            table = Table(title="evaluation runs", show_header=True)
            for col in ("run", "model", "instances", "resolved", "unresolved", "error", "empty", "reused"):
                table.add_column(col)
            for r in rows:
                table.add_row(r["run_id"], r["model"], *(str(r[k]) for k in (
                    "instances", "resolved", "unresolved", "error", "empty", "reused")))
            out.print(table)
            return
        rows = store.eval_results(run_id)
        if not rows:
            raise UserError(f"no evaluation results for run {run_id!r} in {settings.db_path}",
                            "run `factory eval-status` to list the runs, or pass the --db the run used")
        if as_json:
            keys = ("model", "instance_id", "status", "reason", "resolved", "seconds", "test_seconds", "reused_from",
                    "patch_sha256", "image_id", "log_dir")
            out.print_json(json.dumps({"run_id": run_id, "results": [{k: r[k] for k in keys} for r in rows]}))
            return
        table = Table(title=f"evaluation {run_id}", show_header=True)
        for col in ("model", "instance", "status", "reason", "reused from"):
            table.add_column(col)
        for r in rows:
            table.add_row(r["model"], r["instance_id"], r["status"], r["reason"][:80], r["reused_from"])
        out.print(table)


@app.command()
def validate(
    runs_after: Annotated[int | None, typer.Option(help="Confirm valid instances with fewer stored after-runs "
                                                   "than this (default: project's, else 2).")] = None,
    runs_before: Annotated[int | None, typer.Option(help="Before-runs of each confirmation (default: 1).")] = None,
    instance: Annotated[list[str] | None, typer.Option("--instance", help="Only this instance id (repeatable).")
                        ] = None,
    workers: Annotated[int | None, typer.Option(help="Instances validated in parallel (default: 1).")] = None,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Confirmation runs: validate valid instances again with more runs (the Prefect validate flow).

    A test that flips between runs demotes its instance to rejected(flaky). Instances that already have
    enough runs are skipped, so this is cheap to repeat.

    Example: factory validate --runs-after 5 --workers 2
    """
    from factory.core.models import Status, outcome_label
    from factory.core.project import ValidateOptions
    from flows.validate import validate_flow

    project = _project(config)
    options = ValidateOptions(
        runs_before=runs_before or project.validate_.runs_before, runs_after=runs_after or project.validate_.runs_after
    )
    with _resumable("validate"):
        outcomes = _run_flow(
            validate_flow, on_done=lambda i: console.print(f"  {i.instance_id}: {outcome_label(i.status, i.reason)}"),
            config=str(project.path) if project.path else None, options=options, instances=instance,
            workers=workers, db_lock_wait=0, **_store_paths(db, home),
        )
    kept = sum(o == Status.VALID.value for o in outcomes.values())
    out.print(f"Confirmed {kept} of {len(outcomes)} instance(s) with {options.runs_before} before / "
              f"{options.runs_after} after run(s)." if outcomes else "Nothing to confirm.")


@app.command()
def pipeline(
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Mine every source of the project file, build, validate and export — one Prefect pipeline run.

    Example: factory pipeline --config factory.toml
    """
    from flows.pipeline import pipeline_flow

    project = _project(config)
    if project.path is None:
        raise UserError("the pipeline needs a project file listing its sources",
                        "create factory.toml (see README) or pass --config FILE")
    with _resumable("pipeline"):
        result = _run_flow(
            pipeline_flow, config=str(project.path), db_lock_wait=0, **_store_paths(db, home),
        )
    built = result["build"]["outcomes"]
    out.print(f"mined {sum(r['added'] for r in result['mine'].values())} new candidate(s); built {len(built)}; "
              f"confirmed {len(result['validate'])}; exported {result['export']['instances']} instance(s) to "
              f"{result['export']['path']}")


@app.command()
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
    project = _project(config)
    console.print(f"serving the deployments of {project.path} (Ctrl-C stops; schedules pause until the next serve)")
    serve_deployments(project, limit)


@app.command()
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
    project = _project(config)
    names = deploy_deployments(project, pool)
    for name in names:
        out.print(f"deployed {name} → work pool {pool}")
    out.print(f"start a worker: prefect worker start --pool {pool}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the example repo, DB and dataset go.")] = Path(".factory/demo"),
    workers: Annotated[int, typer.Option(help="Parallel builds.")] = 1,
) -> None:
    """Run the whole pipeline on the built-in example and check every outcome (the build runs as a Prefect flow).

    Example: factory demo
    """
    from factory.core.models import outcome_label
    from factory.core.project import BuildOptions
    from factory.docker import base_images
    from factory.docker.runtime import connect
    from factory.mining.git_source import mine_git
    from factory.pipeline.demo import ensure_example, summary
    from factory.pipeline.export import export_jsonl

    settings = _settings(workdir / "demo.duckdb", workdir / "home")
    started = time.monotonic()
    repo = ensure_example(workdir / "tinyledger")
    client = connect()
    base_images.ensure(client, settings.default_python, settings, say=lambda m: console.print(m))
    with _resumable("demo"):
        with _open_store(settings) as store:
            mined = mine_git(str(repo), store, settings)
        console.print(f"mined {len(mined.added)} new candidate(s) from the example ({mined.scanned} commits)")
        from flows.build import build_flow

        def done(inst) -> None:
            console.print(f"  {inst.instance_id}: {outcome_label(inst.status, inst.reason)}")

        _run_flow(build_flow, on_done=done, options=BuildOptions(workers=workers), db=str(settings.db_path),
                  home=str(settings.home), db_lock_wait=0)
        with _open_store(settings) as store:
            dataset = workdir / "dataset.jsonl"
            n = export_jsonl(store, dataset)
            rows = summary(store, repo)
    table = Table(title="demo: every example commit and what the factory concluded")
    for col in ("commit", "subject", "instance", "expected", "observed", "env by", ""):
        table.add_column(col)
    for row in rows:
        table.add_row(row.sha, row.subject, row.instance_id, row.expected, row.observed, row.builder,
                      "[green]ok[/]" if row.ok else "[red]MISMATCH[/]")
    out.print(table)
    out.print(f"dataset: {dataset} ({n} valid instances); {time.monotonic() - started:.0f}s")
    if not all(r.ok for r in rows):
        raise UserError("some example commits did not reach their expected outcome",
                        "see the table above and the logs under " + str(settings.runs_dir))


@app.command()
def doctor(db: DbOption = None, home: HomeOption = None) -> None:
    """Check Docker, base image, CA bundle and DB; say what to do for each problem.

    Example: factory doctor
    """
    from factory.pipeline.doctor import run_checks

    settings = _settings(db, home)
    ok = True
    for check in run_checks(settings):
        mark = "[green]OK[/]" if check.ok else "[red]FAIL[/]"
        out.print(f"{mark:>20}  {check.name}: {check.detail}")
        if not check.ok:
            ok = False
            out.print(f"{'':>8}  fix: {check.fix}")
    if not ok:
        raise typer.Exit(1)


@app.command()
def clean(
    older_than: Annotated[
        str | None, typer.Option(help="Also remove env/instance images unused for this long: 30m, 12h, 7d, 2w.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    repo: Annotated[str | None, typer.Option(help="Only images of this repository (owner/name).")] = None,
    max_image_gb: Annotated[
        float | None, typer.Option(help="Image budget: evict least recently used env/instance images beyond it.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Remove containers and old images the factory left behind — only objects labelled issue-factory=1.

    Base images are kept; an image a container still uses is skipped. Last use of an image comes from the
    store (builds, verdicts), else its creation time.

    Example: factory clean --older-than 7d --dry-run
    Example: factory clean --max-image-gb 200
    """
    from factory.docker.cleanup import clean as clean_engine
    from factory.docker.cleanup import parse_duration
    from factory.docker.runtime import connect

    age = parse_duration(older_than) if older_than else None
    settings = _settings(db)
    last_use = {}
    if settings.db_path.exists():
        from factory.store import Store

        with Store(settings.db_path, read_only=True) as store:
            last_use = store.image_last_use()
    if max_image_gb is not None and max_image_gb < 0:
        raise UserError(f"--max-image-gb {max_image_gb} is negative", "give a size in GB, e.g. 200")
    budget = int(max_image_gb * 1e9) if max_image_gb is not None else None
    report = clean_engine(connect(), age, last_use, dry_run, repos=[repo] if repo else None, max_bytes=budget)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {len(report.containers)} container(s), {len(report.images)} image(s) "
              f"({report.freed_bytes / 1e9:.2f} GB)")
    for name in report.containers + report.images:
        out.print(f"  {name}")
    for note in report.skipped:
        out.print(f"  kept: {note}")


@images_app.command("bootstrap")
def images_bootstrap(
    python: Annotated[str, typer.Option(help="Python version: 3.9, 3.11 or 3.13.")] = "3.11",
    home: HomeOption = None,
) -> None:
    """Build the base image offline: debootstrap → docker import → CA bundle + venv layer.

    Example: factory images bootstrap --python 3.11
    """
    from factory.docker import base_images
    from factory.docker.runtime import connect

    settings = _settings(home=home)
    client = connect()
    if base_images.is_current(client, python, settings):
        out.print(f"{base_images.base_tag(python)} is up to date")
        return
    tag = base_images.bootstrap(client, python, settings, say=lambda m: console.print(m))
    out.print(f"built {tag}")


@images_app.command("ensure")
def images_ensure(
    python: Annotated[str, typer.Option(help="Python version: 3.9, 3.11 or 3.13.")] = "3.11",
    home: HomeOption = None,
) -> None:
    """Make sure the base image exists: reuse, else pull python:<ver>-slim, else bootstrap.

    Example: factory images ensure
    """
    from factory.docker import base_images
    from factory.docker.runtime import connect

    settings = _settings(home=home)
    tag = base_images.ensure(connect(), python, settings, say=lambda m: console.print(m))
    out.print(tag)


def main() -> None:
    try:
        app()
    except UserError as exc:
        from rich.markup import escape

        # escaped: a path or a TOML table name in brackets must not be read as rich markup
        console.print(f"[bold red]error:[/] {escape(exc.what)}")
        console.print(f"[bold]fix:[/] {escape(exc.fix)}")
        sys.exit(2)
    except KeyboardInterrupt:
        console.print("interrupted: finished steps are stored; run the same command again to resume")
        sys.exit(130)
