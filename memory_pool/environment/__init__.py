"""The environment memory pool: environment recipes that passed fail2pass, remembered and reused.

Unlike SWE-Factory's pool (exact repo, random pick, written before validation), an entry is written
only after its environment *proved* itself — target tests failed before and passed after the gold
patch — and it remembers which instances proved it (provenance) and how often it worked or failed.

Retrieval, in the order a builder uses it (issue 3):

* :meth:`EnvironmentPool.by_fingerprint` — same dependency fingerprint: the env image can be reused as is.
* :meth:`EnvironmentPool.for_repo` — same repository: recipes nearest in commit date first.
* :meth:`EnvironmentPool.similar` — other repositories of the same language, ranked by how much their
  dependencies overlap (Jaccard), as references for the LLM roles.

Recipes that keep failing are *demoted* (``failures >= 2`` and more failures than successes): they are
never reused by fingerprint nor offered as references, and come last for their own repository.

A pool travels between teams as a JSONL file (:meth:`EnvironmentPool.export` /
:meth:`EnvironmentPool.import_`): one entry per line, sorted by id with sorted keys, so the same pool
always writes the same bytes. Importing merges by recipe id (counts add up, provenance is united);
malformed lines are reported with their line numbers and skipped; the whole import is one transaction,
so an interrupted import leaves the pool as it was.

The pool is one room of :mod:`memory_pool`: :mod:`.requirements` reads dependency names from
requirement lines, :mod:`.entries` is the remembered recipe (:class:`MemoryEntry`) and the import
report, :mod:`.pool` the :class:`EnvironmentPool` (writing, finding, ranking, sharing). Import from
here: ``from memory_pool.environment import EnvironmentPool``.
"""

from memory_pool.environment.entries import ImportReport, MemoryEntry
from memory_pool.environment.pool import EnvironmentPool
from memory_pool.environment.requirements import dependency_names

__all__ = ["EnvironmentPool", "ImportReport", "MemoryEntry", "dependency_names"]
