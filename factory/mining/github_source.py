"""Mine GitHub: merged pull requests and the issues they resolve (PyGithub for metadata, git for code).

How it stays cheap and polite (docs/mining.md, "GitHub"):

* Pull requests are listed 100 per request, most recently updated first, down to the repository's
  cursor (the ``updated_at`` of the last pull request a previous run finished), so a rerun lists only
  what changed. Only fields of the list response are read: touching any other attribute of a PyGithub
  object would cost one request per pull request.
* Everything else that decides whether a merged PR is a candidate comes from git, not the API: its
  commits, their messages (closing keywords), the files and lines it changes. The host mirror fetches
  ``refs/pull/*/head`` once per run; the diff is the same ``git diff --binary`` split as the git
  source, so binary hunks are kept (the API's per-file patches are truncated and drop them).
* Only a PR that passed every local filter costs requests: one per resolved issue and one for its
  comments (the hints). Issues of another repository (``owner/repo#N``) are fetched from there.
* Each PR is stored (candidate and cursor) before the next one starts: an interrupted run loses at
  most the PR in flight. Rate limits are handled by :class:`factory.mining.github_api.GitHubAPI`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import git
from github import UnknownObjectException

from factory.core.errors import UserError
from factory.core.models import Candidate
from factory.core.settings import GitHubFilters, Settings
from factory.mining.git_source import _version, message_of, usable_split
from factory.mining.github_api import GitHubAPI
from factory.mining.mirror import Mirror, open_mirror, redact
from factory.mining.refs import parse_references
from factory.mining.text import utf8_text
from factory.store import Store

_SLUG = re.compile(r"^[\w.-]+/[\w.-]+$")
_BOT_LOGIN = re.compile(r"(\[bot\]|-bot)$", re.I)


@dataclass
class GitHubMineReport:
    repo: str
    scanned: int = 0
    """Pull requests looked at in this run (closed, updated since the cursor)."""
    added: list[str] = field(default_factory=list)
    already_known: int = 0
    skipped: Counter = field(default_factory=Counter)
    requests: int = 0
    """GitHub API requests this run sent."""
    cursor: datetime | None = None


@dataclass
class _PR:
    """The list-response fields of one pull request (reading nothing else keeps it one request per 100)."""

    number: int
    title: str
    body: str
    merged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    base_sha: str
    head_sha: str
    merge_commit_sha: str | None
    author: str
    author_type: str

    @classmethod
    def of(cls, raw: dict) -> _PR:
        user = raw.get("user") or {}
        return cls(
            number=raw["number"], title=raw.get("title") or "", body=raw.get("body") or "",
            merged_at=_time(raw.get("merged_at")), created_at=_time(raw["created_at"]),
            updated_at=_time(raw["updated_at"]), base_sha=raw["base"]["sha"], head_sha=raw["head"]["sha"],
            merge_commit_sha=raw.get("merge_commit_sha"), author=user.get("login") or "",
            author_type=user.get("type") or "",
        )


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def mine_github(
    full_name: str,
    store: Store,
    settings: Settings,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    api: GitHubAPI | None = None,
    filters: GitHubFilters | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> GitHubMineReport:
    """Mine merged PRs of ``full_name`` (``owner/repo``) merged in [since, until) into ``store``.

    ``progress(scanned, candidates)`` is called after each pull request.
    """
    if not _SLUG.match(full_name):
        raise UserError(f"{full_name!r} is not a GitHub repository name", "use owner/repo, e.g. pallets/click")
    api = api or GitHubAPI.from_env()
    filters = filters or GitHubFilters()
    since, until = _utc(since), _utc(until)
    source = f"github:{full_name}"
    report = GitHubMineReport(repo=full_name)
    start_requests = api.stats.requests

    try:
        repo, _ = api.get(f"repository {full_name}", f"/repos/{full_name}")
    except UnknownObjectException:
        raise UserError(f"GitHub has no repository {full_name} at {api.base_url} (404)",
                        "check the owner/repo spelling; a private repository needs GITHUB_TOKEN") from None
    location = redact(repo.get("clone_url") or f"https://github.com/{full_name}.git")
    mirror = open_mirror(location, settings.mirrors_dir, name=full_name)
    _fetch_pull_refs(mirror)
    store.save_source(source, location)
    cursor = _utc((store.source(source) or {}).get("cursor"))

    prs = _list_since(api, full_name, cursor)
    prs.sort(key=lambda p: (p.updated_at, p.number))  # oldest first, so the cursor only moves forward
    known_pulls = store.known_pull_numbers(full_name)
    known_commits = store.known_fix_commits(full_name)
    taken = store.instance_ids()
    git_repo = mirror.repo
    for pr in prs:
        if limit is not None and len(report.added) >= limit:
            break  # the cursor stays before this PR: the next run continues here
        report.scanned += 1
        outcome = _consider(pr, api, git_repo, mirror, full_name, filters, since, until, known_pulls,
                            known_commits, taken, settings.mine.max_diff_bytes)
        if isinstance(outcome, Candidate):
            store.add_candidates([outcome])
            report.added.append(outcome.instance_id)
            taken.add(outcome.instance_id)
            known_pulls.add(pr.number)
        elif outcome == "already_known":
            report.already_known += 1
        else:
            report.skipped[outcome] += 1
        store.save_source(source, location, pr.updated_at)
        report.cursor = pr.updated_at
        if progress:
            progress(report.scanned, len(report.added))
    report.requests = api.stats.requests - start_requests
    return report


def _list_since(api: GitHubAPI, full_name: str, cursor: datetime | None) -> list[_PR]:
    """Closed PRs updated at or after ``cursor`` (all of them on the first run), newest first."""
    found: list[_PR] = []
    params = {"state": "closed", "sort": "updated", "direction": "desc"}
    for batch in api.pages(f"pull requests of {full_name}", f"/repos/{full_name}/pulls", params):
        for raw in batch:
            pr = _PR.of(raw)
            if cursor is not None and pr.updated_at < cursor:
                return found
            found.append(pr)
    return found


def _consider(
    pr: _PR, api: GitHubAPI, git_repo: git.Repo, mirror: Mirror, full_name: str, filters: GitHubFilters,
    since: datetime | None, until: datetime | None, known_pulls: set[int], known_commits: set[str],
    taken: set[str], max_diff_bytes: int | None = None,
) -> Candidate | str:
    """The candidate ``pr`` makes, or why not — local checks first, API requests only at the end."""
    if pr.merged_at is None:
        return "not_merged"
    if (since and pr.merged_at < since) or (until and pr.merged_at >= until):
        return "outside_window"
    if pr.number in known_pulls or (pr.merge_commit_sha and pr.merge_commit_sha in known_commits):
        return "already_known"
    if filters.exclude_bots and (pr.author_type == "Bot" or _BOT_LOGIN.search(pr.author)):
        return "bot_author"
    if not all(_has_commit(git_repo, sha) for sha in (pr.base_sha, pr.head_sha)):
        return "missing_commits"
    fork_point = git_repo.git.merge_base(pr.base_sha, pr.head_sha)
    commits = git_repo.git.rev_list("--reverse", f"{fork_point}..{pr.head_sha}").split()
    if not commits:
        return "empty_pull_request"
    messages = [message_of(git_repo.commit(sha)) for sha in commits]
    text = "\n\n".join([pr.title, pr.body, *messages])
    refs = [r for r in parse_references(text, full_name).issues if r != str(pr.number)]
    if not refs:
        return "no_issue"
    split = usable_split(git_repo, fork_point, pr.head_sha, max_diff_bytes)
    if isinstance(split, str):
        return split
    files, lines = _size(git_repo, fork_point, pr.head_sha)
    if files > filters.max_files or lines > filters.max_lines:
        return "too_large"

    issues = _fetch_issues(api, full_name, refs)
    if not issues:
        return "issue_not_found"
    if filters.require_issue_body and not any((i.get("body") or "").strip() for _, i in issues):
        return "empty_issue"
    first_commit = git_repo.commit(commits[0]).committed_datetime.astimezone(UTC)
    hints = _hints(api, issues, first_commit)
    statement = "\n\n".join(f"{i.get('title') or ''}\n{i.get('body') or ''}".strip() for _, i in issues)
    iid = f"{full_name.replace('/', '__')}-{pr.number}"
    if iid in taken:
        return "already_known"
    return Candidate(
        instance_id=iid, repo=full_name, base_commit=pr.base_sha,
        fix_commit=pr.merge_commit_sha or pr.head_sha, patch=split.patch, test_patch=split.test_patch,
        problem_statement=utf8_text(statement + "\n"), hints_text=utf8_text(hints), created_at=pr.created_at,
        version=_version(git_repo, pr.base_sha), source=f"github:{full_name}",
        issue_numbers=[ref for ref, _ in issues], pull_number=pr.number, test_files=split.test_files,
    )


def _has_commit(git_repo: git.Repo, sha: str) -> bool:
    try:
        git_repo.git.cat_file("-e", f"{sha}^{{commit}}")
        return True
    except git.GitCommandError:
        return False


def _size(git_repo: git.Repo, base: str, head: str) -> tuple[int, int]:
    """Files changed and lines added + deleted (binary files count as one file, no lines)."""
    files = lines = 0
    for row in git_repo.git.diff("--numstat", "--no-renames", base, head).splitlines():
        added, deleted, _ = row.split("\t", 2)
        files += 1
        lines += (int(added) if added.isdigit() else 0) + (int(deleted) if deleted.isdigit() else 0)
    return files, lines


def _fetch_issues(api: GitHubAPI, full_name: str, refs: list[str]) -> list[tuple[str, dict]]:
    """Each referenced issue that exists and is an issue (not a pull request), in reference order."""
    found = []
    for ref in refs:
        slug, _, number = ref.rpartition("#") if "#" in ref else (full_name, "", ref)
        try:
            issue, _ = api.get(f"issue {slug}#{number}", f"/repos/{slug}/issues/{int(number)}")
        except UnknownObjectException:
            continue  # deleted, transferred, private: nothing to state
        if issue.get("pull_request"):
            continue  # "fixes #12" where #12 is a pull request, not an issue
        found.append((ref, issue))
    return found


def _hints(api: GitHubAPI, issues: list[tuple[str, dict]], before: datetime) -> str:
    """Comments on the resolved issues written before the PR's first commit (SWE-bench's hints_text)."""
    texts = []
    for ref, issue in issues:
        url = issue.get("comments_url") or ""
        if not issue.get("comments"):
            continue  # the issue says it has none: no request
        for batch in api.pages(f"comments of issue {ref}", url):
            for comment in batch:
                created = _time(comment.get("created_at"))
                if created and created < before and (comment.get("body") or "").strip():
                    texts.append(comment["body"].strip())
    return "\n\n".join(texts) + ("\n" if texts else "")


def _fetch_pull_refs(mirror: Mirror) -> None:
    """Bring every PR head (``refs/pull/N/head``) into the mirror: one git fetch, no API requests."""
    try:
        mirror.repo.git.fetch("--prune", "origin", "+refs/heads/*:refs/heads/*", "+refs/pull/*/head:refs/pull/*/head")
    except git.GitCommandError as exc:
        raise UserError(redact(f"cannot fetch pull requests of {mirror.source}: {(exc.stderr or '').strip()}"),
                        "check the network and the repository's clone URL") from exc
