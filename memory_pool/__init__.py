"""Memory the factory keeps between runs, one room (subpackage) per kind: proven environment recipes
(:mod:`memory_pool.environment`), the repair agent's experience — cases and insights
(:mod:`memory_pool.experience`) — and the retrieval of past cases (:mod:`memory_pool.retrieval`, imported on
its own: ``from memory_pool.retrieval import ...``, so that using the pool does not load bm25s and numpy)."""

from memory_pool.environment import EnvironmentPool, ImportReport, MemoryEntry, dependency_names
from memory_pool.experience import Case, ExperienceMemory, Insight

__all__ = ["Case", "EnvironmentPool", "ExperienceMemory", "ImportReport", "Insight", "MemoryEntry", "dependency_names"]
