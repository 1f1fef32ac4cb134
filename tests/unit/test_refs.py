"""Issue and pull-request references in commit text (factory.mining.refs)."""

from __future__ import annotations

import pytest

from factory.mining.refs import parse_references

REPO = "owner/repo"


def issues(text: str, repo: str = REPO) -> list[str]:
    return parse_references(text, repo).issues


def test_keyword_list_with_cross_repo_reference() -> None:
    refs = parse_references("Parser crash\n\nFixes #12, #13 and other/lib#4", REPO)
    assert refs.issues == ["12", "13", "other/lib#4"]
    assert refs.pull_number is None


def test_list_with_oxford_comma_and_ampersand() -> None:
    assert issues("Fixes #1, #2, and #3") == ["1", "2", "3"]
    assert issues("resolves #4 & #5") == ["4", "5"]


def test_own_repo_slug_is_normalized() -> None:
    assert issues("closes owner/repo#9") == ["9"]
    assert issues("closes Owner/Repo#9") == ["9"]
    assert issues("closes owner/repo-two#9") == ["owner/repo-two#9"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Fixes https://github.com/owner/repo/issues/21", ["21"]),
        ("Resolves https://github.com/other/lib/issues/8", ["other/lib#8"]),
        ("closes http://git.example.com/owner/repo/pull/5", ["5"]),
        ("Fixes https://github.com/owner/repo/issues/21#issuecomment-99", ["21"]),
    ],
)
def test_issue_urls(text: str, expected: list[str]) -> None:
    assert issues(text) == expected


@pytest.mark.parametrize(
    "keyword",
    ["close", "closes", "closed", "fix", "fixes", "fixed", "resolve", "resolves", "resolved", "FIXES"],
)
def test_every_closing_keyword(keyword: str) -> None:
    assert issues(f"{keyword} #6") == ["6"]
    assert issues(f"{keyword}: #6") == ["6"]


def test_squash_suffix_sets_pull_number() -> None:
    refs = parse_references("Handle empty input (#34)\n\nFixes #30", REPO)
    assert refs.pull_number == 34
    # The subject's (#N) comes first in the text, so it comes first in the list.
    assert refs.issues == ["34", "30"]


def test_squash_suffix_only_at_end_of_subject() -> None:
    refs = parse_references("Handle (#34) empty input\n\nsee (#35)", REPO)
    assert refs.pull_number is None
    assert refs.issues == []


def test_merge_pull_request_sets_pull_number() -> None:
    refs = parse_references("Merge pull request #7 from dev/discount-clamp\n\nFixes #3", REPO)
    assert refs.pull_number == 7
    assert refs.issues == ["3"]


def test_merge_subject_wins_over_squash_suffix() -> None:
    refs = parse_references("Merge pull request #7 from dev/x (#9)", REPO)
    assert refs.pull_number == 7


def test_html_comments_are_ignored() -> None:
    text = "Fix the bug\n\n<!-- Fixes #99\n     closes #98 -->\nFixes #1\n<!-- resolves #97 -->"
    assert issues(text) == ["1"]


def test_html_comment_before_subject() -> None:
    refs = parse_references("<!-- template -->\nBetter errors (#41)", REPO)
    assert refs.pull_number == 41


def test_duplicates_removed_order_kept() -> None:
    text = "Fixes #5 and #2\n\nAlso closes owner/repo#5, https://github.com/owner/repo/issues/2 and #7"
    assert issues(text) == ["5", "2", "7"]


def test_order_follows_the_text_not_the_keyword() -> None:
    assert issues("Resolves #9\nFixes other/lib#1\ncloses #2") == ["9", "other/lib#1", "2"]


@pytest.mark.parametrize(
    "text",
    [
        "Follow-up to #5",
        "See #5 for context",
        "hotfix #5",  # "fix" inside a word is not a keyword
        "Fixing #5",
        "prefixes #5",
        "Fixes the problem from #5",  # keyword not directly before the reference
        "fixes issue 5",
        "",
    ],
)
def test_no_false_hits(text: str) -> None:
    refs = parse_references(text, REPO)
    assert refs.issues == []
    assert refs.pull_number is None


def test_none_text_is_empty() -> None:
    refs = parse_references(None, REPO)  # type: ignore[arg-type]
    assert (refs.issues, refs.pull_number) == ([], None)
