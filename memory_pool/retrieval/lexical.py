"""Lexical retrieval: BM25 (bm25s, Lucene variant) over :func:`~memory_pool.retrieval.tokens.tokenize` tokens.

bm25s precomputes every document's term scores into a sparse matrix at :meth:`LexicalRetriever.fit`, so a
query costs one sparse lookup per query token; we hand it our own pre-tokenized corpus (no bm25s stemming or
stopwords), so identifiers, file names and exception names match as the tokenizer splits them. A document that
shares no token with the query scores 0 and is not returned. Each hit's ``parts["lexical"]`` is its BM25 score
over the best eligible score of that query (0..1), a scale the re-ranker can compare across queries.
"""

from __future__ import annotations

import bm25s

from memory_pool.retrieval.base import DEFAULT_MAX_K, Doc, ScoringRetriever
from memory_pool.retrieval.tokens import tokenize


class LexicalRetriever(ScoringRetriever):
    """BM25 over code-aware tokens of each document's text."""

    def __init__(self, max_k: int = DEFAULT_MAX_K, k1: float = 1.5, b: float = 0.75) -> None:
        super().__init__(max_k)
        self.k1, self.b = k1, b
        self._bm25: bm25s.BM25 | None = None

    def _index(self, docs: list[Doc]) -> None:
        corpus = [tokenize(doc.text) for doc in docs]
        self._bm25 = None
        if any(corpus):  # bm25s cannot index a corpus without a single token
            self._bm25 = bm25s.BM25(k1=self.k1, b=self.b)
            self._bm25.index(corpus, show_progress=False)

    def scores(self, query: str) -> list[float]:
        """The BM25 score of every fitted document for ``query``, in fitting order."""
        tokens = tokenize(query)
        if self._bm25 is None or not tokens:
            return [0.0] * len(self._docs)
        return [float(x) for x in self._bm25.get_scores(tokens)]

    def _score(self, query: str, positions: list[int]) -> list[tuple[Doc, float, dict[str, float]]]:
        scores = self.scores(query)
        found = [(self._docs[i], scores[i]) for i in positions if scores[i] > 0]
        best = max((score for _, score in found), default=0.0)
        return [(doc, score, {"lexical": score / best}) for doc, score in found]
