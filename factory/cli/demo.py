"""``factory demo``: the whole pipeline on the built-in example, with every commit's expected and
observed outcome side by side (so the demo is also an end-to-end check)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.common import console, open_store, out, resumable, run_flow
from factory.core.errors import UserError


def demo(
    workdir: Annotated[Path, typer.Option(help="Where the example repo, DB and dataset go.")] = Path(".factory/demo"),
    workers: Annotated[int, typer.Option(help="Parallel builds.")] = 1,
) -> None:
    """Run the whole pipeline on the built-in example and check every outcome (the build runs as a Prefect flow).

    Example: factory demo
    """
    from factory.core.models import outcome_label
    from factory.core.resolve import resolve
    from factory.docker import base_images
    from factory.docker.runtime import connect
    from factory.mining.git_source import mine_git
    from factory.pipeline.demo import ensure_example, summary
    from factory.pipeline.export import export_jsonl

    # the demo's own store and home, whatever factory.toml says (the environment still applies)
    settings = resolve(None, flags={"db": str(workdir / "demo.duckdb"), "home": str(workdir / "home"),
                                    "build.workers": workers})
    started = time.monotonic()
    repo = ensure_example(workdir / "tinyledger")
    client = connect()
    base_images.ensure(client, settings.images.default_python, settings, say=lambda m: console.print(m))
    with resumable("demo"):
        with open_store(settings) as store:
            mined = mine_git(str(repo), store, settings)
        console.print(f"mined {len(mined.added)} new candidate(s) from the example ({mined.scanned} commits)")
        from flows.build import build_flow

        def done(inst) -> None:
            console.print(f"  {inst.instance_id}: {outcome_label(inst.status, inst.reason)}")

        run_flow(build_flow, on_done=done, options=settings.build, db=str(settings.db_path),
                 home=str(settings.home), db_lock_wait=0)
        with open_store(settings) as store:
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

