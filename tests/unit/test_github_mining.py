"""The GitHub source against a local server speaking GitHub's REST API, through the real PyGithub client.

No Docker: git repositories built here (tests/github_fixtures.py) hold the code, the server
(tests/github_server.py) holds pull requests, issues and comments with GitHub's JSON shapes, pagination
and rate-limit headers. Rate-limit waits run on a fake clock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.mining.github_api import GitHubAPI
from factory.mining.github_source import mine_github
from factory.pipeline.instances_export import export_instances
from factory.store import Store
from tests.github_fixtures import START, BuiltIssue, PRSpec, build_many, build_pr_repo
from tests.github_server import FakeGitHub, GitHubServer

REPO = "acme/pkg"
CANARY = "ghp_CANARY0123456789abcdefCANARY0123456789"


class FakeClock:
    """Time that moves only when the client sleeps (and a little per request, as real time would)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _settings(tmp_path: Path) -> Settings:
    return Settings(db_path=tmp_path / "f.duckdb", home=tmp_path / "home")


def _issue(number: int, title: str, body: str, *comments: tuple[str, str, object]) -> BuiltIssue:
    return BuiltIssue(number=number, title=title, body=body, created_at=START - timedelta(days=3),
                      comments=list(comments))


@pytest.fixture
def small(tmp_path: Path):
    """A repository whose PRs cover every rule, registered on a fake GitHub (plus acme/other#9)."""
    binary_and_tests = {"src/pkg/logo.bin": "\x00\x01\x02binary\xff", "src/pkg/mod_18.py": "def v():\n    return 18\n",
                        "tests/test_mod_18.py": "from pkg.mod_18 import v\n\n\ndef test_v():\n    assert v() == 18\n"}
    specs = [
        PRSpec.code(2, title="Handle negative values", body="Fixes #1.\n\n<!-- fixes #99 -->", commits=2),
        PRSpec.code(4, title="Clamp totals", body="Closes #3 and acme/other#9", merge="squash"),
        PRSpec.code(6, title="Try a rewrite (fixes #5)", merge=None),
        PRSpec.code(8, title="Refactor value helpers"),
        PRSpec.code(10, title="Speed up value", commits=2, messages=["Speed up value", "Resolves #7"]),
        PRSpec.docs(12, title="Document #11 (fixes #11)"),
        PRSpec.code(14, title="Bump deps, fixes #13", author="dependabot[bot]", author_type="Bot"),
        PRSpec.code(16, title="Fix #15 for good", body="fixes #15"),
        PRSpec(number=18, title="Ship the logo", body="fixes #17", commits=[binary_and_tests]),
        PRSpec.code(20, title="Fix #19 (empty issue)", body="fixes #19"),
    ]
    built = build_pr_repo(tmp_path / "pkg.git", specs)
    first_commit = built.pr(2).commit_dates[0]
    built.issues += [
        _issue(1, "Negative values crash", "value(-1) raises.",
               ("carol", "I see it too (before the fix)", first_commit - timedelta(hours=2)),
               ("dave", "Thanks for fixing! (after the merge)", built.pr(2).merged_at + timedelta(hours=1))),
        _issue(3, "Totals overflow", "Totals above 2**31 wrap."),
        _issue(5, "Rewrite", "Rewrite it."),
        _issue(7, "value is slow", "value(10**6) takes a second."),
        _issue(11, "Docs for topic", "Explain topic 12."),
        _issue(13, "Old deps", "Deps are old."),
        _issue(17, "No logo", "The package ships no logo."),
        _issue(19, "Empty", ""),
    ]
    fake = FakeGitHub()
    built.register(fake, REPO)
    other = build_pr_repo(tmp_path / "other.git", [])
    other.issues.append(_issue(9, "Other side of the overflow", "acme/other sees it too."))
    other.register(fake, "acme/other")
    return built, fake


def test_mines_merged_prs_that_resolve_issues_with_problem_hints_and_code_from_git(small, tmp_path):
    built, fake = small
    with GitHubServer(fake) as server, Store(_settings(tmp_path).db_path) as store:
        report = mine_github(REPO, store, _settings(tmp_path), api=GitHubAPI(base_url=server.api_url))
        cands = {c.pull_number: c for c in store.candidates(REPO)}

    assert sorted(cands) == [2, 4, 10, 18]
    assert report.skipped == {"not_merged": 1, "no_issue": 1, "no_test_change": 1, "bot_author": 1,
                              "issue_not_found": 1, "empty_issue": 1}
    assert report.scanned == 10

    two = cands[2]
    pr2 = built.pr(2)
    assert two.instance_id == "acme__pkg-2"
    assert two.issue_numbers == ["1"]  # the HTML comment's "fixes #99" does not count
    assert two.problem_statement == "Negative values crash\nvalue(-1) raises.\n"
    assert two.hints_text == "I see it too (before the fix)\n"  # not the comment after the merge
    assert two.base_commit == pr2.base_sha and two.fix_commit == pr2.merge_commit_sha
    assert two.created_at == pr2.created_at
    assert two.source == "github:acme/pkg"
    assert "tests/test_mod_2.py" in two.test_patch and "src/pkg/mod_2.py" in two.patch
    assert "tests/" not in two.patch

    four = cands[4]
    assert four.issue_numbers == ["3", "acme/other#9"]  # every issue, in order, cross-repo honoured
    assert four.problem_statement == ("Totals overflow\nTotals above 2**31 wrap.\n\n"
                                      "Other side of the overflow\nacme/other sees it too.\n")
    assert cands[10].issue_numbers == ["7"]  # found in a commit message only
    assert "GIT binary patch" in cands[18].patch  # binary hunks kept (from git, not the API)


def test_api_requests_are_spent_only_on_candidates(small, tmp_path):
    _built, fake = small
    with GitHubServer(fake) as server, Store(_settings(tmp_path).db_path) as store:
        report = mine_github(REPO, store, _settings(tmp_path), api=GitHubAPI(base_url=server.api_url))
        log = server.requests
    paths = [r.path for r in log]
    issue_requests = [p for p in paths if "/issues/" in p]
    # one per referenced issue of the PRs that pass every local check (1, 3, acme/other#9, 7, 17; 15 is a
    # 404; 19 is empty), plus one for the comments of the only issue that has any (#1); nothing for the rest
    assert len(issue_requests) == 8, issue_requests
    assert sum(p.endswith("/comments") for p in issue_requests) == 1
    assert sum("/pulls" in p for p in paths) == 1  # 10 PRs fit one page
    assert report.requests == len(log)


def test_pagination_and_resume_cursor_make_reruns_cheap(tmp_path):
    built = build_many(tmp_path / "many.git", 250)
    fake = FakeGitHub()
    built.register(fake, REPO)
    expected = built.expected()
    settings = _settings(tmp_path)
    with GitHubServer(fake) as server, Store(settings.db_path) as store:
        api = GitHubAPI(base_url=server.api_url)
        first = mine_github(REPO, store, settings, limit=5, api=api)
        assert len(first.added) == 5
        pages = [r for r in server.requests if r.path.endswith("/pulls")]
        assert len(pages) == 3  # 250 PRs, 100 a page, following GitHub's Link headers
        assert [r.query.get("page") for r in pages] == [None, "2", "3"]
        cursor_after_first = store.source(f"github:{REPO}")["cursor"]
        assert cursor_after_first is not None

        server.reset_log()
        second = mine_github(REPO, store, settings, api=api)
        assert len(first.added) + len(second.added) == expected["candidate"]
        assert not set(first.added) & set(second.added)
        assert second.scanned < 250  # it started at the cursor, not from the beginning

        server.reset_log()
        third = mine_github(REPO, store, settings, api=api)
        assert third.added == [] and third.requests <= 2  # the repo + one page that reaches the cursor
        assert len(store.candidates(REPO)) == expected["candidate"]


def test_rate_limits_wait_on_the_clock_and_5xx_is_retried(small, tmp_path):
    _built, fake = small
    clock = FakeClock()
    settings = _settings(tmp_path)
    with GitHubServer(fake, clock=clock, window=3600) as server, Store(settings.db_path) as store:
        server.fail_next(f"/repos/{REPO}/pulls", "secondary", retry_after=7)
        server.fail_next(f"/repos/{REPO}/issues/1", "5xx")
        server.fail_next(f"/repos/{REPO}/issues/3", "429", retry_after=11)
        server.exhaust(authenticated=False)  # the quota is used up: the first request is refused until the reset
        api = GitHubAPI(base_url=server.api_url, sleep=clock.sleep, clock=clock)
        report = mine_github(REPO, store, settings, api=api)
        statuses = [r.status for r in server.requests]

    assert len(report.added) == 4  # the same result as without any limit
    assert statuses.count(403) == 2 and statuses.count(502) == 1 and statuses.count(429) == 1
    assert clock.sleeps[0] >= 3000  # waited for the primary reset (about an hour), not a busy loop
    assert 7 in clock.sleeps and 11 in clock.sleeps and 2.0 in clock.sleeps
    assert api.stats.retries == 4


def test_a_missing_repository_is_one_clear_error(tmp_path):
    with (GitHubServer(FakeGitHub()) as server, Store(_settings(tmp_path).db_path) as store,
          pytest.raises(UserError) as info):
        mine_github("acme/nope", store, _settings(tmp_path), api=GitHubAPI(base_url=server.api_url))
    assert "acme/nope" in info.value.what and "404" in info.value.what


def test_the_token_reaches_github_and_nothing_else(small, tmp_path, capsys, caplog):
    built, fake = small
    settings = _settings(tmp_path)
    with GitHubServer(fake, require_token=CANARY) as server:
        with Store(settings.db_path) as store:
            with pytest.raises(UserError) as info:
                mine_github(REPO, store, settings, api=GitHubAPI(token="wrong-token", base_url=server.api_url))
            assert "GITHUB_TOKEN" in info.value.fix
            report = mine_github(REPO, store, settings, api=GitHubAPI(token=CANARY, base_url=server.api_url))
            assert len(report.added) == 4
            out = tmp_path / "all.instances.jsonl"
            export_instances(store, out)
        assert all(r.authorized for r in server.requests if r.status != 401)
    captured = capsys.readouterr()
    for where, text in {"db": settings.db_path.read_bytes().decode("latin-1"), "export": out.read_text(),
                        "output": captured.out + captured.err, "logs": caplog.text}.items():
        assert CANARY not in text, where
    for path in settings.home.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_cli_mine_github_reports_and_a_rerun_adds_nothing(small, tmp_path):
    _built, fake = small
    factory = Path(sys.executable).parent / "factory"
    with GitHubServer(fake) as server:
        env = {**os.environ, "GITHUB_API_URL": server.api_url, "GITHUB_TOKEN": ""}
        args = [str(factory), "mine", "--github", REPO, "--db", str(tmp_path / "f.duckdb"), "--home",
                str(tmp_path / "home"), "--json"]
        first = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        again = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
        bad = subprocess.run([*args[:3], "acme/missing", *args[4:]], env=env, capture_output=True, text=True,
                             timeout=120)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert sorted(report["added"]) == ["acme__pkg-10", "acme__pkg-18", "acme__pkg-2", "acme__pkg-4"]
    assert json.loads(again.stdout)["added"] == []
    assert bad.returncode == 2 and "acme/missing" in bad.stderr and "fix:" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_an_interrupted_mine_keeps_what_it_stored_and_the_rerun_finishes_without_duplicates(small, tmp_path):
    _built, fake = small
    settings = _settings(tmp_path)
    clock = FakeClock()
    with GitHubServer(fake) as server, Store(settings.db_path) as store:
        for _ in range(3):  # issue #7 (PR 10) answers 502 three times: more than max_tries=3 allows
            server.fail_next(f"/repos/{REPO}/issues/7", "5xx")
        api = GitHubAPI(base_url=server.api_url, max_tries=3, sleep=clock.sleep, clock=clock)
        with pytest.raises(UserError) as info:
            mine_github(REPO, store, settings, api=api)
        assert "acme/pkg#7" in info.value.what and "resumes" in info.value.fix
        kept = {c.pull_number for c in store.candidates(REPO)}
        assert kept == {2, 4}  # PRs handled before the failure are stored, with the cursor after them
        cursor = store.source(f"github:{REPO}")["cursor"]
        assert cursor is not None and cursor < _built.pr(10).updated_at

        again = mine_github(REPO, store, settings, api=GitHubAPI(base_url=server.api_url))
        assert sorted(again.added) == ["acme__pkg-10", "acme__pkg-18"]
        assert sorted(c.pull_number for c in store.candidates(REPO)) == [2, 4, 10, 18]


def test_filters_are_configurable(small, tmp_path):
    from factory.core.settings import GitHubFilters

    _built, fake = small
    settings = _settings(tmp_path)
    with GitHubServer(fake) as server, Store(settings.db_path) as store:
        loose = GitHubFilters(exclude_bots=False, require_issue_body=False, max_files=2)
        report = mine_github(REPO, store, settings, api=GitHubAPI(base_url=server.api_url), filters=loose)
    # bots and empty issues kept; but PR 2 (src + test, 2 files) stays and PR 18 (3 files) is too large
    assert {"bot_author", "empty_issue"}.isdisjoint(report.skipped)
    assert report.skipped["too_large"] >= 1
    assert "acme__pkg-14" in report.added and "acme__pkg-20" in report.added
    assert "acme__pkg-18" not in report.added
