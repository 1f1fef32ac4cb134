"""``factory eval`` and ``factory eval-status``: grade an agent's predictions in the instances'
containers (SWE-bench's reports and summary), and read the stored results back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.common import DbOption, console, open_store, out, project_settings, reading, resumable
from factory.core.errors import UserError


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

    settings = project_settings(db=db)
    loaded = predictions if predictions == preds.GOLD else preds.load(predictions)  # bad input fails first
    records = load_dataset(dataset) if dataset is not None else None
    with open_store(settings) as store:
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

            with resumable("eval"):
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


def eval_status(
    run_id: Annotated[str | None, typer.Argument(help="A run id; omit it to list every run.")] = None,
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Stored evaluation results: every run with its counts, or one run per instance (works while
    `factory build` or `factory eval` runs: it only reads).

    Example: factory eval-status agent-v1 --json
    """
    settings = project_settings(db=db)
    with reading(settings) as store:
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

