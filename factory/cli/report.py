"""``factory report``: write the static HTML report of the store (overview, instances, evaluation runs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from factory.cli.common import DbOption, console, out, project_settings, reading


def report(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write the site into (replaced if it holds "
                                          "an earlier report).")] = Path("report"),
    open_it: Annotated[bool, typer.Option("--open", help="Open the overview in a browser when done.")] = False,
    engine: Annotated[bool, typer.Option("--engine/--no-engine", help="Ask the Docker engine for image sizes "
                                         "(without it the report is the store's alone).")] = True,
    copy_logs: Annotated[bool, typer.Option("--logs/--no-logs", help="Copy the logs pages link to into the site "
                                            "(--no-logs: link to them where they lie; smaller, this machine only).")
                         ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was written (paths, counts) as JSON.")
                       ] = False,
    db: DbOption = None,
) -> None:
    """Write a static HTML report of the store: overview with charts, one page per instance, evaluation runs.

    No server and no script: open report/index.html from disk or put the folder on any static host.

    Example: factory report --out report/ --open
    """
    from factory.report import build_report

    settings = project_settings(db=db)
    with reading(settings) as store, Progress(  # read-only: it works while a build runs
        TextColumn("instance pages"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("pages", total=None)
        written = build_report(store, out_dir, engine=engine, copy_logs=copy_logs,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        out.print_json(json.dumps(written.as_dict()))
    else:
        out.print(f"wrote {written.pages} page(s) for {written.instances} instance(s) and {written.runs} "
                  f"evaluation run(s) to {written.out} ({written.bytes / 1e6:.1f} MB, {written.logs} log(s)); "
                  f"open {written.index}")
    if open_it:
        import webbrowser

        webbrowser.open(written.index.as_uri())
