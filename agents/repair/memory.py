"""The repair agent's memory: what an attempt recalls from the experience memory, and the case an attempt
leaves behind.

:class:`ExperienceRecall` implements the agent's :class:`~agents.repair.protocols.Memory`: per stage it
retrieves at most K earlier cases (lexical, dense, hybrid or — the control — random, from
:mod:`memory_pool.retrieval`) and the stage's active insights, and renders them short. Honesty is built in,
not left to callers: a case sharing the task's instance, pull request or base commit is never recalled,
nor one whose issue was created at or after the task's (the retriever's ``before``), and which memories
are used (episodic, semantic, both, none) is a mode, so an ablation changes one word.

:func:`case_from_attempt` turns an :class:`~agents.repair.records.Attempt` and its outcome into a
:class:`~memory_pool.experience.Case`; whether that outcome may be written (harness outcomes only for the
train split) is the experience memory's own guard.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from agents.repair.protocols import Recall
from agents.repair.records import Attempt, Task
from memory_pool.experience import Case, ExperienceMemory
from memory_pool.experience.records import CaseCost, CaseProvenance
from memory_pool.retrieval import (
    DenseRetriever,
    Doc,
    HashingEmbedder,
    Hit,
    HybridRetriever,
    Label,
    LexicalRetriever,
    MiniLMEmbedder,
    RandomRetriever,
    ReRanker,
)

Mode = Literal["none", "episodic", "semantic", "both"]
Retrieval = Literal["lexical", "dense", "hybrid", "random"]
_PATCH_CHARS = 1500


def when(text: str) -> datetime | None:
    """An ISO date of a dataset row (``created_at``) as an aware datetime, None when absent or unreadable."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _retriever(kind: Retrieval, k: int):
    if kind == "lexical":
        return LexicalRetriever(max_k=k)
    if kind == "random":
        return RandomRetriever(seed=0, max_k=k)
    embedder = MiniLMEmbedder() if MiniLMEmbedder.available() else HashingEmbedder()  # the `dense` extra, if any
    dense = DenseRetriever(embedder, max_k=k)
    return dense if kind == "dense" else HybridRetriever(LexicalRetriever(max_k=k), dense, max_k=k)


def render_case(case: Case, stage: str) -> str:
    """One recalled case as a prompt shows it: the issue's first lines, what the attempt did, and whether
    it worked (a negative case is shown as one to avoid)."""
    verdict = "this fix WORKED" if case.positive else f"this attempt FAILED ({case.outcome})"
    lines = [f"Issue ({case.repo}): {' '.join(case.issue_text.split())[:300]}", f"Outcome: {verdict}"]
    if case.files:
        lines.append("Files changed: " + ", ".join(case.files[:6]))
    note = case.stage_notes.get(stage)
    if note:
        lines.append(f"Its {stage} note: {note[:300]}")
    if stage == "reproduce" and case.reproduction:
        lines.append("Its reproduction script:\n" + case.reproduction[:800])
    if stage in ("patch", "localize") and case.submitted_patch:
        lines.append("Its patch:\n" + case.submitted_patch[:_PATCH_CHARS])
    return "\n".join(lines)


class ExperienceRecall:
    """Recall from ``memory``'s train cases and insights, by ``mode`` and ``retrieval``."""

    def __init__(self, memory: ExperienceMemory, mode: Mode = "both", retrieval: Retrieval = "lexical",
                 k: int = 4, before: datetime | None = None, reranker: ReRanker | None = None,
                 max_cases: int | None = None, online_run: str | None = None):
        self.memory, self.mode, self.k = memory, mode, k
        self.before = before
        """Recall only cases whose issue was created before this (the task's own date; None: any)."""
        self.reranker = reranker
        """Memento's case selection: reorders a wider pool of hits by whether such cases helped before (its
        base order while it has too few labels); None: similarity order."""
        self.repo: str | None = None
        self.hits: dict[str, list[Hit]] = {}
        """Per stage, the hits recalled for the current task (what its labels will be about)."""
        cases = memory.cases(split="train") if mode in ("episodic", "both") else []
        if online_run is not None and mode in ("episodic", "both"):  # online: this run's own test cases too
            cases += [c for c in memory.cases(split="test") if c.provenance.run_id == online_run]
        if max_cases is not None:  # a learning curve: memory as it was after the first N train issues
            cases = sorted(cases, key=lambda c: (c.issue_created_at, c.case_id))[:max_cases]
        self._cases = {c.case_id: c for c in cases}
        self._retriever = _retriever(retrieval, max(k, 1))
        self._retriever.fit(Doc(key=c.case_id, text=c.search_text(), identities=c.identities(),
                                created_at=c.issue_created_at) for c in self._cases.values())

    def for_task(self, task: Task) -> ExperienceRecall:
        """This recall, limited to what was known before ``task``'s issue was opened."""
        clone = object.__new__(ExperienceRecall)
        clone.__dict__.update(self.__dict__)
        clone.before, clone.repo, clone.hits = when(task.created_at), task.repo, {}
        return clone

    def recall(self, stage: str, query: str, exclude: frozenset[str]) -> Recall:
        hits: list[Hit] = []
        if self._cases and self.k:
            wide = self.k * 3 if self.reranker is not None else self.k
            hits = self._retriever.search(query, k=min(wide, 16), exclude=exclude, before=self.before)
            if self.reranker is not None:
                hits = self.reranker.rerank(query, hits, repo=self.repo, at=self.before)
            hits = hits[: self.k]
        self.hits[stage] = hits
        insights = ([i.text for i in self.memory.insights(stage)] if self.mode in ("semantic", "both") else [])
        return Recall([render_case(self._cases[h.doc.key], stage) for h in hits], insights,
                      [h.doc.key for h in hits])

    def labels(self, query: str, helped: bool) -> list[Label]:
        """The current task's recalled hits, labelled with whether the attempt they went into was resolved."""
        return [Label.from_hit(query, hit, helped, repo=self.repo, at=self.before)
                for hits in self.hits.values() for hit in hits]


def case_from_attempt(attempt: Attempt, task: Task, outcome: str, *, run_id: str, split: str,
                      cost: CaseCost | None = None) -> Case:
    """The episodic case of one graded (or self-verified) attempt."""
    notes = {log.stage: log.answer for log in attempt.stages if log.answer and log.stage != "select"}
    return Case(
        instance_id=task.instance_id, repo=task.repo, pr_number=task.pull_number, base_commit=task.base_commit,
        issue_created_at=when(task.created_at) or datetime.now(UTC), issue_text=task.problem_statement,
        stage_notes=notes, files=_files(attempt.submitted),
        reproduction=attempt.reproduction, reproduction_output=attempt.reproduction_output,
        candidate_patches=[c.patch for c in attempt.candidates], submitted_patch=attempt.submitted,
        outcome=outcome, cost=cost or CaseCost(),
        provenance=CaseProvenance(run_id=run_id, model=attempt.model, config=attempt.config, split=split),
    )


def _files(patch: str) -> list[str]:
    return [line.split(" b/", 1)[1] for line in patch.splitlines() if line.startswith("diff --git ")]
