"""A local GitHub REST v3 server for tests: the real PyGithub client talks to it over HTTP.

Why a server and not mocks: the miner's behaviour that matters — how many requests it sends, how it
follows ``Link`` pagination, what it does on rate limits — lives in PyGithub and urllib3 as much as in
our code. Only a real HTTP exchange with GitHub's wire format exercises all of it. So the JSON here has
the field names, nesting and types api.github.com returns (``pull-request-simple`` in lists, the full
``pull-request`` for one PR, ``issue``, ``issue-comment``, ``full-repository``, ``simple-user``,
``rate-limit-overview``), URLs included: PyGithub follows the ``url`` fields it receives.

``GitHubServer(FakeGitHub())`` serves, under a GitHub Enterprise style base path
(``http://127.0.0.1:PORT/api/v3``, PyGithub's ``base_url``)::

    GET /repos/{owner}/{repo}
    GET /repos/{owner}/{repo}/pulls                  state, sort, direction, base, head, per_page, page
    GET /repos/{owner}/{repo}/pulls/{number}
    GET /repos/{owner}/{repo}/issues/{number}        a PR number gives the PR's issue form
    GET /repos/{owner}/{repo}/issues/{number}/comments   since, per_page, page
    GET /repos/{owner}/{repo}/issues/comments/{id}   what PyGithub fetches to complete a listed comment
    GET /rate_limit                                  free, like GitHub's
    GET /repositories/{id}/...                       same as /repos/{owner}/{repo}/... (Link URLs use it)

As GitHub does:

* lists are paginated (``per_page`` 30 by default, at most 100) with a ``Link`` header of full URLs in
  GitHub's form and order (``prev``, ``next``, ``last``, ``first``; ``/repositories/{id}/...`` paths);
* every response carries ``X-RateLimit-Limit/-Remaining/-Reset/-Used/-Resource``; a request with an
  ``Authorization`` header spends the authenticated quota (``limit``, 5000), one without spends the
  unauthenticated one (60). When a quota is used up, requests get the primary-limit 403 until the
  injectable ``clock`` passes the reset time, then the quota refills;
* errors are JSON ``{"message", "documentation_url", "status"}``: 404 Not Found, 401 Bad credentials
  (when ``require_token`` is set and the request lacks it).

Faults are injected with :meth:`GitHubServer.fail_next`: each call fails the next request whose path
starts with the given prefix, once. Every request is logged in :attr:`GitHubServer.requests` as
``(method, path, query, status, authorized)`` — whether an Authorization header came, never its value.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NamedTuple
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

API_PREFIX = "/api/v3"
"""GitHub Enterprise Server serves the REST API under ``/api/v3``; PyGithub keeps any base path it is given."""

DOCS_URL = "https://docs.github.com/rest"
PRIMARY_LIMIT_DOCS = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
SECONDARY_LIMIT_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
SECONDARY_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
RATE_WINDOW = 3600
"""Seconds of one primary quota window (GitHub: one hour)."""

FaultKind = Literal["secondary", "429", "5xx", "404", "disconnect"]
FAULT_KINDS: frozenset[str] = frozenset({"secondary", "429", "5xx", "404", "disconnect"})


# ---- the fake's data ------------------------------------------------------------------------------------------


@dataclass
class Comment:
    id: int
    login: str
    body: str
    created_at: datetime
    updated_at: datetime
    user_type: str = "User"


@dataclass
class Issue:
    id: int
    number: int
    title: str
    body: str
    state: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    user_login: str
    user_type: str
    comments: list[Comment] = field(default_factory=list)
    pull_request: bool = False
    """True: this number is a pull request (its issue form carries a ``pull_request`` object)."""


@dataclass
class Pull:
    id: int
    number: int
    title: str
    body: str
    state: str
    merged_at: datetime | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    base_sha: str
    base_ref: str
    head_sha: str
    head_ref: str
    merge_commit_sha: str | None
    user_login: str
    user_type: str
    merged_by: str | None = None
    commits: int = 1
    additions: int = 0
    deletions: int = 0
    changed_files: int = 0


@dataclass
class Repo:
    id: int
    full_name: str
    clone_url: str
    default_branch: str
    owner_type: str = "Organization"
    description: str | None = None
    created_at: datetime = datetime(2020, 1, 1, tzinfo=UTC)
    pulls: dict[int, Pull] = field(default_factory=dict)
    issues: dict[int, Issue] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]


class FakeGitHub:
    """Repositories, pull requests, issues and comments the server answers from (thread-safe to extend)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        """Keyed by ``owner/name`` in lower case: GitHub's names are case-insensitive."""
        self._repo_ids = itertools.count(100_001)
        self._pull_ids = itertools.count(1_000_001)
        self._issue_ids = itertools.count(2_000_001)
        self._comment_ids = itertools.count(3_000_001)

    def add_repo(self, full_name: str, clone_url: str, default_branch: str = "main", *,
                 owner_type: str = "Organization", description: str | None = None) -> Repo:
        """Register ``owner/name``; ``clone_url`` is what the API's ``clone_url`` says (a path or file:// URL)."""
        if full_name.count("/") != 1:
            raise ValueError(f"{full_name!r} is not owner/name")
        with self.lock:
            repo = Repo(id=next(self._repo_ids), full_name=full_name, clone_url=str(clone_url),
                        default_branch=default_branch, owner_type=owner_type, description=description)
            self.repos[full_name.lower()] = repo
            return repo

    def repo(self, full_name: str) -> Repo:
        with self.lock:
            try:
                return self.repos[full_name.lower()]
            except KeyError:
                raise KeyError(f"no repository {full_name!r}: add_repo() it first") from None

    def repo_by_id(self, repo_id: int) -> Repo | None:
        with self.lock:
            return next((r for r in self.repos.values() if r.id == repo_id), None)

    def add_pull(
        self, full_name: str, number: int, *, title: str, body: str = "", state: str = "closed",
        merged_at: datetime | None, created_at: datetime, updated_at: datetime, base_sha: str,
        base_ref: str = "main", head_sha: str, head_ref: str, merge_commit_sha: str | None = None,
        user_login: str = "alice", user_type: str = "User", closed_at: datetime | None = None,
        merged_by: str | None = None, commits: int = 1, additions: int = 0, deletions: int = 0,
        changed_files: int = 0,
    ) -> Pull:
        """Register pull request ``number``; ``closed_at`` defaults to ``merged_at``, else ``updated_at``."""
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {state!r}")
        if merged_at is not None and state != "closed":
            raise ValueError("a merged pull request is closed")
        if state == "closed" and closed_at is None:
            closed_at = merged_at or updated_at
        with self.lock:
            repo = self.repo(full_name)
            pull = Pull(
                id=next(self._pull_ids), number=number, title=title, body=body, state=state,
                merged_at=_utc(merged_at), created_at=_utc(created_at), updated_at=_utc(updated_at),
                closed_at=_utc(closed_at), base_sha=base_sha, base_ref=base_ref, head_sha=head_sha,
                head_ref=head_ref, merge_commit_sha=merge_commit_sha, user_login=user_login, user_type=user_type,
                merged_by=(merged_by or user_login) if merged_at else None, commits=commits, additions=additions,
                deletions=deletions, changed_files=changed_files,
            )
            repo.pulls[number] = pull
            return pull

    def add_issue(
        self, full_name: str, number: int, *, title: str, body: str = "", state: str = "closed",
        created_at: datetime, comments: list[tuple[str, str, datetime]] | None = None, pull_request: bool = False,
        user_login: str = "bob", user_type: str = "User", updated_at: datetime | None = None,
        closed_at: datetime | None = None,
    ) -> Issue:
        """Register issue ``number`` with ``comments`` as ``(login, body, created_at)``.

        ``updated_at`` defaults to the last comment's time (or ``created_at``), ``closed_at`` of a closed
        issue to ``updated_at``. ``pull_request=True`` marks the number as a pull request.
        """
        if state not in ("open", "closed"):
            raise ValueError(f"state must be open or closed, not {state!r}")
        created_at = _utc(created_at)
        with self.lock:
            repo = self.repo(full_name)
            issue = Issue(id=next(self._issue_ids), number=number, title=title, body=body, state=state,
                          created_at=created_at, updated_at=created_at, closed_at=None, user_login=user_login,
                          user_type=user_type, pull_request=pull_request)
            repo.issues[number] = issue
            for login, text, when in comments or ():
                self.add_comment(full_name, number, login, text, when)
            issue.updated_at = _utc(updated_at) if updated_at else max(
                [issue.created_at, *(c.updated_at for c in issue.comments)])
            if state == "closed":
                issue.closed_at = _utc(closed_at) if closed_at else issue.updated_at
            return issue

    def add_comment(self, full_name: str, number: int, login: str, body: str, created_at: datetime, *,
                    updated_at: datetime | None = None, user_type: str = "User") -> Comment:
        """Add a comment to issue ``number`` (which must exist)."""
        with self.lock:
            issue = self.repo(full_name).issues[number]
            comment = Comment(id=next(self._comment_ids), login=login, body=body, created_at=_utc(created_at),
                              updated_at=_utc(updated_at or created_at), user_type=user_type)
            issue.comments.append(comment)
            return comment


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """GitHub's timestamp format: ``2024-03-01T09:00:00Z`` (UTC, whole seconds)."""
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


# ---- GitHub's JSON shapes ----------------------------------------------------------------------------------


def _node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node id: base64 of ``<len(kind):02d>:<kind><id>`` (``MDQ6VXNlcjE=`` is user 1)."""
    return base64.b64encode(f"{len(kind):02d}:{kind}{number}".encode()).decode()


def _user_id(login: str) -> int:
    return zlib.crc32(login.lower().encode()) % 90_000_000 + 1_000


@dataclass(frozen=True)
class _Urls:
    """The two roots every URL in a response hangs from: the API (with /api/v3) and the web site."""

    api: str
    web: str

    def user(self, login: str, user_type: str = "User") -> dict[str, Any]:
        uid = _user_id(login)
        api = f"{self.api}/users/{quote(login)}"
        html = f"{self.web}/apps/{login.removesuffix('[bot]')}" if user_type == "Bot" else f"{self.web}/{login}"
        return {
            "login": login, "id": uid, "node_id": _node_id(user_type, uid),
            "avatar_url": f"{self.web}/avatars/u/{uid}?v=4", "gravatar_id": "", "url": api, "html_url": html,
            "followers_url": f"{api}/followers", "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}", "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions", "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos", "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events", "type": user_type, "user_view_type": "public",
            "site_admin": False,
        }

    def repo(self, repo: Repo, *, full: bool, authorized: bool) -> dict[str, Any]:
        """``full-repository`` (GET /repos/...) or the ``repository`` embedded in a PR's head/base."""
        api, web, host = f"{self.api}/repos/{repo.full_name}", f"{self.web}/{repo.full_name}", urlsplit(self.web).netloc
        open_issues = sum(i.state == "open" and not i.pull_request for i in repo.issues.values())
        open_issues += sum(p.state == "open" for p in repo.pulls.values())
        pushed = max([repo.created_at, *(p.updated_at for p in repo.pulls.values())])
        data: dict[str, Any] = {
            "id": repo.id, "node_id": _node_id("Repository", repo.id), "name": repo.name,
            "full_name": repo.full_name, "private": False, "owner": self.user(repo.owner, repo.owner_type),
            "html_url": web, "description": repo.description, "fork": False, "url": api,
            "forks_url": f"{api}/forks", "keys_url": f"{api}/keys{{/key_id}}",
            "collaborators_url": f"{api}/collaborators{{/collaborator}}", "teams_url": f"{api}/teams",
            "hooks_url": f"{api}/hooks", "issue_events_url": f"{api}/issues/events{{/number}}",
            "events_url": f"{api}/events", "assignees_url": f"{api}/assignees{{/user}}",
            "branches_url": f"{api}/branches{{/branch}}", "tags_url": f"{api}/tags",
            "blobs_url": f"{api}/git/blobs{{/sha}}", "git_tags_url": f"{api}/git/tags{{/sha}}",
            "git_refs_url": f"{api}/git/refs{{/sha}}", "trees_url": f"{api}/git/trees{{/sha}}",
            "statuses_url": f"{api}/statuses/{{sha}}", "languages_url": f"{api}/languages",
            "stargazers_url": f"{api}/stargazers", "contributors_url": f"{api}/contributors",
            "subscribers_url": f"{api}/subscribers", "subscription_url": f"{api}/subscription",
            "commits_url": f"{api}/commits{{/sha}}", "git_commits_url": f"{api}/git/commits{{/sha}}",
            "comments_url": f"{api}/comments{{/number}}", "issue_comment_url": f"{api}/issues/comments{{/number}}",
            "contents_url": f"{api}/contents/{{+path}}", "compare_url": f"{api}/compare/{{base}}...{{head}}",
            "merges_url": f"{api}/merges", "archive_url": f"{api}/{{archive_format}}{{/ref}}",
            "downloads_url": f"{api}/downloads", "issues_url": f"{api}/issues{{/number}}",
            "pulls_url": f"{api}/pulls{{/number}}", "milestones_url": f"{api}/milestones{{/number}}",
            "notifications_url": f"{api}/notifications{{?since,all,participating}}",
            "labels_url": f"{api}/labels{{/name}}", "releases_url": f"{api}/releases{{/id}}",
            "deployments_url": f"{api}/deployments", "created_at": iso(repo.created_at),
            "updated_at": iso(pushed), "pushed_at": iso(pushed), "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host.split(':')[0]}:{repo.full_name}.git", "clone_url": repo.clone_url,
            "svn_url": web, "homepage": None, "size": 1024, "stargazers_count": 0, "watchers_count": 0,
            "language": "Python", "has_issues": True, "has_projects": True, "has_downloads": True,
            "has_wiki": True, "has_pages": False, "has_discussions": False, "forks_count": 0, "mirror_url": None,
            "archived": False, "disabled": False, "open_issues_count": open_issues, "license": None,
            "allow_forking": True, "is_template": False, "web_commit_signoff_required": False, "topics": [],
            "visibility": "public", "forks": 0, "open_issues": open_issues, "watchers": 0,
            "default_branch": repo.default_branch,
        }
        if authorized:
            data["permissions"] = {"admin": False, "maintain": False, "push": False, "triage": False, "pull": True}
        if full:
            data.update({"temp_clone_token": None if authorized else "", "network_count": 0,
                         "subscribers_count": 0})
        return data

    def pull(self, repo: Repo, pr: Pull, *, full: bool, authorized: bool,
             embedded: dict[str, Any] | None = None) -> dict[str, Any]:
        """``pull-request-simple`` (list) or ``pull-request`` (GET one: adds merged, mergeable, counts...).

        ``embedded``: the head/base ``repo`` object, when the caller already built it (one per list page).
        """
        api_repo, web_repo = f"{self.api}/repos/{repo.full_name}", f"{self.web}/{repo.full_name}"
        url, html = f"{api_repo}/pulls/{pr.number}", f"{web_repo}/pull/{pr.number}"
        issue_url, comments_url = f"{api_repo}/issues/{pr.number}", f"{api_repo}/issues/{pr.number}/comments"
        commits_url, review_comments_url = f"{url}/commits", f"{url}/comments"
        review_comment_url, statuses_url = f"{api_repo}/pulls/comments{{/number}}", f"{api_repo}/statuses/{pr.head_sha}"
        owner = self.user(repo.owner, repo.owner_type)
        embedded = embedded or self.repo(repo, full=False, authorized=authorized)
        data: dict[str, Any] = {
            "url": url, "id": pr.id, "node_id": _node_id("PullRequest", pr.id), "html_url": html,
            "diff_url": f"{html}.diff", "patch_url": f"{html}.patch", "issue_url": issue_url, "number": pr.number,
            "state": pr.state, "locked": False, "title": pr.title, "user": self.user(pr.user_login, pr.user_type),
            "body": pr.body or None, "created_at": iso(pr.created_at), "updated_at": iso(pr.updated_at),
            "closed_at": iso(pr.closed_at), "merged_at": iso(pr.merged_at), "merge_commit_sha": pr.merge_commit_sha,
            "assignee": None, "assignees": [], "requested_reviewers": [], "requested_teams": [], "labels": [],
            "milestone": None, "draft": False, "commits_url": commits_url, "review_comments_url": review_comments_url,
            "review_comment_url": review_comment_url, "comments_url": comments_url, "statuses_url": statuses_url,
            "head": {"label": f"{repo.owner}:{pr.head_ref}", "ref": pr.head_ref, "sha": pr.head_sha,
                     "user": owner, "repo": embedded},
            "base": {"label": f"{repo.owner}:{pr.base_ref}", "ref": pr.base_ref, "sha": pr.base_sha,
                     "user": owner, "repo": embedded},
            "_links": {
                "self": {"href": url}, "html": {"href": html}, "issue": {"href": issue_url},
                "comments": {"href": comments_url}, "review_comments": {"href": review_comments_url},
                "review_comment": {"href": review_comment_url}, "commits": {"href": commits_url},
                "statuses": {"href": statuses_url},
            },
            "author_association": _association(repo, pr.user_login),
            "auto_merge": None, "active_lock_reason": None,
        }
        if full:
            issue = repo.issues.get(pr.number)
            data.update({
                "merged": pr.merged_at is not None, "mergeable": None, "rebaseable": None,
                "mergeable_state": "unknown",
                "merged_by": self.user(pr.merged_by) if pr.merged_by else None,
                "comments": len(issue.comments) if issue else 0, "review_comments": 0,
                "maintainer_can_modify": False, "commits": pr.commits, "additions": pr.additions,
                "deletions": pr.deletions, "changed_files": pr.changed_files,
            })
        return data

    def issue(self, repo: Repo, issue: Issue, pr: Pull | None) -> dict[str, Any]:
        """``issue``; for a pull request number, its issue form with the ``pull_request`` object."""
        api_repo, web_repo = f"{self.api}/repos/{repo.full_name}", f"{self.web}/{repo.full_name}"
        url = f"{api_repo}/issues/{issue.number}"
        is_pr = pr is not None or issue.pull_request
        html = f"{web_repo}/{'pull' if is_pr else 'issues'}/{issue.number}"
        closer = None
        if issue.state == "closed":
            closer = self.user(pr.merged_by or pr.user_login) if pr is not None else self.user(repo.owner)
        data: dict[str, Any] = {
            "url": url, "repository_url": api_repo, "labels_url": f"{url}/labels{{/name}}",
            "comments_url": f"{url}/comments", "events_url": f"{url}/events", "html_url": html, "id": issue.id,
            "node_id": _node_id("PullRequest" if is_pr else "Issue", issue.id), "number": issue.number,
            "title": issue.title, "user": self.user(issue.user_login, issue.user_type), "labels": [],
            "state": issue.state, "locked": False, "assignee": None, "assignees": [], "milestone": None,
            "comments": len(issue.comments), "created_at": iso(issue.created_at),
            "updated_at": iso(issue.updated_at), "closed_at": iso(issue.closed_at),
            "author_association": _association(repo, issue.user_login), "type": None, "active_lock_reason": None,
        }
        if is_pr:
            pulls_url = f"{api_repo}/pulls/{issue.number}"
            data["draft"] = False
            data["pull_request"] = {"url": pulls_url, "html_url": html, "diff_url": f"{html}.diff",
                                    "patch_url": f"{html}.patch", "merged_at": iso(pr.merged_at) if pr else None}
        else:
            data["sub_issues_summary"] = {"total": 0, "completed": 0, "percent_completed": 0}
            data["issue_dependencies_summary"] = {"blocked_by": 0, "total_blocked_by": 0, "blocking": 0,
                                                  "total_blocking": 0}
        data.update({
            "body": issue.body or None, "closed_by": closer, "reactions": _reactions(f"{url}/reactions"),
            "timeline_url": f"{url}/timeline", "performed_via_github_app": None,
            "state_reason": ("completed" if issue.state == "closed" and not is_pr else None),
        })
        return data

    def comment(self, repo: Repo, number: int, comment: Comment) -> dict[str, Any]:
        """``issue-comment``."""
        api_repo = f"{self.api}/repos/{repo.full_name}"
        url = f"{api_repo}/issues/comments/{comment.id}"
        return {
            "url": url, "html_url": f"{self.web}/{repo.full_name}/issues/{number}#issuecomment-{comment.id}",
            "issue_url": f"{api_repo}/issues/{number}", "id": comment.id,
            "node_id": _node_id("IssueComment", comment.id), "user": self.user(comment.login, comment.user_type),
            "created_at": iso(comment.created_at), "updated_at": iso(comment.updated_at),
            "body": comment.body, "author_association": _association(repo, comment.login),
            "reactions": _reactions(f"{url}/reactions"), "performed_via_github_app": None,
        }


def _pull_as_issue(pr: Pull) -> Issue:
    """The issue half of a pull request registered only with add_pull (GitHub shares the numbering)."""
    return Issue(id=pr.id, number=pr.number, title=pr.title, body=pr.body, state=pr.state,
                 created_at=pr.created_at, updated_at=pr.updated_at, closed_at=pr.closed_at,
                 user_login=pr.user_login, user_type=pr.user_type, pull_request=True)


def _association(repo: Repo, login: str) -> str:
    if login.lower() == repo.owner.lower():
        return "OWNER"
    if any(p.merged_at and p.user_login == login for p in repo.pulls.values()):
        return "CONTRIBUTOR"
    return "NONE"


def _reactions(url: str) -> dict[str, Any]:
    return {"url": url, "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0, "heart": 0,
            "rocket": 0, "eyes": 0}


# ---- the server ----------------------------------------------------------------------------------------------


class Request(NamedTuple):
    """One logged request. ``path`` is relative to the API root (``/repos/acme/app/pulls``) as requested."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    authorized: bool
    """An Authorization header came with it (its value is never kept)."""


@dataclass
class Quota:
    """One primary rate-limit bucket: ``limit`` requests per window, refilled once ``clock()`` passes ``reset``."""

    limit: int
    used: int = 0
    reset: int = 0

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def refresh(self, now: float, window: int) -> None:
        if now >= self.reset:
            self.used, self.reset = 0, int(now) + window

    def as_json(self) -> dict[str, int]:
        return {"limit": self.limit, "used": self.used, "remaining": self.remaining, "reset": self.reset}


@dataclass
class _Fault:
    prefix: str
    kind: str
    retry_after: int


class _Reply(NamedTuple):
    status: int
    body: Any
    headers: dict[str, str]


class GitHubServer:
    """Context manager: ``with GitHubServer(fake) as server: Github(base_url=server.api_url, ...)``."""

    def __init__(
        self, github: FakeGitHub | None = None, *, limit: int = 5000, unauthenticated_limit: int = 60,
        require_token: str | None = None, clock: Callable[[], float] = time.time, window: int = RATE_WINDOW,
        retry_after: int = 60,
    ):
        self.github = github if github is not None else FakeGitHub()
        self.require_token = require_token
        """When set, requests without ``Authorization: token <it>`` (or ``Bearer <it>``) get 401."""
        self.clock = clock
        self.window = window
        self.retry_after = retry_after
        """Default ``Retry-After`` seconds of injected secondary limits and 429s."""
        self.quotas = {True: Quota(limit), False: Quota(unauthenticated_limit)}
        """The authenticated (True) and unauthenticated (False) primary buckets."""
        self._faults: deque[_Fault] = deque()
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> GitHubServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like api.github.com: PyGithub reuses its connection

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                owner._handle(self)

            # Other verbs get GitHub's 404 for routes this fake does not serve (they are still logged).
            do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = do_GET

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        name="fake-github", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GitHubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running: use it as a context manager or call start()")
        return self._server.server_address[1]

    @property
    def web_url(self) -> str:
        """The web root (``html_url`` values live here), like ``https://ghe.example.com``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """PyGithub's ``base_url``: ``http://127.0.0.1:PORT/api/v3``."""
        return f"{self.web_url}{API_PREFIX}"

    # ---- test controls --------------------------------------------------------------------------------------

    def fail_next(self, path_prefix: str, kind: FaultKind, *, retry_after: int | None = None) -> None:
        """Fail the next request whose path (relative to the API root) starts with ``path_prefix``, once.

        ``kind``: ``"secondary"`` (403 secondary rate limit + ``Retry-After``), ``"429"`` (the same as a 429),
        ``"5xx"`` (502), ``"404"`` (Not Found), ``"disconnect"`` (the connection closes without an answer).
        Paths under ``/repositories/{id}`` match as their ``/repos/{owner}/{name}`` form. Faults queue in order.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        after = self.retry_after if retry_after is None else retry_after
        with self._lock:
            self._faults.append(_Fault("/" + path_prefix.strip("/") if path_prefix.strip("/") else "/", kind, after))

    def exhaust(self, authenticated: bool = True) -> None:
        """Use up a primary quota now (its window starts now if it had expired)."""
        with self._lock:
            quota = self.quotas[authenticated]
            quota.refresh(self.clock(), self.window)
            quota.used = quota.limit

    @property
    def requests(self) -> list[Request]:
        """A copy of the request log, oldest first."""
        with self._lock:
            return list(self._log)

    def count(self, path_prefix: str = "/", *, status: int | None = None) -> int:
        """Logged requests whose path starts with ``path_prefix`` (and answered ``status``, if given)."""
        return sum(r.path.startswith(path_prefix) and (status is None or r.status == status)
                   for r in self.requests)

    def reset_log(self) -> None:
        with self._lock:
            self._log.clear()

    # ---- request handling ---------------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        if length:
            h.rfile.read(length)  # a body we do not use must still be drained for keep-alive
        split = urlsplit(h.path)
        path = unquote(split.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        rel = path[len(API_PREFIX):] if path.startswith(API_PREFIX + "/") else None
        auth = h.headers.get("Authorization")
        authorized = auth is not None
        request_id = f"F{next(self._request_ids):04X}:{id(self) % 0xFFFF:04X}"

        with self._lock:
            if self.require_token is not None:
                authenticated = auth in (f"token {self.require_token}", f"Bearer {self.require_token}")
            else:
                authenticated = bool(auth and auth.split(" ", 1)[0].lower() in ("token", "bearer", "basic"))
            quota = self.quotas[authenticated]
            quota.refresh(self.clock(), self.window)
            fault = None
            if self.require_token is not None and not authenticated:
                reply = _error(401, "Bad credentials")
            elif rel == "/rate_limit" and h.command == "GET":
                reply = _Reply(200, self._rate_limit_json(authenticated), {})  # free, as on GitHub
            elif quota.remaining == 0:
                reply = _primary_limit_reply(authenticated, h.client_address[0], request_id)
            else:
                quota.used += 1
                reply = None
                canonical = self._canonical(rel) if rel is not None else None
                for candidate in self._faults:
                    if canonical is not None and canonical.startswith(candidate.prefix):
                        fault = candidate
                        self._faults.remove(candidate)
                        break
            headers = _rate_headers(quota)

        if reply is None and fault is not None:
            reply = _fault_reply(fault, request_id)
        if reply is None:
            if h.command != "GET" or rel is None:
                reply = _error(404, "Not Found")
            else:
                reply = self._route(rel, query, authenticated)
        with self._lock:
            self._log.append(Request(h.command, rel if rel is not None else path, query,
                                     0 if reply.status < 0 else reply.status, authorized))
        if reply.status < 0:  # "disconnect": close the socket without a word
            h.close_connection = True
            return
        body = json.dumps(reply.body, separators=(",", ":")).encode()
        h.send_response(reply.status)
        for name, value in {**headers, **reply.headers}.items():
            h.send_header(name, value)
        h.send_header("Content-Type", "application/json; charset=utf-8")
        h.send_header("Content-Length", str(len(body)))
        h.send_header("X-GitHub-Media-Type", "github.v3; format=json")
        h.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        h.send_header("X-GitHub-Request-Id", request_id)
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)

    def _canonical(self, rel: str) -> str | None:
        """``/repositories/{id}/rest`` as ``/repos/{owner}/{name}/rest``; other paths unchanged."""
        parts = rel.split("/")
        if len(parts) >= 3 and parts[1] == "repositories" and parts[2].isdigit():
            repo = self.github.repo_by_id(int(parts[2]))
            if repo is None:
                return None
            return "/".join(["", "repos", repo.full_name, *parts[3:]])
        return rel

    def _rate_limit_json(self, authenticated: bool) -> dict[str, Any]:
        core = self.quotas[authenticated].as_json()
        reset_minute = int(self.clock()) + 60

        def fixed(limit: int, reset: int) -> dict[str, int]:
            return {"limit": limit, "used": 0, "remaining": limit, "reset": reset}

        hour = core["reset"]
        resources = {
            "core": core, "search": fixed(30 if authenticated else 10, reset_minute),
            "graphql": fixed(5000 if authenticated else 0, hour), "integration_manifest": fixed(5000, hour),
            "source_import": fixed(100, reset_minute), "code_scanning_upload": fixed(1000, hour),
            "actions_runner_registration": fixed(10000, hour), "scim": fixed(15000, hour),
            "dependency_snapshots": fixed(100, reset_minute), "dependency_sbom": fixed(100, hour),
            "code_search": fixed(10, reset_minute), "code_scanning_autofix": fixed(10, reset_minute),
            "audit_log": fixed(1750, hour), "audit_log_streaming": fixed(15, hour),
        }
        return {"resources": resources, "rate": dict(core)}

    def _route(self, rel: str, query: dict[str, str], authorized: bool) -> _Reply:
        canonical = self._canonical(rel)
        parts = canonical.strip("/").split("/") if canonical else []
        if len(parts) < 3 or parts[0] != "repos":
            return _error(404, "Not Found")
        urls = _Urls(self.api_url, self.web_url)
        with self.github.lock:
            repo = self.github.repos.get(f"{parts[1]}/{parts[2]}".lower())
            if repo is None:
                return _error(404, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository")
            rest = parts[3:]
            if not rest:
                return _Reply(200, urls.repo(repo, full=True, authorized=authorized), {})
            if rest == ["pulls"]:
                return self._list_pulls(urls, repo, rel, query, authorized)
            if len(rest) == 2 and rest[0] == "pulls" and rest[1].isdigit():
                pr = repo.pulls.get(int(rest[1]))
                if pr is None:
                    return _error(404, "Not Found", "https://docs.github.com/rest/pulls/pulls#get-a-pull-request")
                return _Reply(200, urls.pull(repo, pr, full=True, authorized=authorized), {})
            if len(rest) == 3 and rest[:2] == ["issues", "comments"] and rest[2].isdigit():
                found = next(((i.number, c) for i in repo.issues.values() for c in i.comments
                              if c.id == int(rest[2])), None)
                if found is None:
                    return _error(404, "Not Found", "https://docs.github.com/rest/issues/comments#get-an-issue-comment")
                return _Reply(200, urls.comment(repo, *found), {})
            if len(rest) in (2, 3) and rest[0] == "issues" and rest[1].isdigit():
                number = int(rest[1])
                pr = repo.pulls.get(number)
                issue = repo.issues.get(number) or (_pull_as_issue(pr) if pr else None)
                if issue is None:
                    docs = ("https://docs.github.com/rest/issues/issues#get-an-issue" if len(rest) == 2 else
                            "https://docs.github.com/rest/issues/comments#list-issue-comments")
                    return _error(404, "Not Found", docs)
                if len(rest) == 2:
                    return _Reply(200, urls.issue(repo, issue, pr), {})
                if rest[2] == "comments":
                    return self._list_comments(urls, repo, issue, rel, query)
        return _error(404, "Not Found")

    def _list_pulls(self, urls: _Urls, repo: Repo, rel: str, query: dict[str, str], authorized: bool) -> _Reply:
        state = query.get("state", "open")
        sort = query.get("sort", "created")
        direction = query.get("direction") or ("desc" if sort in ("created", "") else "asc")
        pulls = [p for p in repo.pulls.values() if state == "all" or p.state == state]
        if "base" in query:
            pulls = [p for p in pulls if p.base_ref == query["base"]]
        if "head" in query:
            owner, _, ref = query["head"].partition(":")
            pulls = [p for p in pulls if owner.lower() == repo.owner.lower() and (not ref or p.head_ref == ref)]
        key = "updated_at" if sort in ("updated", "long-running", "popularity") else "created_at"
        pulls.sort(key=lambda p: (getattr(p, key), p.number), reverse=direction != "asc")
        embedded = urls.repo(repo, full=False, authorized=authorized)
        return self._page(urls, repo, rel, query, pulls,
                          lambda p: urls.pull(repo, p, full=False, authorized=authorized, embedded=embedded))

    def _list_comments(self, urls: _Urls, repo: Repo, issue: Issue, rel: str, query: dict[str, str]) -> _Reply:
        comments = sorted(issue.comments, key=lambda c: c.id)
        if query.get("since"):
            try:
                since = datetime.fromisoformat(query["since"].replace("Z", "+00:00"))
            except ValueError:
                return _Reply(422, {"message": "Invalid request.\n\nInvalid property since: "
                                               f"{query['since']!r} is not a valid date-time.",
                                    "documentation_url": DOCS_URL, "status": "422"}, {})
            comments = [c for c in comments if c.updated_at >= _utc(since)]
        return self._page(urls, repo, rel, query, comments, lambda c: urls.comment(repo, issue.number, c))

    def _page(self, urls: _Urls, repo: Repo, rel: str, query: dict[str, str], items: list[Any],
              render: Callable[[Any], dict[str, Any]]) -> _Reply:
        """One page of ``items`` (rendered) and GitHub's ``Link`` header (omitted when all fit on one page)."""
        per_page = _int(query.get("per_page"), DEFAULT_PER_PAGE)
        per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
        page = max(_int(query.get("page"), 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = [render(item) for item in items[(page - 1) * per_page: page * per_page]]
        # GitHub's Link URLs address the repository by id and keep the query, with page moved last.
        tail = "/".join(self._canonical(rel).strip("/").split("/")[3:])
        base = f"{urls.api}/repositories/{repo.id}/{tail}"
        params = [(k, v) for k, v in query.items() if k != "page"]

        def link(number: int, rel_name: str) -> str:
            return f'<{base}?{urlencode([*params, ("page", str(number))])}>; rel="{rel_name}"'

        links = []
        if page > 1:
            links.append(link(min(page - 1, last), "prev"))
        if page < last:
            links.append(link(page + 1, "next"))
        if page != last:
            links.append(link(last, "last"))
        if page > 1:
            links.append(link(1, "first"))
        return _Reply(200, chunk, {"Link": ", ".join(links)} if links else {})


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value not in (None, "") else default
    except ValueError:
        return default


def _rate_headers(quota: Quota) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(quota.limit), "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": str(quota.reset), "X-RateLimit-Used": str(min(quota.used, quota.limit)),
        "X-RateLimit-Resource": "core",
    }


def _error(status: int, message: str, docs: str = DOCS_URL) -> _Reply:
    return _Reply(status, {"message": message, "documentation_url": docs, "status": str(status)}, {})


def _primary_limit_reply(authenticated: bool, address: str, request_id: str) -> _Reply:
    """GitHub's 403 for a used-up primary quota (the text PyGithub matches: "API rate limit exceeded")."""
    if authenticated:
        message = "API rate limit exceeded for user ID 1."
    else:
        message = (f"API rate limit exceeded for {address}. (But here's the good news: Authenticated requests get "
                   "a higher rate limit. Check out the documentation for more details.)")
    message += f" If you reach out to GitHub Support for help, please include the request ID {request_id}."
    return _Reply(403, {"message": message, "documentation_url": PRIMARY_LIMIT_DOCS, "status": "403"}, {})


def _fault_reply(fault: _Fault, request_id: str) -> _Reply:
    if fault.kind in ("secondary", "429"):
        body = {"message": SECONDARY_LIMIT_MESSAGE.format(request_id=request_id),
                "documentation_url": SECONDARY_LIMIT_DOCS}
        return _Reply(403 if fault.kind == "secondary" else 429, body, {"Retry-After": str(fault.retry_after)})
    if fault.kind == "5xx":
        return _Reply(502, {"message": "Server Error"}, {})
    if fault.kind == "404":
        return _error(404, "Not Found")
    return _Reply(-1, None, {})  # disconnect
