"""``factory memory``: look into, export and import the environment memory pool (memory_pool.environment).

Same conventions as every command (:mod:`factory.cli.common`): thin commands, heavy imports inside them,
``--db`` everywhere, ``--json`` where a script would want it, and a :class:`UserError` for anything the
user can fix.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from factory.cli.common import DbOption, console, out, project_settings

memory_app = typer.Typer(
    help="The environment memory pool: recipes proven by fail2pass, shareable as a JSONL file.",
    no_args_is_help=True,
)


@contextmanager
def _pool(db: Path | None):
    """The pool over the store at ``--db`` (or FACTORY_DB, or ./factory.duckdb); closed on exit."""
    from factory.store import Store
    from memory_pool.environment import EnvironmentPool

    settings = project_settings(db=db)
    with Store(settings.db_path) as store:
        yield EnvironmentPool(store)


def _summary(entry) -> dict:
    return {
        "recipe_id": entry.recipe_id,
        "repo": entry.repo,
        "language": entry.language,
        "python_version": entry.recipe.python_version,
        "version": entry.version,
        "commit_date": entry.commit_date.isoformat(),
        "fingerprint": entry.fingerprint,
        "image_tag": entry.image_tag,
        "successes": entry.successes,
        "failures": entry.failures,
        "demoted": entry.demoted,
        "builder": entry.builder,
        "provenance": entry.provenance,
        "dependencies": entry.dependencies,
    }


@memory_app.command("ls")
def memory_ls(
    repo: Annotated[str | None, typer.Option("--repo", help="Only entries of this owner/name.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of entries (no Dockerfiles).")] = False,
    db: DbOption = None,
) -> None:
    """List the proven recipes in the pool, with their success/failure counts.

    Example: factory memory ls --repo pallets/click
    """
    with _pool(db) as pool:
        entries = pool.entries(repo)
    if as_json:
        out.print_json(json.dumps([_summary(e) for e in entries]))
        return
    if not entries:
        where = f" for {repo}" if repo else ""
        out.print(f"The memory pool is empty{where}: recipes enter it when their environment passes fail2pass.")
        return
    table = Table(title="environment memory", show_header=True)
    for col in ("id", "repo", "python", "ok/fail", "demoted", "builder", "proofs"):
        table.add_column(col, justify="right" if col == "proofs" else "left")
    for e in entries:
        table.add_row(
            e.recipe_id[:12], escape(e.repo), e.recipe.python_version, f"{e.successes}/{e.failures}",
            "[red]yes[/]" if e.demoted else "", escape(e.builder), str(len(e.provenance)),
        )
    out.print(table)


@memory_app.command("show")
def memory_show(
    recipe_id: Annotated[str, typer.Argument(help="Entry id or a unique prefix of it (see `factory memory ls`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole entry as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Show one recipe: its JSON, the Dockerfile it rendered to, and the instances that proved it.

    Example: factory memory show 3f2a9c1b
    """
    with _pool(db) as pool:
        entry = pool.get(recipe_id)
    if as_json:
        out.print_json(json.dumps(entry.model_dump(mode="json")))
        return
    status = " [red](demoted)[/]" if entry.demoted else ""
    out.print(f"[bold]{entry.recipe_id}[/]{status}")
    for line in (
        f"repo {entry.repo} ({entry.language}), version {entry.version or '-'}, "
        f"first proof at commit date {entry.commit_date.isoformat()}",
        f"successes {entry.successes}, failures {entry.failures}, found by {entry.builder}",
        f"fingerprint {entry.fingerprint}, image {entry.image_tag or '-'}",
        f"dependencies: {', '.join(entry.dependencies) or '-'}",
    ):
        out.print(line, markup=False, highlight=False)
    out.print("\n[bold]recipe[/]")
    out.print_json(entry.recipe.model_dump_json())
    out.print("\n[bold]Dockerfile[/]")
    out.print(entry.dockerfile, markup=False, highlight=False)
    out.print(f"[bold]provenance[/] ({len(entry.provenance)} instance(s))")
    for instance_id in entry.provenance:
        out.print(f"  {instance_id}", markup=False, highlight=False)


@memory_app.command("export")
def memory_export(
    out_path: Annotated[Path, typer.Option("--out", help="JSONL file to write (replaced atomically).")],
    db: DbOption = None,
) -> None:
    """Write the whole pool as JSONL, one entry per line, so another team can import it.

    Example: factory memory export --out env-memory.jsonl
    """
    with _pool(db) as pool:
        n = pool.export(out_path)
    out.print(f"wrote {n} memory entr{'y' if n == 1 else 'ies'} to {out_path}")


@memory_app.command("import")
def memory_import(
    path: Annotated[Path, typer.Argument(help="JSONL file written by `factory memory export`.")],
    db: DbOption = None,
) -> None:
    """Merge a pool file into this pool (by recipe id); malformed lines are reported and skipped.

    Exit code 1 when a line was skipped (everything else is imported all the same).

    Example: factory memory import env-memory.jsonl
    """
    with _pool(db) as pool:
        report = pool.import_(path)
    out.print(f"imported {path}: {report.added} added, {report.merged} merged, "
              f"{len(report.bad_lines)} line(s) skipped")
    for number, problem in report.bad_lines:
        console.print(f"  line {number}: {problem}", markup=False, highlight=False)
    if report.bad_lines:
        raise typer.Exit(1)
