"""What every retriever shares: the document it indexes (:class:`Doc`), the answer it gives (:class:`Hit`),
the :class:`Retriever` protocol, and the one rule for which documents a search may return.

The rule lives here once so that no retriever can forget it: a document that shares *any* identity with the
search's ``exclude`` set (same instance, PR or commit) is never returned, nor one created at or after
``before`` when a time cut is given (an undated document is then left out too: it cannot be shown to be
earlier, and a time split must not leak). ``k`` is capped: a retriever returns at most its ``max_k``
(default :data:`DEFAULT_MAX_K` = 4, the size Memento found best), and no retriever may be configured or asked
for more than :data:`HARD_MAX_K`.

Documents are generic (a key, a text, identities, a date), so retrieval does not depend on the repair-case
model; the experience memory turns its cases into ``Doc`` objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_MAX_K = 4
"""How many hits a search returns at most unless a retriever is configured otherwise."""
HARD_MAX_K = 16
"""No retriever is configured, and no search asks, for more hits than this (a prompt holds few cases)."""


def _utc(value: datetime) -> datetime:
    """Aware datetimes in UTC; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Doc(BaseModel):
    """One retrievable document: a past repair case, seen only through what retrieval needs."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    key: str = Field(min_length=1)
    """Unique id of the document within one fitted corpus."""
    text: str
    """What is matched: issue text, tracebacks, file paths, function names, diffs ..."""
    identities: frozenset[str] = frozenset()
    """Where the document comes from, e.g. ``instance:acme__x-12``, ``pr:acme/x#12``, ``commit:abc123``,
    ``repo:acme/x``; a search excluding any of them never returns the document."""
    created_at: datetime | None = None
    """When the underlying case happened (UTC); searches with a time cut leave out undated documents."""

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _utc(value)


class Hit(BaseModel):
    """One search result: the document, its score and its 1-based rank in this answer."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    doc: Doc
    """The document found."""
    score: float
    """The retriever's score (higher is better); its scale depends on the retriever."""
    rank: int = Field(ge=1)
    """Position in this answer, 1 = best."""
    parts: dict[str, float] = Field(default_factory=dict)
    """Component scores the re-ranker can use: ``lexical`` (BM25 over the best eligible BM25 score of the
    query, 0..1), ``dense`` (cosine), ``rrf`` (fused), ``base`` (score before re-ranking) ..."""


@runtime_checkable
class Retriever(Protocol):
    """A retriever: fitted once on a corpus, then searched many times."""

    max_k: int

    def fit(self, docs: Iterable[Doc]) -> None:
        """Index ``docs`` (replacing any earlier corpus)."""

    def search(self, query: str, k: int = DEFAULT_MAX_K, exclude: frozenset[str] = frozenset(),
               before: datetime | None = None) -> list[Hit]:
        """At most ``k`` (capped at ``max_k``) eligible documents, best first."""


def check_max_k(max_k: int) -> int:
    """``max_k`` if a retriever may be configured with it, else ValueError."""
    if not 1 <= max_k <= HARD_MAX_K:
        raise ValueError(f"max_k must be between 1 and {HARD_MAX_K}, got {max_k}")
    return max_k


def capped_k(k: int, max_k: int) -> int:
    """How many hits a search asking for ``k`` gets: ``min(k, max_k)``; ValueError below 1 or above the hard cap."""
    if not 1 <= k <= HARD_MAX_K:
        raise ValueError(f"k must be between 1 and {HARD_MAX_K}, got {k}")
    return min(k, max_k)


def eligible(doc: Doc, exclude: frozenset[str] = frozenset(), before: datetime | None = None) -> bool:
    """Whether a search with this ``exclude`` set and time cut may return ``doc``."""
    if exclude and not doc.identities.isdisjoint(exclude):
        return False
    if before is not None:
        return doc.created_at is not None and doc.created_at < _utc(before)
    return True


def unique_docs(docs: Iterable[Doc]) -> list[Doc]:
    """``docs`` as a list, ValueError if two share a key (a key names one document)."""
    found = list(docs)
    seen: set[str] = set()
    for doc in found:
        if doc.key in seen:
            raise ValueError(f"duplicate document key {doc.key!r}: keys must be unique within a corpus")
        seen.add(doc.key)
    return found


def ranked(scored: Sequence[tuple[Doc, float, Mapping[str, float]]], k: int | None = None) -> list[Hit]:
    """Hits from ``(doc, score, parts)`` triples, best score first, ties by key so the order is deterministic;
    the first ``k`` only when given."""
    order = sorted(scored, key=lambda item: (-item[1], item[0].key))
    if k is not None:
        order = order[:k]
    return [Hit(doc=doc, score=float(score), rank=index, parts=dict(parts))
            for index, (doc, score, parts) in enumerate(order, start=1)]


class ScoringRetriever:
    """The common body of retrievers that score every eligible document: fitting, eligibility, ranking, k cap.

    A subclass indexes the corpus in :meth:`_index` and scores the eligible documents (given by position) in
    :meth:`_score`; :meth:`rank` is the full eligible ranking (what fusion needs), :meth:`search` its top.
    """

    def __init__(self, max_k: int = DEFAULT_MAX_K) -> None:
        self.max_k = check_max_k(max_k)
        self._docs: list[Doc] = []

    @property
    def docs(self) -> list[Doc]:
        """The fitted corpus, in fitting order."""
        return list(self._docs)

    def fit(self, docs: Iterable[Doc]) -> None:
        self._docs = unique_docs(docs)
        self._index(self._docs)

    def _index(self, docs: list[Doc]) -> None:
        """Build whatever the subclass searches (called by :meth:`fit`, also for an empty corpus)."""

    def _score(self, query: str, positions: list[int]) -> list[tuple[Doc, float, dict[str, float]]]:
        raise NotImplementedError

    def rank(self, query: str, exclude: frozenset[str] = frozenset(), before: datetime | None = None) -> list[Hit]:
        """Every eligible document the retriever finds for ``query``, best first (no k cap)."""
        positions = [i for i, doc in enumerate(self._docs) if eligible(doc, exclude, before)]
        return ranked(self._score(query, positions)) if positions else []

    def search(self, query: str, k: int = DEFAULT_MAX_K, exclude: frozenset[str] = frozenset(),
               before: datetime | None = None) -> list[Hit]:
        limit = capped_k(k, self.max_k)
        return self.rank(query, exclude, before)[:limit]
