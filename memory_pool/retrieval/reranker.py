"""A learned re-ranker over retrieved cases — Memento's parametric case selection, simplified.

Memento trains a classifier on ``(query, case, truth_label)`` pairs to predict whether a retrieved case leads
to success, then takes the top-k by that score. Here the classifier is a logistic regression over the few
features of :mod:`.features` (base rank, BM25 and cosine, shared file paths, same repository, age gap),
trained by full-batch gradient descent from zero weights for a fixed number of steps: no randomness, so the
same labels always give the same weights. Both classes are weighted equally (a few positives among many
negatives still count).

Until it has seen at least ``min_labels`` labels of *both* kinds (helped and did not), :meth:`ReRanker.rerank`
returns the base similarity order unchanged. Its state is a small JSON document (:meth:`ReRanker.to_json` /
:meth:`ReRanker.from_json`) so the memory can store it next to the cases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from memory_pool.retrieval.base import Doc, Hit
from memory_pool.retrieval.features import FEATURES, features

FORMAT = "memory_pool.retrieval.reranker/1"
"""The ``format`` tag of a stored re-ranker; a different tag is refused."""


class Label(BaseModel):
    """One training example: a document retrieved for a query, and whether it helped."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    query: str
    """The query text the document was retrieved for."""
    doc: Doc
    """The retrieved document."""
    helped: bool
    """Whether using it led to success (train split: graded outcome; test split: the agent's own signals)."""
    parts: dict[str, float] = Field(default_factory=dict)
    """The hit's component scores when it was retrieved (:attr:`Hit.parts`)."""
    rank: int = Field(default=1, ge=1)
    """Its rank in the base retriever's answer."""
    repo: str | None = None
    """``owner/name`` of the query's repository, when known."""
    at: datetime | None = None
    """When the query happened, when known."""

    @classmethod
    def from_hit(cls, query: str, hit: Hit, helped: bool, repo: str | None = None,
                 at: datetime | None = None) -> Label:
        """The label of ``hit`` as it was retrieved for ``query``."""
        return cls(query=query, doc=hit.doc, helped=helped, parts=hit.parts, rank=hit.rank, repo=repo, at=at)


class ReRankerState(BaseModel):
    """What a stored re-ranker is: its settings and, once trained, its weights."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    format: str = FORMAT
    """Format tag, :data:`FORMAT`."""
    features: list[str] = Field(default_factory=lambda: list(FEATURES))
    """Feature names, in weight order."""
    weights: list[float] | None = None
    """One weight per feature; None while untrained (the re-ranker then keeps the base order)."""
    bias: float = 0.0
    """The intercept."""
    labels: int = 0
    """How many labels the weights were trained on."""
    min_labels: int = Field(default=20, ge=2)
    """Labels needed (with both classes present) before the weights are used."""
    iterations: int = Field(default=2000, ge=1)
    """Gradient steps per training."""
    learning_rate: float = Field(default=0.5, gt=0)
    """Gradient step size."""
    l2: float = Field(default=1e-3, ge=0)
    """L2 penalty on the weights (not the bias)."""


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


class ReRanker:
    """Logistic regression on (query, document) features that reorders a retriever's hits."""

    def __init__(self, min_labels: int = 20, iterations: int = 2000, learning_rate: float = 0.5,
                 l2: float = 1e-3) -> None:
        self.state = ReRankerState(min_labels=min_labels, iterations=iterations, learning_rate=learning_rate, l2=l2)

    @property
    def trained(self) -> bool:
        """Whether :meth:`rerank` uses learned weights (else it keeps the base order)."""
        return self.state.weights is not None

    def fit(self, labels: Iterable[Label]) -> bool:
        """Train from scratch on ``labels``; False (and untrained) below ``min_labels`` or with one class only."""
        found = list(labels)
        outcomes = {label.helped for label in found}
        if len(found) < self.state.min_labels or len(outcomes) < 2:
            self.state = self.state.model_copy(update={"weights": None, "bias": 0.0, "labels": 0})
            return False
        x = np.array([features(lb.query, lb.doc, lb.parts, lb.rank, lb.repo, lb.at) for lb in found], dtype=float)
        y = np.array([1.0 if label.helped else 0.0 for label in found])
        positives = y.sum()
        sample = np.where(y == 1.0, 0.5 / positives, 0.5 / (len(y) - positives))  # balanced, sums to 1
        w, b = np.zeros(x.shape[1]), 0.0
        for _ in range(self.state.iterations):
            error = (_sigmoid(x @ w + b) - y) * sample
            w -= self.state.learning_rate * (x.T @ error + self.state.l2 * w)
            b -= self.state.learning_rate * float(error.sum())
        self.state = self.state.model_copy(
            update={"weights": [float(v) for v in w], "bias": float(b), "labels": len(found)})
        return True

    def score(self, query: str, hit: Hit, repo: str | None = None, at: datetime | None = None) -> float:
        """The learned probability that ``hit`` helps for ``query`` (ValueError while untrained)."""
        if self.state.weights is None:
            raise ValueError("the re-ranker is not trained yet")
        x = np.array(features(query, hit.doc, hit.parts, hit.rank, repo, at))
        return float(_sigmoid(np.array([x @ np.array(self.state.weights) + self.state.bias]))[0])

    def rerank(self, query: str, hits: Sequence[Hit], repo: str | None = None,
               at: datetime | None = None) -> list[Hit]:
        """``hits`` best first by learned score (ties by base rank), renumbered; the base order while untrained.

        A re-ranked hit's ``score`` is the learned probability; its ``parts`` keep the base ``score`` and ``rank``
        as ``base_score`` and ``base_rank``."""
        base = sorted(hits, key=lambda hit: hit.rank)
        if not self.trained:
            return base
        scored = sorted(((self.score(query, hit, repo, at), hit) for hit in base),
                        key=lambda item: (-item[0], item[1].rank))
        return [Hit(doc=hit.doc, score=p, rank=index,
                    parts={**hit.parts, "base_score": hit.score, "base_rank": float(hit.rank)})
                for index, (p, hit) in enumerate(scored, start=1)]

    def to_json(self) -> str:
        """The re-ranker's state as a small JSON document (keys in a fixed order)."""
        return self.state.model_dump_json(indent=2)

    @classmethod
    def from_json(cls, text: str) -> ReRanker:
        """A re-ranker from :meth:`to_json` output; ValueError for another format or another feature set."""
        state = ReRankerState.model_validate_json(text)
        if state.format != FORMAT:
            raise ValueError(f"not a stored re-ranker of format {FORMAT!r}: {state.format!r}")
        if state.features != list(FEATURES):
            raise ValueError(f"stored re-ranker has features {state.features}, this code uses {list(FEATURES)}")
        if state.weights is not None and len(state.weights) != len(FEATURES):
            raise ValueError(f"stored re-ranker has {len(state.weights)} weights for {len(FEATURES)} features")
        reranker = cls()
        reranker.state = state
        return reranker
