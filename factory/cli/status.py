"""``factory status`` and ``factory export``: what the store holds, and the SWE-bench-compatible dataset
written from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.build import print_counts
from factory.cli.common import ConfigOption, DbOption, out, project_settings, reading
from factory.core.errors import UserError
from factory.core.models import IN_FLIGHT


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False,
    list_all: Annotated[bool, typer.Option("--list", help="List every instance with its status.")] = False,
    db: DbOption = None,
) -> None:
    """Counts of instances per status and reason; works while `factory build` runs (it only reads).

    The JSON also says how many instances are stored (``total``) and which are being built or validated right now
    (``in_progress``).

    Example: factory status --json
    """
    settings = project_settings(db=db)
    with reading(settings) as store:  # one consistent view, then the file is free again
        counts = store.counts()
        instances = store.instances()
        if as_json:
            payload: dict = {"counts": counts, "total": len(instances),
                             "in_progress": [i.instance_id for i in instances if i.status in IN_FLIGHT]}
            if list_all:
                payload["instances"] = [
                    {"instance_id": i.instance_id, "status": i.status.value, "reason": i.reason}
                    for i in instances
                ]
            out.print_json(json.dumps(payload))
            return
        print_counts(counts)
        if list_all:
            table = Table(show_header=True)
            for col in ("instance", "status", "reason", "detail"):
                table.add_column(col)
            for inst in instances:
                table.add_row(inst.instance_id, inst.status.value, inst.reason, inst.detail.splitlines()[0][:80]
                              if inst.detail else "")
            out.print(table)


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

    project = project_settings(config, db)
    if out_path is None:
        if project.path is None:
            raise UserError("no --out given and no project file", "pass --out FILE.jsonl (or --config factory.toml)")
        out_path = project.resolve(project.export.out)
    with reading(project) as store:
        n = export_jsonl(store, out_path, include_all or project.export.include_all)
    out.print(f"wrote {n} instance(s) to {out_path}")

