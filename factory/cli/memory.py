"""``factory memory``: look into, export and import the memory pools — proven environment recipes
(memory_pool.environment: ``ls``, ``show``) and the repair agent's experience (memory_pool.experience:
``cases``, ``insights``); ``export`` / ``import`` take ``--kind env|experience`` (env by default).

Same conventions as every command (:mod:`factory.cli.common`): thin commands, heavy imports inside them,
``--db`` everywhere, ``--json`` where a script would want it, and a :class:`UserError` for anything the
user can fix.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from factory.cli.common import DbOption, console, out, project_settings
from factory.core.errors import UserError

memory_app = typer.Typer(
    help="The memory pools: environment recipes proven by fail2pass, and the repair agent's experience "
    "(cases and insights); each shareable as a JSONL file.",
    no_args_is_help=True,
)


class Kind(StrEnum):
    """Which memory ``export`` / ``import`` work on."""

    env = "env"
    experience = "experience"


KindOption = Annotated[
    Kind, typer.Option("--kind", help="env: environment recipes; experience: repair cases and insights.")
]


@contextmanager
def _pool(db: Path | None):
    """The pool over the store at ``--db`` (or FACTORY_DB, or ./factory.duckdb); closed on exit."""
    from factory.store import Store
    from memory_pool.environment import EnvironmentPool

    settings = project_settings(db=db)
    with Store(settings.db_path) as store:
        yield EnvironmentPool(store)


@contextmanager
def _experience(db: Path | None, *, write: bool = False, online: bool = False):
    """The experience memory over the store at ``--db``; read-only (frozen) unless ``write``."""
    from factory.store import Store
    from memory_pool.experience import ExperienceMemory

    settings = project_settings(db=db)
    with Store(settings.db_path) as store:
        yield ExperienceMemory(store, frozen=not write, online=online)


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
    kind: KindOption = Kind.env,
    db: DbOption = None,
) -> None:
    """Write a whole memory as JSONL, one record per line, so another team can import it.

    --kind env (the default): one environment recipe per line.

    --kind experience: every repair case, then every insight (retired too), each with "kind": "case" | "insight".

    Example: factory memory export --out env-memory.jsonl

    Example: factory memory export --kind experience --out experience.jsonl
    """
    if kind is Kind.experience:
        with _experience(db) as memory:
            cases, insights = memory.export(out_path)
        out.print(f"wrote {cases} case(s) and {insights} insight(s) to {out_path}")
        return
    with _pool(db) as pool:
        n = pool.export(out_path)
    out.print(f"wrote {n} memory entr{'y' if n == 1 else 'ies'} to {out_path}")


def _skipped(bad_lines: list[tuple[int, str]]) -> None:
    for number, problem in bad_lines:
        console.print(f"  line {number}: {problem}", markup=False, highlight=False)
    if bad_lines:
        raise typer.Exit(1)


@memory_app.command("import")
def memory_import(
    path: Annotated[Path, typer.Argument(help="JSONL file written by `factory memory export`.")],
    kind: KindOption = Kind.env,
    online: Annotated[bool, typer.Option(
        "--online", help="Experience only: accept test-split cases (with self-verified outcomes only).")] = False,
    db: DbOption = None,
) -> None:
    """Merge a memory file into this store; malformed lines are reported (by line number) and skipped.

    --kind env (the default) merges recipes by id (counts add up).

    --kind experience adds the cases and insights whose ids are not here yet: importing twice changes nothing.

    Test-split cases are refused unless --online, and then only with self_verified / self_failed outcomes.

    Exit code 1 when a line was skipped (everything else is imported all the same).

    Example: factory memory import env-memory.jsonl

    Example: factory memory import --kind experience experience.jsonl
    """
    if kind is Kind.experience:
        with _experience(db, write=True, online=online) as memory:
            report = memory.import_(path)
        out.print(f"imported {path}: {report.cases_added} case(s) and {report.insights_added} insight(s) added, "
                  f"{report.already} already here, {len(report.bad_lines)} line(s) skipped")
        if report.evicted:
            out.print(f"the cap of {memory.cap} active insights per stage retired {len(report.evicted)}: "
                      + ", ".join(i[:12] for i in report.evicted))
        _skipped(report.bad_lines)
        return
    if online:
        raise UserError("--online is for --kind experience", "drop --online, or add --kind experience")
    with _pool(db) as pool:
        report = pool.import_(path)
    out.print(f"imported {path}: {report.added} added, {report.merged} merged, "
              f"{len(report.bad_lines)} line(s) skipped")
    _skipped(report.bad_lines)


# ---- experience views -----------------------------------------------------------------------------


def _case_summary(case) -> dict:
    return {
        "case_id": case.case_id,
        "instance_id": case.instance_id,
        "repo": case.repo,
        "pr_number": case.pr_number,
        "base_commit": case.base_commit,
        "issue_created_at": case.issue_created_at.isoformat(),
        "outcome": case.outcome,
        "positive": case.positive,
        "files": case.files,
        "functions": case.functions,
        "candidates": len(case.candidate_patches),
        "cost": case.cost.model_dump(),
        "provenance": case.provenance.model_dump(mode="json"),
    }


@memory_app.command("cases")
def memory_cases(
    repo: Annotated[str | None, typer.Option("--repo", help="Only cases of this owner/name.")] = None,
    split: Annotated[str | None, typer.Option("--split", help="Only cases of this split: train or test.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print a JSON list of cases (no issue texts, scripts or patches).")] = False,
    db: DbOption = None,
) -> None:
    """List the repair agent's episodic memory: one case per run and task, oldest issue first.

    Example: factory memory cases --repo pallets/click --json
    """
    with _experience(db) as memory:
        cases = memory.cases(split=split, repo=repo)
    if as_json:
        out.print_json(json.dumps([_case_summary(c) for c in cases]))
        return
    if not cases:
        where = (f" for {repo}" if repo else "") + (f" in the {split} split" if split else "")
        out.print(f"No experience cases{where}: a repair run writes one per task it attempts.")
        return
    table = Table(title="experience cases", show_header=True)
    for col in ("id", "instance", "issue date", "outcome", "split", "run", "model", "files", "$"):
        table.add_column(col, justify="right" if col in ("files", "$") else "left")
    for c in cases:
        outcome = f"[green]{c.outcome}[/]" if c.positive else c.outcome
        table.add_row(
            c.case_id[:12], escape(c.instance_id), c.issue_created_at.date().isoformat(), outcome,
            c.provenance.split, escape(c.provenance.run_id), escape(c.provenance.model), str(len(c.files)),
            f"{c.cost.usd:.2f}",
        )
    out.print(table)


@memory_app.command("insights")
def memory_insights(
    stage: Annotated[str | None, typer.Option(
        "--stage", help="Only insights of this stage: reproduce, localize, patch or select.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Retired insights too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of insights.")] = False,
    db: DbOption = None,
) -> None:
    """List the repair agent's semantic memory: lessons per stage with support/contradiction counts.

    Example: factory memory insights --stage patch
    """
    with _experience(db) as memory:
        insights = memory.insights(stage, active_only=not all_)
    if as_json:
        out.print_json(json.dumps([{**i.model_dump(mode="json"), "score": i.score} for i in insights]))
        return
    if not insights:
        where = f" for the {stage} stage" if stage else ""
        out.print(f"No {'' if all_ else 'active '}insights{where}: they are added from cases by a repair run.")
        return
    table = Table(title="experience insights", show_header=True)
    for col in ("id", "stage", "+/-", "status", "v", "cases", "insight"):
        table.add_column(col, justify="right" if col in ("v", "cases") else "left")
    for i in insights:
        table.add_row(
            i.insight_id[:12], i.stage, f"{i.support}/{i.contradiction}",
            "[dim]retired[/]" if i.status == "retired" else i.status, str(i.version), str(len(i.case_ids)),
            escape(i.text),
        )
    out.print(table)
