"""``factory status`` and ``factory export``: what the store holds, and the SWE-bench-compatible dataset
written from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from factory.cli.build import print_counts
from factory.cli.common import ConfigOption, DbOption, out, project_settings, reading, setting_help
from factory.core.errors import UserError
from factory.core.models import IN_FLIGHT


def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print counts as JSON.")] = False,
    list_all: Annotated[bool, typer.Option("--list", help="List every instance with its status.")] = False,
    db: DbOption = None,
) -> None:
    """Counts of instances per status and reason; works while `factory build` runs (it only reads).

    The JSON also says how many instances are stored (total) and which are being built or validated right now
    (in_progress).

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
        Path | None, typer.Option("--out", help="File (jsonl, parquet) or directory (hf) to write (default: the "
                                  "project file's export.out; with --format instances: <that>.all-instances.jsonl).")
    ] = None,
    fmt: Annotated[str | None, typer.Option("--format", help=setting_help("export.format") + " Or instances: "
                   "every instance, rejected and failed too, for analysis, to a file whose name ends in "
                   "instances.jsonl and whose rows say export_format = not a SWE-bench dataset.")] = None,
    include_all: Annotated[bool, typer.Option(
        "--all", help="Refused: rejected instances have no FAIL_TO_PASS and do not belong in a SWE-bench dataset; "
                      "use --format instances.")] = False,
    config: ConfigOption = None,
    db: DbOption = None,
) -> None:
    """Write valid instances as a SWE-bench-compatible dataset (JSONL, parquet, or a Hugging Face directory),
    or, with --format instances, every instance to a separate analysis file. Only reads the store, so it works
    while `factory build` runs.

    With \\[export] include_all = true in factory.toml the analysis file is written next to the dataset too.

    Example: factory export --out dataset.jsonl; factory export --format hf --out dataset-hf

    Example: factory export --format instances --out dataset.all-instances.jsonl
    """
    from factory.pipeline.export import FORMATS, export
    from factory.pipeline.instances_export import check_name, default_path, export_instances

    if include_all:
        raise UserError("--all would write rejected and failed instances (empty FAIL_TO_PASS) into a SWE-bench "
                        "dataset, where any harness grades them resolved",
                        "export them apart: factory export --format instances (file <dataset>.all-instances.jsonl)")
    project = project_settings(config, db)
    fmt = fmt or project.export.format
    if fmt not in (*FORMATS, "instances"):
        raise UserError(f"unknown export format {fmt!r}", f"pass --format {' | '.join(FORMATS)} | instances")
    if out_path is None:
        if project.path is None:
            raise UserError("no --out given and no project file", "pass --out FILE.jsonl (or --config factory.toml)")
        dataset = project.resolve(project.export.out)
        out_path = default_path(dataset) if fmt == "instances" else dataset
    if fmt == "instances":
        check_name(out_path)  # before reading anything
        with reading(project) as store:
            n = export_instances(store, out_path)
        out.print(f"wrote {n['instances']} instance(s), {n['swebench_tasks']} of them valid tasks, to {out_path} "
                  "(analysis only: not a SWE-bench dataset)")
        return
    if fmt != "jsonl" and out_path.suffix == ".jsonl":
        raise UserError(f"--format {fmt} does not write JSONL, but the output is {out_path}",
                        "pass --out DIR for hf or --out FILE.parquet for parquet")
    with reading(project) as store:
        n = export(store, out_path, fmt)
        extra = export_instances(store, default_path(out_path)) if project.export.include_all else None
    out.print(f"wrote {n} instance(s) to {out_path}")
    if extra is not None:
        out.print(f"wrote every instance ({extra['instances']}) to {default_path(out_path)} ([export] include_all; "
                  "not a SWE-bench dataset)")
