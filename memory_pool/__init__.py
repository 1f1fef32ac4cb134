"""Memory the factory keeps between runs, one room (subpackage) per kind: proven environment recipes
(:mod:`memory_pool.environment`) and the retrieval of past repair cases (:mod:`memory_pool.retrieval`, imported
on its own: ``from memory_pool.retrieval import ...``, so that using the pool does not load bm25s and numpy)."""

from memory_pool.environment import EnvironmentPool, ImportReport, MemoryEntry, dependency_names

__all__ = ["EnvironmentPool", "ImportReport", "MemoryEntry", "dependency_names"]
