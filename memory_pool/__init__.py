"""Memory the factory keeps between runs, one room (subpackage) per kind: today proven environment recipes
(:mod:`memory_pool.environment`)."""

from memory_pool.environment import EnvironmentPool, ImportReport, MemoryEntry, dependency_names

__all__ = ["EnvironmentPool", "ImportReport", "MemoryEntry", "dependency_names"]
