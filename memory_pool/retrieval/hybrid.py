"""Hybrid retrieval: reciprocal-rank fusion (RRF) of the lexical and the dense ranking.

RRF (Cormack, Clarke & Büttcher, SIGIR 2009) scores a document ``Σ 1 / (k + rank)`` over the rankings it
appears in (rank 1 = best). It needs no score calibration between BM25 and cosine, which live on unrelated
scales, and ``k`` damps the weight of the very first ranks; :data:`RRF_K` = 60 is the constant of the paper,
the usual default. Both rankings are taken in full (every eligible document each retriever returns), so a
document found only by one retriever still competes; ties go to the smaller key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from memory_pool.retrieval.base import DEFAULT_MAX_K, Doc, Hit, capped_k, check_max_k, ranked, unique_docs
from memory_pool.retrieval.dense import DenseRetriever
from memory_pool.retrieval.lexical import LexicalRetriever

RRF_K = 60
"""The RRF constant ``k`` (Cormack et al. 2009): larger values flatten the advantage of the top ranks."""


def fuse(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """``(key, rrf score)`` for every key in ``rankings`` (each a list of keys, best first), best first."""
    if k < 0:
        raise ValueError(f"the RRF constant must not be negative, got {k}")
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class HybridRetriever:
    """RRF of a :class:`LexicalRetriever` and a :class:`DenseRetriever` over the same corpus."""

    def __init__(self, lexical: LexicalRetriever, dense: DenseRetriever, rrf_k: int = RRF_K,
                 max_k: int = DEFAULT_MAX_K) -> None:
        self.lexical, self.dense, self.rrf_k = lexical, dense, rrf_k
        self.max_k = check_max_k(max_k)

    def fit(self, docs: Iterable[Doc]) -> None:
        corpus = unique_docs(docs)
        self.lexical.fit(corpus)
        self.dense.fit(corpus)

    def rank(self, query: str, exclude: frozenset[str] = frozenset(), before: datetime | None = None) -> list[Hit]:
        """Every eligible document either retriever finds, fused, best first (no k cap)."""
        rankings = [self.lexical.rank(query, exclude, before), self.dense.rank(query, exclude, before)]
        docs: dict[str, Doc] = {}
        parts: dict[str, dict[str, float]] = {}
        for hits in rankings:
            for hit in hits:
                docs[hit.doc.key] = hit.doc
                parts.setdefault(hit.doc.key, {}).update(hit.parts)
        fused = fuse([[hit.doc.key for hit in hits] for hits in rankings], self.rrf_k)
        return ranked([(docs[key], score, {**parts[key], "rrf": score}) for key, score in fused])

    def search(self, query: str, k: int = DEFAULT_MAX_K, exclude: frozenset[str] = frozenset(),
               before: datetime | None = None) -> list[Hit]:
        limit = capped_k(k, self.max_k)
        return self.rank(query, exclude, before)[:limit]
