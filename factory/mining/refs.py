"""Find the issues and pull request a fix refers to, in commit / PR text.

Rules (docs/mining.md): every issue after a closing keyword (close[sd], fix(es|ed), resolve[sd]),
including comma/"and" lists and cross-repo ``owner/repo#N`` or issue URLs; a trailing ``(#N)`` in the
subject (GitHub's squash-merge convention, which is also the PR number); ``Merge pull request #N``
gives the PR number. All references are kept in text order, unlike SWE-bench's collector, which keeps
only the last one per keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
_KEYWORD_LIST = re.compile(
    r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?\s+"
    r"(?P<refs>(?:(?:https?://\S+?/(?:issues|pull)/\d+)|(?:[\w.-]+/[\w.-]+)?#\d+)"
    r"(?:\s*(?:,(?:\s*(?:and|&))?|and|&)\s*(?:(?:https?://\S+?/(?:issues|pull)/\d+)|(?:[\w.-]+/[\w.-]+)?#\d+))*)",
    re.I,
)
_ONE_REF = re.compile(
    r"(?:https?://[^\s/]+/(?P<url_slug>[\w.-]+/[\w.-]+)/(?:issues|pull)/(?P<url_num>\d+))"
    r"|(?:(?P<slug>[\w.-]+/[\w.-]+)?#(?P<num>\d+))"
)
_SQUASH_PR = re.compile(r"\(#(\d+)\)\s*$")
_MERGE_PR = re.compile(r"^Merge pull request #(\d+)\b", re.I)


@dataclass
class References:
    issues: list[str] = field(default_factory=list)
    """``N`` for this repository, ``owner/repo#N`` for another one; text order, no duplicates."""
    pull_number: int | None = None


def parse_references(text: str, repo: str) -> References:
    """Issues resolved and PR number named in ``text`` (commit message or PR title + body) of ``repo``."""
    text = _HTML_COMMENT.sub("", text or "")
    refs = References()
    subject = text.strip().splitlines()[0] if text.strip() else ""

    def add(slug: str | None, num: str) -> None:
        ref = num if not slug or slug.lower() == repo.lower() else f"{slug}#{num}"
        if ref not in refs.issues:
            refs.issues.append(ref)

    merge = _MERGE_PR.match(subject)
    if merge:
        refs.pull_number = int(merge.group(1))
    squash = _SQUASH_PR.search(subject)
    hits: list[tuple[int, str | None, str]] = []
    for match in _KEYWORD_LIST.finditer(text):
        for one in _ONE_REF.finditer(match.group("refs")):
            slug = one.group("url_slug") or one.group("slug")
            num = one.group("url_num") or one.group("num")
            hits.append((match.start("refs") + one.start(), slug, num))
    if squash:
        hits.append((squash.start(), None, squash.group(1)))
        if refs.pull_number is None:
            refs.pull_number = int(squash.group(1))
    for _, slug, num in sorted(hits, key=lambda h: h[0]):
        add(slug, num)
    return refs
