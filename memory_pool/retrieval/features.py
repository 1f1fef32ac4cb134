"""What the re-ranker sees of a (query, document) pair: a short, fixed vector of features, all about 0..1.

:data:`FEATURES` names them in order:

* ``base`` — 1 / rank in the base retriever's answer (the similarity order the re-ranker starts from);
* ``lexical`` / ``dense`` — the hit's normalized BM25 score and its cosine (0 when that retriever had no part);
* ``path_overlap`` — Jaccard overlap of the file paths named in the query and in the document, each path cut to
  its last two parts (``pkg/a.py``) so that different checkout prefixes still match;
* ``same_repo`` — 1 when the query's repository is known and is the document's (:func:`repo_of`);
* ``age`` — ``log(1 + days) / log(1 + 3650)`` between the document's date and the query's, 0 when unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from memory_pool.retrieval.base import Doc

FEATURES = ("base", "lexical", "dense", "path_overlap", "same_repo", "age")
"""Feature names, in the order of a feature vector and of the re-ranker's weights."""

_PATH = re.compile(r"[A-Za-z0-9_.\\/-]*[A-Za-z0-9_-]\.(?:py|pyi|pyx|cfg|toml|ini|txt|rst|md|json|ya?ml|c|h|js|ts)\b")
_INSTANCE = re.compile(r"^(?P<owner>[^_]+(?:_[^_]+)*?)__(?P<name>.+)-\d+$")
_TEN_YEARS = math.log1p(3650)


def file_paths(text: str) -> set[str]:
    """The file paths ``text`` names, each as its last two parts with ``/`` separators (``pkg/a.py``)."""
    found = set()
    for match in _PATH.finditer(text):
        parts = [part for part in re.split(r"[\\/]", match.group()) if part]
        if parts:
            found.add("/".join(parts[-2:]))
    return found


def repo_of(identities: frozenset[str]) -> str | None:
    """The ``owner/name`` a document comes from: a ``repo:`` identity, else a ``pr:owner/name#n`` one, else a
    SWE-bench style ``instance:owner__name-n`` one; None when none says."""
    for prefix, read in (("repo:", lambda v: v), ("pr:", lambda v: v.split("#")[0]),
                         ("instance:", lambda v: (m := _INSTANCE.match(v)) and f"{m['owner']}/{m['name']}")):
        for identity in sorted(identities):
            if identity.startswith(prefix) and (value := read(identity[len(prefix):])):
                return value
    return None


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def features(query: str, doc: Doc, parts: Mapping[str, float], rank: int, repo: str | None = None,
             at: datetime | None = None) -> list[float]:
    """The feature vector (in :data:`FEATURES` order) of ``doc`` found at ``rank`` with ``parts`` for ``query``."""
    query_paths, doc_paths = file_paths(query), file_paths(doc.text)
    union = query_paths | doc_paths
    overlap = len(query_paths & doc_paths) / len(union) if union else 0.0
    same_repo = 1.0 if repo is not None and repo_of(doc.identities) == repo else 0.0
    age = 0.0
    if at is not None and doc.created_at is not None:
        age = math.log1p(abs((_utc(at) - doc.created_at).total_seconds()) / 86400) / _TEN_YEARS
    return [1.0 / rank, float(parts.get("lexical", 0.0)), float(parts.get("dense", 0.0)), overlap, same_repo, age]
