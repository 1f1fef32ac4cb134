"""The fake GitHub (tests/github_server.py) is only useful if the real PyGithub reads it like api.github.com.

These tests drive PyGithub itself against the server: repository, Link-header pagination, the fields the
miner reads from pull requests, issues and comments, 404s, rate-limit headers and the exceptions PyGithub
raises for primary and secondary limits and server errors (``retry=None``: PyGithub must not retry itself).
The last tests check that tests/github_fixtures.py builds git repositories consistent with what the
server says about them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from github import (
    Auth,
    BadCredentialsException,
    Github,
    GithubException,
    RateLimitExceededException,
    UnknownObjectException,
)

from tests.github_fixtures import PRSpec, build_many, build_pr_repo
from tests.github_server import FakeGitHub, GitHubServer

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW = 1_750_000_000.0
SHA_BASE, SHA_HEAD, SHA_MERGE = "b" * 40, "c" * 40, "d" * 40
CLOSED = 250  # closed PRs in the standard fake: three pages of 100


class FakeClock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _fill(fake: FakeGitHub) -> None:
    """acme/app: 250 closed PRs (odd numbers merged; updated_at order differs from number order), 5 open ones,
    issue 1001 with three comments, and a bot's PR."""
    fake.add_repo("acme/app", "/srv/git/acme/app.git")
    for n in range(1, CLOSED + 1):
        merged = n % 2 == 1
        fake.add_pull(
            "acme/app", n, title=f"Change {n}", body=f"Body of {n}" if n % 5 else "",
            merged_at=T0 + timedelta(hours=n, minutes=30) if merged else None,
            created_at=T0 + timedelta(hours=n), updated_at=T0 + timedelta(hours=(n * 37) % CLOSED, minutes=n % 7),
            base_sha=SHA_BASE, head_sha=f"{n:040x}", head_ref=f"feature/{n}",
            merge_commit_sha=SHA_MERGE if merged else None, user_login="alice",
        )
    for n in range(CLOSED + 1, CLOSED + 6):
        fake.add_pull("acme/app", n, title=f"Open {n}", state="open", merged_at=None, created_at=T0,
                      updated_at=T0, base_sha=SHA_BASE, head_sha=SHA_HEAD, head_ref=f"wip/{n}")
    fake.add_pull("acme/app", 900, title="Bump lib from 1.0 to 1.1", merged_at=T0, created_at=T0, updated_at=T0,
                  base_sha=SHA_BASE, head_sha=SHA_HEAD, head_ref="dependabot/pip/lib-1.1",
                  merge_commit_sha=SHA_MERGE, user_login="dependabot[bot]", user_type="Bot")
    fake.add_issue("acme/app", 1001, title="Crash on empty input", body="Steps: run it with ''.", created_at=T0,
                   comments=[("carol", "Same here.", T0 + timedelta(hours=1)),
                             ("dave", "The parser assumes one line.", T0 + timedelta(hours=2)),
                             ("acme", "Fixed in #1.", T0 + timedelta(days=2))])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock):
    fake = FakeGitHub()
    _fill(fake)
    with GitHubServer(fake, clock=clock) as s:
        yield s


def client(server: GitHubServer, token: str | None = "t0ken", **kwargs) -> Github:
    # seconds_between_requests=None: PyGithub otherwise sleeps 0.25 s between requests (real time).
    return Github(base_url=server.api_url, auth=Auth.Token(token) if token else None, retry=None, per_page=100,
                  seconds_between_requests=None, **kwargs)


@pytest.fixture
def gh(server: GitHubServer) -> Github:
    return client(server)


def raw_get(server: GitHubServer, path: str, token: str | None = "t0ken", auth_type: str = "token"):
    """(status, headers, JSON) of one GET, without PyGithub, to check the wire format itself."""
    req = urllib.request.Request(server.api_url + path)
    if token:
        req.add_header("Authorization", f"{auth_type} {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, err.headers, json.loads(err.read())


# ---- repository -----------------------------------------------------------------------------------------------


def test_get_repo_reads_the_full_repository(server: GitHubServer, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    assert (repo.full_name, repo.name, repo.default_branch) == ("acme/app", "app", "main")
    assert repo.clone_url == "/srv/git/acme/app.git"
    assert repo.raw_data["clone_url"] == "/srv/git/acme/app.git"
    assert repo.owner.login == "acme" and repo.owner.type == "Organization"
    assert repo.url == f"{server.api_url}/repos/acme/app"
    assert repo.html_url == f"{server.web_url}/acme/app"
    assert repo.permissions.pull is True  # only sent to authenticated requests, as GitHub does
    assert repo.private is False and isinstance(repo.id, int)
    assert [(r.method, r.path, r.status) for r in server.requests] == [("GET", "/repos/acme/app", 200)]


def test_repository_names_are_case_insensitive(gh: Github) -> None:
    assert gh.get_repo("ACME/App").full_name == "acme/app"


def test_unknown_repository_issue_and_route_are_404(server: GitHubServer, gh: Github) -> None:
    with pytest.raises(UnknownObjectException) as err:
        gh.get_repo("acme/nope")
    assert err.value.status == 404
    assert err.value.data["message"] == "Not Found" and "documentation_url" in err.value.data
    repo = gh.get_repo("acme/app")
    with pytest.raises(UnknownObjectException):
        repo.get_issue(4242)
    with pytest.raises(UnknownObjectException):
        repo.get_pull(4242)
    status, headers, body = raw_get(server, "/orgs/acme/teams")
    assert (status, body["message"]) == (404, "Not Found")
    assert headers["Content-Type"] == "application/json; charset=utf-8"


# ---- pull requests and pagination -------------------------------------------------------------------------------


def test_pulls_follow_the_link_header_across_three_pages(server: GitHubServer, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    pulls = repo.get_pulls(state="closed", sort="updated", direction="desc")
    assert pulls.totalCount == CLOSED + 1  # before iterating: see the next test
    server.reset_log()

    got = list(pulls)

    assert len(got) == CLOSED + 1
    assert all(p.state == "closed" for p in got)
    keys = [(p.updated_at, p.number) for p in got]
    assert keys == sorted(keys, reverse=True)
    pages = [r for r in server.requests if r.path.endswith("/pulls")]
    assert len(pages) == 3 == len(server.requests)  # and nothing else: list fields need no completion
    assert pages[0].path == "/repos/acme/app/pulls"
    assert [r.path for r in pages[1:]] == [f"/repositories/{repo.id}/pulls"] * 2  # the Link URLs
    assert [r.query.get("page") for r in pages] == [None, "2", "3"]
    assert all(r.query["per_page"] == "100" and r.query["sort"] == "updated" for r in pages)


def test_total_count_after_iterating_loses_the_filters(gh: Github) -> None:
    """PyGithub quirk: once a list was iterated, totalCount refetches without state/sort (open PRs here)."""
    pulls = gh.get_repo("acme/app").get_pulls(state="closed")
    list(pulls)
    assert pulls.totalCount == 5


def test_get_page_is_what_the_miner_uses(server: GitHubServer, gh: Github) -> None:
    pulls = gh.get_repo("acme/app").get_pulls(state="closed", sort="updated", direction="desc")
    sizes = [len(pulls.get_page(i)) for i in range(4)]
    assert sizes == [100, 100, CLOSED + 1 - 200, 0]
    assert [r.query.get("page") for r in server.requests[1:]] == [None, "2", "3", "4"]


def test_link_header_has_githubs_exact_format(server: GitHubServer) -> None:
    repo_id = server.github.repo("acme/app").id
    base = f"{server.api_url}/repositories/{repo_id}/pulls?state=closed&sort=updated&direction=desc&per_page=100"

    _, first, items = raw_get(server, "/repos/acme/app/pulls?state=closed&sort=updated&direction=desc&per_page=100")
    _, middle, _ = raw_get(server, "/repos/acme/app/pulls?state=closed&sort=updated&direction=desc&per_page=100"
                                   "&page=2")
    _, last, _ = raw_get(server, "/repos/acme/app/pulls?state=closed&sort=updated&direction=desc&per_page=100"
                                 "&page=3")

    assert len(items) == 100
    assert first["Link"] == f'<{base}&page=2>; rel="next", <{base}&page=3>; rel="last"'
    assert middle["Link"] == (f'<{base}&page=1>; rel="prev", <{base}&page=3>; rel="next", '
                              f'<{base}&page=3>; rel="last", <{base}&page=1>; rel="first"')
    assert last["Link"] == f'<{base}&page=2>; rel="prev", <{base}&page=1>; rel="first"'
    _, single, few = raw_get(server, "/repos/acme/app/pulls")  # 5 open PRs fit one page: no Link at all
    assert len(few) == 5 and "Link" not in single


def test_per_page_defaults_to_30_and_caps_at_100(server: GitHubServer) -> None:
    assert len(raw_get(server, "/repos/acme/app/pulls?state=all")[2]) == 30
    assert len(raw_get(server, "/repos/acme/app/pulls?state=all&per_page=500")[2]) == 100


def test_sort_and_direction(gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    created_desc = [p.number for p in repo.get_pulls(state="closed")]  # GitHub's default: created, desc
    assert created_desc[:3] == [CLOSED, CLOSED - 1, CLOSED - 2]
    updated_default = list(repo.get_pulls(state="closed", sort="updated"))  # ... but asc for sort=updated
    assert updated_default[0].updated_at == min(p.updated_at for p in updated_default)
    assert {p.number for p in repo.get_pulls(state="open")} == set(range(CLOSED + 1, CLOSED + 6))
    assert len(list(repo.get_pulls(state="all"))) == CLOSED + 6


def test_pull_request_fields_the_miner_reads(server: GitHubServer, gh: Github) -> None:
    pulls = gh.get_repo("acme/app").get_pulls(state="closed", sort="created", direction="asc")
    page = {p.number: p for p in pulls.get_page(0)}
    server.reset_log()
    merged, unmerged = page[1], page[2]

    assert (merged.number, merged.title, merged.body) == (1, "Change 1", "Body of 1")
    assert merged.merged_at == T0 + timedelta(hours=1, minutes=30)
    assert merged.created_at == T0 + timedelta(hours=1)
    assert merged.updated_at == T0 + timedelta(hours=37 % CLOSED, minutes=1)
    assert (merged.base.sha, merged.head.sha, merged.merge_commit_sha) == (SHA_BASE, f"{1:040x}", SHA_MERGE)
    assert (merged.base.ref, merged.head.ref, merged.head.label) == ("main", "feature/1", "acme:feature/1")
    assert (merged.user.login, merged.user.type) == ("alice", "User")
    assert merged.url == f"{server.api_url}/repos/acme/app/pulls/1"
    assert (unmerged.merged_at, unmerged.merge_commit_sha) == (None, None)
    assert page[5].body is None  # GitHub sends null for an empty body
    assert server.requests == []  # all of that came with the list page


def test_raw_data_of_a_listed_object_costs_a_request(server: GitHubServer, gh: Github) -> None:
    """PyGithub quirk: ``raw_data`` completes a listed (not completed) object first: one GET per item."""
    item = gh.get_repo("acme/app").get_pulls(state="closed").get_page(0)[0]
    server.reset_log()
    assert item.raw_data["number"] == CLOSED
    assert [r.path for r in server.requests] == [f"/repos/acme/app/pulls/{CLOSED}"]
    assert item.raw_data["merged"] is False  # the full pull-request shape now
    assert len(server.requests) == 1


def test_get_pull_is_the_full_shape(gh: Github) -> None:
    pr = gh.get_repo("acme/app").get_pull(3)
    assert pr.merged is True and pr.merged_by.login == "alice"
    assert pr.mergeable is None and pr.commits == 1 and pr.comments == 0
    assert pr.raw_data["head"]["repo"]["full_name"] == "acme/app"


def test_a_bot_author(gh: Github) -> None:
    pr = gh.get_repo("acme/app").get_pull(900)
    assert (pr.user.login, pr.user.type) == ("dependabot[bot]", "Bot")
    assert pr.user.url.endswith("/users/dependabot%5Bbot%5D")


# ---- issues and comments ----------------------------------------------------------------------------------------


def test_issue_and_comments(server: GitHubServer, gh: Github) -> None:
    issue = gh.get_repo("acme/app").get_issue(1001)
    assert (issue.number, issue.title, issue.body, issue.state) == (
        1001, "Crash on empty input", "Steps: run it with ''.", "closed")
    assert issue.user.login == "bob" and issue.pull_request is None
    assert issue.raw_data.get("pull_request") is None
    assert issue.created_at == T0 and issue.comments == 3

    comments = list(issue.get_comments())

    assert [(c.user.login, c.body) for c in comments] == [
        ("carol", "Same here."), ("dave", "The parser assumes one line."), ("acme", "Fixed in #1.")]
    assert comments[1].created_at == T0 + timedelta(hours=2)
    assert comments[0].html_url.endswith(f"/acme/app/issues/1001#issuecomment-{comments[0].id}")
    assert [r.path for r in server.requests[-2:]] == ["/repos/acme/app/issues/1001",
                                                      "/repos/acme/app/issues/1001/comments"]


def test_comments_since(gh: Github) -> None:
    issue = gh.get_repo("acme/app").get_issue(1001)
    assert [c.body for c in issue.get_comments(since=T0 + timedelta(hours=2))] == [
        "The parser assumes one line.", "Fixed in #1."]


def test_comments_paginate(server: GitHubServer, gh: Github) -> None:
    server.github.add_issue("acme/app", 1002, title="Long thread", created_at=T0,
                            comments=[("carol", f"comment {i}", T0 + timedelta(minutes=i)) for i in range(150)])
    issue = gh.get_repo("acme/app").get_issue(1002)
    server.reset_log()
    assert [c.body for c in issue.get_comments()] == [f"comment {i}" for i in range(150)]
    assert len(server.requests) == 2


def test_a_pull_request_number_is_an_issue_with_pull_request(gh: Github) -> None:
    issue = gh.get_repo("acme/app").get_issue(3)
    assert issue.pull_request is not None and issue.pull_request.merged_at == T0 + timedelta(hours=3, minutes=30)
    assert issue.raw_data["pull_request"]["url"].endswith("/repos/acme/app/pulls/3")


# ---- rate limits ------------------------------------------------------------------------------------------------


def test_rate_limit_headers_reach_pygithub(server: GitHubServer, gh: Github) -> None:
    gh.get_repo("acme/app")
    assert gh.rate_limiting == (4999, 5000)
    assert gh.rate_limiting_resettime == int(NOW) + 3600
    status, headers, _ = raw_get(server, "/repos/acme/app")
    assert status == 200
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"], headers["X-RateLimit-Used"],
            headers["X-RateLimit-Reset"], headers["X-RateLimit-Resource"]) == (
        "5000", "4998", "2", str(int(NOW) + 3600), "core")
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_rate_limit_endpoint_is_free_and_shaped_like_githubs(server: GitHubServer, gh: Github) -> None:
    gh.get_repo("acme/app")
    overview = gh.get_rate_limit()
    assert (overview.resources.core.limit, overview.resources.core.remaining, overview.resources.core.used) == (
        5000, 4999, 1)
    assert overview.rate.remaining == 4999
    assert overview.resources.core.reset == datetime.fromtimestamp(int(NOW) + 3600, UTC)
    assert overview.resources.search.limit == 30
    assert gh.rate_limiting == (4999, 5000)  # /rate_limit spent nothing


def test_unauthenticated_requests_get_60(server: GitHubServer) -> None:
    anonymous = client(server, token=None)
    anonymous.get_repo("acme/app")
    assert anonymous.rate_limiting == (59, 60)
    assert server.requests[-1].authorized is False


def test_primary_limit_then_refill_after_reset(server: GitHubServer, clock: FakeClock) -> None:
    server.quotas[True].limit = 3
    gh = client(server)
    repo = gh.get_repo("acme/app")
    repo.get_issue(1001)
    repo.get_pull(1)
    assert gh.rate_limiting == (0, 3)

    with pytest.raises(RateLimitExceededException) as err:
        repo.get_pull(2)
    assert err.value.status == 403
    assert err.value.data["message"].startswith("API rate limit exceeded for ")
    assert err.value.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" not in err.value.headers
    clock.now += 3599
    with pytest.raises(RateLimitExceededException):
        repo.get_pull(2)

    clock.now += 1  # the reset time has come: the quota refills and a new window starts
    assert repo.get_pull(2).number == 2
    assert gh.rate_limiting == (2, 3)
    assert gh.rate_limiting_resettime == int(NOW) + 2 * 3600
    assert [r.status for r in server.requests] == [200, 200, 200, 403, 403, 200]


def test_exhaust_uses_up_a_quota(server: GitHubServer, gh: Github) -> None:
    server.exhaust()
    with pytest.raises(RateLimitExceededException):
        gh.get_repo("acme/app")
    assert client(server, token=None).get_repo("acme/app").full_name == "acme/app"  # the other bucket


# ---- injected faults ------------------------------------------------------------------------------------------


def test_secondary_limit_is_a_403_rate_limit_exception_with_retry_after(server: GitHubServer, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    server.fail_next("/repos/acme/app/pulls", "secondary", retry_after=30)
    pulls = repo.get_pulls(state="closed")

    with pytest.raises(RateLimitExceededException) as err:
        pulls.get_page(0)

    assert err.value.status == 403
    assert err.value.headers["retry-after"] == "30"
    assert err.value.data["message"].startswith("You have exceeded a secondary rate limit")
    assert int(err.value.headers["x-ratelimit-remaining"]) > 0  # not the primary quota
    assert len(pulls.get_page(0)) == 100  # consumed once


def test_429_is_a_plain_github_exception(server: GitHubServer, gh: Github) -> None:
    """PyGithub maps only 403s to RateLimitExceededException: a 429 secondary limit stays a GithubException."""
    server.fail_next("/repos/acme/app", "429", retry_after=5)
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/app")
    assert type(err.value) is GithubException
    assert (err.value.status, err.value.headers["retry-after"]) == (429, "5")


def test_502_is_a_github_exception_and_pygithub_does_not_retry(server: GitHubServer, gh: Github) -> None:
    server.fail_next("/repos/acme/app", "5xx")
    with pytest.raises(GithubException) as err:
        gh.get_repo("acme/app")
    assert type(err.value) is GithubException and err.value.status == 502
    assert err.value.data == {"message": "Server Error"}
    assert len(server.requests) == 1
    assert gh.get_repo("acme/app").full_name == "acme/app"


def test_injected_404_and_disconnect(server: GitHubServer, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    server.fail_next("/repos/acme/app/issues/1001", "404")
    with pytest.raises(UnknownObjectException):
        repo.get_issue(1001)
    server.fail_next("/repos/acme/app/issues", "disconnect")
    with pytest.raises(requests.ConnectionError):
        repo.get_issue(1001)
    assert repo.get_issue(1001).number == 1001
    assert [r.status for r in server.requests] == [200, 404, 0, 200]


def test_faults_match_by_prefix_in_order_and_via_repository_ids(server: GitHubServer, gh: Github) -> None:
    repo = gh.get_repo("acme/app")
    server.fail_next("/repos/acme/app/pulls", "5xx")
    server.fail_next("/repos/acme/app/pulls", "secondary")
    assert repo.get_issue(1001).number == 1001  # other paths are untouched
    pulls = repo.get_pulls(state="closed")
    with pytest.raises(GithubException):
        pulls.get_page(1)  # /repos/acme/app/pulls?page=2
    status, _, _ = raw_get(server, f"/repositories/{repo.id}/pulls?state=closed&page=3")
    assert status == 403  # the second fault, matched through the /repositories/{id} form
    assert len(pulls.get_page(1)) == 100
    with pytest.raises(ValueError):
        server.fail_next("/repos", "teapot")  # type: ignore[arg-type]


# ---- authentication -------------------------------------------------------------------------------------------


def test_required_token(clock: FakeClock) -> None:
    fake = FakeGitHub()
    _fill(fake)
    with GitHubServer(fake, clock=clock, require_token="s3kr1t-value") as server:
        with pytest.raises(BadCredentialsException) as err:
            client(server, token=None).get_repo("acme/app")
        assert err.value.status == 401 and err.value.data["message"] == "Bad credentials"
        with pytest.raises(BadCredentialsException):
            client(server, token="wrong").get_repo("acme/app")
        assert client(server, token="s3kr1t-value").get_repo("acme/app").full_name == "acme/app"
        assert raw_get(server, "/repos/acme/app", token="s3kr1t-value", auth_type="Bearer")[0] == 200

        log = server.requests
        assert [(r.status, r.authorized) for r in log] == [(401, False), (401, True), (200, True), (200, True)]
        assert "s3kr1t" not in repr(log) and "wrong" not in repr(log)


# ---- git fixtures ---------------------------------------------------------------------------------------------


GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}


def _git(path: Path, *args: str) -> str:
    return subprocess.run(["git", f"--git-dir={path}", *args], capture_output=True, text=True, check=True,
                          env=GIT_ENV).stdout.strip()


def test_build_pr_repo_matches_what_the_server_says(tmp_path: Path, clock: FakeClock) -> None:
    specs = [
        PRSpec.code(2, body="Fixes #1.", commits=2),
        PRSpec.code(4, merge="squash", commits=3),
        PRSpec.docs(6, merge=None),
    ]
    built = build_pr_repo(tmp_path / "repo.git", specs)
    merged, squashed, closed = built.prs

    assert _git(built.path, "rev-parse", "refs/pull/2/head") == merged.head_sha
    assert _git(built.path, "rev-parse", "refs/pull/6/head") == closed.head_sha
    assert _git(built.path, "rev-parse", "refs/heads/feature/pr-6") == closed.head_sha
    assert _git(built.path, "rev-parse", "main") == built.main_sha == squashed.merge_commit_sha
    assert _git(built.path, "rev-list", "--parents", "-n1", merged.merge_commit_sha).split()[1:] == [
        merged.base_sha, merged.head_sha]
    assert _git(built.path, "rev-list", "--parents", "-n1", squashed.merge_commit_sha).split()[1:] == [
        merged.merge_commit_sha]
    assert _git(built.path, "rev-parse", f"{squashed.merge_commit_sha}^{{tree}}") == _git(
        built.path, "rev-parse", f"{squashed.head_sha}^{{tree}}")
    assert len(merged.commit_shas) == 2 and len(squashed.commit_shas) == 3
    assert subprocess.run(["git", f"--git-dir={built.path}", "merge-base", "--is-ancestor", closed.head_sha, "main"],
                          env=GIT_ENV).returncode == 1  # never merged
    assert closed.merge_commit_sha is None and closed.merged_at is None
    assert merged.created_at < merged.merged_at <= merged.updated_at
    assert _git(built.path, "log", "-1", "--format=%s", squashed.merge_commit_sha) == (
        "Fix value_4 for negative input (#4)")

    fake = FakeGitHub()
    built.register(fake, "acme/lib")
    with GitHubServer(fake, clock=clock) as server:
        pulls = client(server).get_repo("acme/lib").get_pulls(state="closed", sort="updated", direction="desc")
        got = {p.number: p for p in pulls.get_page(0)}
        assert got[2].head.sha == merged.head_sha and got[2].base.sha == merged.base_sha
        assert got[2].merge_commit_sha == merged.merge_commit_sha and got[2].merged_at == merged.merged_at
        assert got[4].merge_commit_sha == squashed.merge_commit_sha
        assert got[6].merged_at is None and got[6].head.sha == closed.head_sha
        assert client(server).get_repo("acme/lib").clone_url == str(built.path)


def test_build_pr_repo_is_reproducible(tmp_path: Path) -> None:
    specs = [PRSpec.code(2, commits=3), PRSpec.docs(4, merge="squash")]
    assert build_pr_repo(tmp_path / "a", specs).main_sha == build_pr_repo(tmp_path / "b", specs).main_sha


def test_build_many_is_fast_and_varied(tmp_path: Path, clock: FakeClock) -> None:
    started = time.monotonic()
    built = build_many(tmp_path / "many.git", 500)
    assert time.monotonic() - started < 15

    assert len(built.prs) == 500
    assert built.expected() == {"candidate": 50, "no_issue": 150, "not_merged": 100, "no_test_change": 100,
                                "bot_author": 50, "no_source_change": 50}
    assert {i.number for i in built.issues} == {p.number - 1 for p in built.prs if p.spec.kind in
                                               ("candidate", "docs_only", "bot", "source_only", "tests_only")}
    refs = _git(built.path, "for-each-ref", "--format=%(refname)", "refs/pull").splitlines()
    assert len(refs) == 500
    assert _git(built.path, "rev-list", "--count", "--first-parent", "main") == str(1 + 400)

    fake = FakeGitHub()
    built.register(fake, "acme/widgets")
    with GitHubServer(fake, clock=clock) as server:
        gh = client(server)
        pulls = gh.get_repo("acme/widgets").get_pulls(state="closed", sort="updated", direction="desc")
        listed = [p for i in range(5) for p in pulls.get_page(i)]
        assert len(listed) == 500
        # get_page(i) asks for ?page=i+1 on the first URL itself: it never follows the Link header.
        assert server.count("/repos/acme/widgets/pulls") == 5
        assert [p.number for p in listed] != sorted((p.number for p in listed), reverse=True)  # updated != created
        candidate = next(p for p in built.prs if p.spec.kind == "candidate")
        issue = gh.get_repo("acme/widgets").get_issue(candidate.number - 1)
        hints = [c for c in issue.get_comments() if c.created_at < candidate.commit_dates[0]]
        assert len(hints) == 1
