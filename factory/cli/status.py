"""``factory status`` and ``factory export``: what the store holds, and the SWE-bench-compatible dataset
written from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.build import print_counts
from factory.cli.common import ConfigOption, DbOption, open_store, out, project_settings, setting_help
from factory.core.errors import UserError


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False,
    list_all: Annotated[bool, typer.Option("--list", help="List every instance with its status.")] = False,
    db: DbOption = None,
) -> None:
    """Counts of instances per status and reason.

    Example: factory status --json
    """
    settings = project_settings(db=db)
    with open_store(settings) as store:
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
        print_counts(counts)
        if list_all:
            table = Table(show_header=True)
            for col in ("instance", "status", "reason", "detail"):
                table.add_column(col)
            for inst in store.instances():
                table.add_row(inst.instance_id, inst.status.value, inst.reason, inst.detail.splitlines()[0][:80]
                              if inst.detail else "")
            out.print(table)


def export(
    out_path: Annotated[
        Path | None, typer.Option("--out", help="File (jsonl, parquet) or directory (hf) to write (default: the "
                                  "project file's export.out).")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help=setting_help("export.format"))] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Also export rejected/failed instances.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Write valid instances as a SWE-bench-compatible dataset (JSONL, parquet, or a Hugging Face directory).

    Example: factory export --out dataset.jsonl; factory export --format hf --out dataset-hf
    """
    from factory.pipeline.export import FORMATS, export

    project = project_settings(config, db)
    fmt = fmt or project.export.format
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}", f"pass --format {' | '.join(FORMATS)}")
    if out_path is None:
        if project.path is None:
            raise UserError("no --out given and no project file", "pass --out FILE.jsonl (or --config factory.toml)")
        out_path = project.resolve(project.export.out)
    if fmt != "jsonl" and out_path.suffix == ".jsonl":
        raise UserError(f"--format {fmt} does not write JSONL, but the output is {out_path}",
                        "pass --out DIR for hf or --out FILE.parquet for parquet")
    with open_store(project) as store:
        n = export(store, out_path, fmt, include_all or project.export.include_all)
    out.print(f"wrote {n} instance(s) to {out_path}")
