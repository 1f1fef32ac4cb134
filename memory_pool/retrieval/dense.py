"""Dense retrieval: cosine similarity between an :class:`~memory_pool.retrieval.embedders.Embedder`'s vectors.

The corpus is embedded once at :meth:`DenseRetriever.fit` into one L2-normalized numpy matrix; a query is
embedded and scored against every row (exact brute force, which is simplest and fast enough up to ~10⁵ cases).
Every eligible document is ranked, whatever its cosine; ``parts["dense"]`` is the cosine.
"""

from __future__ import annotations

import numpy as np

from memory_pool.retrieval.base import DEFAULT_MAX_K, Doc, ScoringRetriever
from memory_pool.retrieval.embedders import Embedder


def _normalized(vectors: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


class DenseRetriever(ScoringRetriever):
    """Cosine nearest neighbours under ``embedder``."""

    def __init__(self, embedder: Embedder, max_k: int = DEFAULT_MAX_K) -> None:
        super().__init__(max_k)
        self.embedder = embedder
        self._matrix: np.ndarray | None = None

    def _index(self, docs: list[Doc]) -> None:
        self._matrix = _normalized(self.embedder.embed([doc.text for doc in docs])) if docs else None

    def scores(self, query: str) -> list[float]:
        """The cosine of every fitted document with ``query``, in fitting order."""
        if self._matrix is None:
            return []
        return [float(x) for x in self._matrix @ _normalized(self.embedder.embed([query]))[0]]

    def _score(self, query: str, positions: list[int]) -> list[tuple[Doc, float, dict[str, float]]]:
        scores = self.scores(query)
        return [(self._docs[i], scores[i], {"dense": scores[i]}) for i in positions]
