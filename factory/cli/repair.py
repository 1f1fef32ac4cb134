"""``factory repair``: split an export by time, train the repair agent's memory on the earlier issues, evaluate
it on the later ones under every memory configuration, and print the ablation report.

Files a user can read live in the split folder (``train.jsonl``, ``test.jsonl``, ``split.json``, then
``train-results.json`` and ``eval-results.json`` with every attempt); memory, the LLM ledger and the
harness's results live in the DuckDB store (``--db``). The model is the ``[llm]`` setting
(``FACTORY_LLM_*``; ``factory config`` shows it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress

from agents.repair.config import RepairConfig
from factory.cli.common import ConfigOption, DbOption, HomeOption, console, out, project_settings
from factory.core.errors import UserError

repair_app = typer.Typer(help="The experience-memory repair agent: split, train, eval, report.", no_args_is_help=True)
SplitOption = Annotated[Path, typer.Option("--split", help="The split folder `factory repair split` wrote.")]
CandidatesOption = Annotated[int, typer.Option(help="Patches per attempt (the agent's `candidates`).")]
MaxCallsOption = Annotated[int | None, typer.Option(help="LLM calls per attempt (default: the "
                                                     "`build.max_llm_calls` setting).", show_default=False)]
ReplayOption = Annotated[bool, typer.Option(help="Answer LLM calls from the recorded ledger only.")]


@repair_app.command("split")
def split_command(
    dataset: Annotated[Path, typer.Option("--dataset", help="Dataset JSONL (`factory export`).")],
    before: Annotated[str, typer.Option("--before", help="Issues created before this date train (ISO).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for train.jsonl, test.jsonl, split.json.")
                       ] = Path("repair-split"),
    repo_disjoint: Annotated[bool, typer.Option("--repo-disjoint", help="Keep test repositories out of train.")
                             ] = False,
) -> None:
    """Split a dataset by time (and optionally by repository) into train and test files.

    Example: factory repair split --dataset dataset.jsonl --before 2024-01-01 --out split/
    """
    from factory.harness.dataset import load_dataset
    from factory.pipeline.repair_cycle import split

    try:
        cutoff = datetime.fromisoformat(before)
    except ValueError as exc:
        raise UserError(f"--before {before!r} is not a date", "use ISO format, e.g. 2024-01-01") from exc
    cutoff = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
    train, test = split(load_dataset(dataset), cutoff, out_dir, repo_disjoint)
    out.print(f"train: {len(train)} issue(s) before {cutoff.date()}; test: {len(test)}; written to {out_dir}")
    if not train or not test:
        console.print("[yellow]one side is empty: pick another --before[/]")


@repair_app.command("train")
def train_command(
    split_dir: SplitOption = Path("repair-split"),
    mode: Annotated[str, typer.Option(help="Memory written and used while training: episodic, semantic, both.")
                    ] = "both",
    candidates: CandidatesOption = RepairConfig.model_fields["candidates"].default,
    max_calls: MaxCallsOption = None,
    replay: ReplayOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Run the agent on the train split in time order; each attempt is graded and remembered.

    Example: FACTORY_LLM_BASE_URL=http://127.0.0.1:8000/v1 FACTORY_LLM_MODEL=qwen factory repair train --split split/
    """
    from factory.pipeline.repair_cycle import open_context, read_split, save_results, train
    from factory.store import Store
    from memory_pool.experience import ExperienceMemory

    if mode not in ("episodic", "semantic", "both"):
        raise UserError(f"--mode {mode!r} is not a training mode", "use episodic, semantic or both")
    records = read_split(split_dir, "train")
    settings = project_settings(config, db, home)
    with Store(settings.db_path) as store, Progress(console=console, transient=True) as bar:
        ctx = open_context(settings, store, split_dir / "reports", candidates=candidates, max_calls=max_calls,
                           replay=replay)
        task = bar.add_task("training", total=len(records))
        ctx.on_done = lambda _name, g: (bar.advance(task), bar.console.print(f"  {g.attempt.instance_id}: {g.status}"))
        graded = train(ctx, records, ExperienceMemory(store), f"train-{datetime.now(UTC):%Y%m%dT%H%M%S}", mode,
                       state_dir=split_dir)
    save_results(split_dir / "train-results.json", {"train": graded})
    resolved = sum(g.status == "resolved" for g in graded)
    out.print(f"trained on {len(graded)} issue(s): {resolved} resolved; memory in {ctx.settings.db_path}")


@repair_app.command("eval")
def eval_command(
    split_dir: SplitOption = Path("repair-split"),
    configs: Annotated[str, typer.Option(help="Comma-separated: none, episodic, semantic, both, random.")
                       ] = "none,episodic,semantic,both,random",
    curve: Annotated[str, typer.Option(help="Learning curve: also `both` with only the first N train cases, "
                                       "for each N of this comma-separated list (e.g. 0,5,10).")] = "",
    online: Annotated[bool, typer.Option("--online/--frozen", help="Online memory: each test attempt is "
                                         "remembered with the agent's own verdict (never the harness's) for "
                                         "later test issues; default frozen.")] = False,
    candidates: CandidatesOption = RepairConfig.model_fields["candidates"].default,
    max_calls: MaxCallsOption = None,
    replay: ReplayOption = False,
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
) -> None:
    """Evaluate the test split under each memory configuration (memory frozen), graded by the harness.

    Example: factory repair eval --split split/ --configs none,both
    """
    from factory.pipeline.repair_cycle import (
        CONFIGS,
        evaluate_configs,
        load_reranker,
        open_context,
        read_split,
        save_results,
    )
    from factory.pipeline.repair_report import render, rows
    from factory.store import Store

    names = [c.strip() for c in configs.split(",") if c.strip()]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown or not names:
        raise UserError(f"unknown configuration(s): {', '.join(unknown) or '(none given)'}",
                        f"choose from {', '.join(CONFIGS)}")
    try:
        sizes = [int(n) for n in curve.split(",") if n.strip()]
    except ValueError as exc:
        raise UserError(f"--curve {curve!r} is not a list of numbers", "use e.g. --curve 0,5,10") from exc
    records = read_split(split_dir, "test")
    settings = project_settings(config, db, home)
    with Store(settings.db_path) as store, Progress(console=console, transient=True) as bar:
        ctx = open_context(settings, store, split_dir / "reports", candidates=candidates, max_calls=max_calls,
                           replay=replay)
        task = bar.add_task("evaluating", total=len(records) * (len(names) + len(sizes)))
        ctx.on_done = lambda name, g: (bar.advance(task),
                                       bar.console.print(f"  [{name}] {g.attempt.instance_id}: {g.status}"))
        results = evaluate_configs(ctx, records, store, f"eval-{datetime.now(UTC):%Y%m%dT%H%M%S}", names,
                                   load_reranker(split_dir), sizes, online)
        table = rows(results, store)
    save_results(split_dir / "eval-results.json", results)
    out.print(render(table))


@repair_app.command("report")
def report_command(
    split_dir: SplitOption = Path("repair-split"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the table as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Print the ablation table of the last `factory repair eval` of a split.

    Example: factory repair report --split split/ --json
    """
    from factory.pipeline.repair_cycle import load_results
    from factory.pipeline.repair_report import render, rows
    from factory.store import Store

    results = load_results(split_dir / "eval-results.json")
    settings = project_settings(db=db)
    with Store(settings.db_path, read_only=True) as store:
        table = rows(results, store)
    if as_json:
        out.print_json(json.dumps([{**vars(r), "rate": r.rate, "interval": r.interval} for r in table]))
        return
    out.print(render(table))


@repair_app.command("trajectories")
def trajectories_command(
    split_dir: SplitOption = Path("repair-split"),
    out_path: Annotated[Path, typer.Option("--out", help="Chat-format JSONL to write.")] = Path("trajectories.jsonl"),
    source: Annotated[str, typer.Option("--from", help="train, or eval (every configuration's test attempts).")
                      ] = "train",
    db: DbOption = None,
) -> None:
    """Export the resolved attempts' conversations as chat-format JSONL, for fine-tuning.

    Example: factory repair trajectories --split split/ --out trajectories.jsonl
    """
    from factory.pipeline.repair_cycle import load_results
    from factory.pipeline.trajectories import trajectories, write_jsonl
    from factory.store import Store

    if source not in ("train", "eval"):
        raise UserError(f"--from {source!r} is neither train nor eval", "use --from train or --from eval")
    results = load_results(split_dir / f"{source}-results.json")
    with Store(project_settings(db=db).db_path, read_only=True) as store:
        n = write_jsonl(trajectories(store, results), out_path)
    out.print(f"wrote {n} conversation(s) of resolved attempts to {out_path}")
