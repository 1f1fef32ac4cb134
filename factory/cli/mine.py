"""``factory mine``: fixes with tests from a git repository, a GitHub repository, or every source of the
project file (then as the Prefect mine flow)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from factory.cli.common import (
    ConfigOption,
    DbOption,
    HomeOption,
    console,
    flow_paths,
    open_store,
    out,
    parse_date,
    project_settings,
    resumable,
    run_flow,
    setting_help,
)
from factory.core.errors import UserError


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
    max_files: Annotated[int | None, typer.Option(help=setting_help("github.max_files"))] = None,
    max_lines: Annotated[int | None, typer.Option(help=setting_help("github.max_lines"))] = None,
    bots: Annotated[bool, typer.Option("--bots", help="GitHub: keep PRs opened by bots.")] = False,
    empty_issues: Annotated[bool, typer.Option("--empty-issues", help="GitHub: keep PRs whose issues have no body.")
                            ] = False,
    until: Annotated[str | None, typer.Option(help="Only fixes committed before this date (ISO).")] = None,
    limit: Annotated[int | None, typer.Option(help="Stop after this many new candidates.")] = None,
    name: Annotated[str | None, typer.Option(help="owner/name for instance ids (default: from origin).")] = None,
    branch: Annotated[str | None, typer.Option(help="--git: mine this branch's history (default: the one the "
                                               "repository's HEAD names).")] = None,
    max_diff_bytes: Annotated[int | None, typer.Option(min=1, help=setting_help("mine.max_diff_bytes"))] = None,
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
    settings = project_settings(config, db, home, {
        "mine.max_diff_bytes": max_diff_bytes, "github.max_files": max_files, "github.max_lines": max_lines,
        "github.exclude_bots": False if bots else None, "github.require_issue_body": False if empty_issues else None,
    }, {"github.exclude_bots": "--bots", "github.require_issue_body": "--empty-issues"})
    if github is not None:
        _mine_github(github, parse_date(since, "--since"), parse_date(until, "--until"), limit, settings, as_json,
                     settings.github)
        return
    if git is None:
        if not settings.sources:
            raise UserError("nothing to mine: no --git given and no [[sources]] in a project file",
                            "pass --git PATH_OR_URL, or list sources in factory.toml (or --config FILE)")
        from flows.mine import mine_flow

        with resumable("mine"):
            reports = run_flow(mine_flow, config=str(settings.path), db_lock_wait=0, **flow_paths(settings))
        if as_json:
            out.print_json(json.dumps(reports))
            return
        for label, r in reports.items():
            out.print(f"[bold]{r['repo']}[/] ({label}): scanned {r['scanned']} first-parent commits, {r['added']} new "
                      f"candidate(s), {r['already_known']} already known")
        return
    since_date, until_date = parse_date(since, "--since"), parse_date(until, "--until")
    with open_store(settings) as store, Progress(console=console, transient=True) as bar:
        task = bar.add_task("scanning commits", total=None)
        with resumable("mine"):
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
            why = _SKIP_EXPLAINED[reason].format(limit=settings.mine.max_diff_bytes)
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

    with open_store(settings) as store, Progress(console=console, transient=True) as bar:
        task = bar.add_task("pull requests", total=None)
        api = GitHubAPI.from_env(say=lambda m: bar.console.print(m))
        with resumable("mine"):
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

