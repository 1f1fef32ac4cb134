"""The control for retrieval ablations: :class:`RandomRetriever`, eligible documents in a seeded random order.

The notes' protocol compares memory against *random retrieval at equal prompt tokens*: same k, same exclusion
and time rules, no similarity. Each document's score is drawn from a generator seeded by ``(seed, query,
key)``, so an answer depends only on those and on which documents are eligible — the same on every run and
machine, independent of corpus order and of ``PYTHONHASHSEED`` — and differs between queries and seeds.
"""

from __future__ import annotations

import random

from memory_pool.retrieval.base import DEFAULT_MAX_K, Doc, ScoringRetriever


class RandomRetriever(ScoringRetriever):
    """Seeded random choice among eligible documents; ``score`` is the random draw (meaningless by design)."""

    def __init__(self, seed: int = 0, max_k: int = DEFAULT_MAX_K) -> None:
        super().__init__(max_k)
        self.seed = seed

    def _score(self, query: str, positions: list[int]) -> list[tuple[Doc, float, dict[str, float]]]:
        found = []
        for i in positions:
            doc = self._docs[i]
            found.append((doc, random.Random(f"{self.seed}\x00{query}\x00{doc.key}").random(), {}))
        return found
