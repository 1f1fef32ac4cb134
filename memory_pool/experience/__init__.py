"""The experience memory of the repair agent: what it tried on earlier tasks (episodic cases) and what it
learned from them (semantic insights), kept honest for evaluation.

*Cases* (:class:`Case`) are one run's attempt on one task, positive or negative: the issue, the stage
notes, the reproducer and its (bounded) output, the touched files and functions, every candidate patch
and the submitted one, the outcome, the cost and the provenance (run, model, config, split). A case's
id is its run and instance, so a resumed run rewrites its own case instead of adding another. Its
:meth:`Case.identities` (instance, PR, base commit) keep a task from retrieving memory of itself, and
:meth:`Case.search_text` is what a retriever matches.

*Insights* (:class:`Insight`) are at most ``cap`` (default 15) active lessons per stage (reproduce,
localize, patch, select), each with support and contradiction counts from real cases. They change only
through operations — :class:`Add`, :class:`Merge`, :class:`Retire`, :class:`Support`,
:class:`Contradict` — applied by :meth:`ExperienceMemory.apply` in one transaction and logged with time
and reason (:meth:`ExperienceMemory.log`); an add beyond the cap retires the insight with the lowest
support − contradiction, oldest first, and the log says so.

Honest evaluation (DESIGN §6, field notes §4): memory is built from a time-earlier train split, where
harness outcomes may be rewards. The test split is evaluated with ``ExperienceMemory(store, frozen=True)``,
which refuses every write, or in online mode (``online=True``), where a test-split case may be written
only with the agent's own outcome (``self_verified`` / ``self_failed``), never a harness one.

Experience travels as JSONL (:meth:`ExperienceMemory.export` / :meth:`ExperienceMemory.import_`): one
case or insight per line with a ``kind``, sorted, validated line by line, imported idempotently by id.

Modules: :mod:`.records` (the case and the insight), :mod:`.ops` (operations, log record, errors),
:mod:`.sharing` (the file format), :mod:`.memory` (:class:`ExperienceMemory`). Import from here:
``from memory_pool.experience import ExperienceMemory``.
"""

from memory_pool.experience.memory import DEFAULT_CAP, ExperienceMemory
from memory_pool.experience.ops import (
    Add,
    Contradict,
    ExperienceError,
    FrozenMemory,
    Merge,
    Op,
    OpRecord,
    Retire,
    SplitGuard,
    Support,
)
from memory_pool.experience.records import (
    OUTPUT_LIMIT,
    SELF_OUTCOMES,
    STAGES,
    Case,
    CaseCost,
    CaseProvenance,
    Insight,
    case_id_for,
    insight_id_for,
    task_identities,
)
from memory_pool.experience.sharing import ExperienceImportReport

__all__ = [
    "DEFAULT_CAP", "OUTPUT_LIMIT", "SELF_OUTCOMES", "STAGES", "Add", "Case", "CaseCost", "CaseProvenance",
    "Contradict", "ExperienceError", "ExperienceImportReport", "ExperienceMemory", "FrozenMemory", "Insight",
    "Merge", "Op", "OpRecord", "Retire", "SplitGuard", "Support", "case_id_for", "insight_id_for",
    "task_identities",
]
