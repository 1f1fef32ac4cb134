"""The experience memory itself: cases written and found again, insight operations applied under the cap,
and experience shared as a file — with the guards that keep an evaluation honest.

Where :mod:`.records` says what a case and an insight are and :mod:`.ops` what an operation is, this
module holds the rules of the memory as a whole: which cases may be written (a frozen memory writes
nothing; a test-split case only in online mode and only with a self-verified outcome, never a harness
one), how each operation changes insights in one transaction and is logged with its time and reason,
how the cap per stage evicts, and how an import stays idempotent. The package docstring
(:mod:`memory_pool.experience`) tells the story end to end.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from factory.core.errors import UserError
from factory.store import Store
from factory.store.experience import ExperienceTx
from memory_pool.environment.entries import as_utc, utc_now
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
from memory_pool.experience.records import SELF_OUTCOMES, STAGES, Case, Insight, insight_id_for
from memory_pool.experience.sharing import ExperienceImportReport, read_jsonl, write_jsonl

#: Active insights kept per stage unless the memory is opened with another ``cap``.
DEFAULT_CAP = 15


def _stage_order(insight: Insight) -> tuple[int, datetime, str]:
    return STAGES.index(insight.stage), insight.created_at, insight.insight_id


class ExperienceMemory:
    """Episodic cases and semantic insights in the store's experience tables.

    ``frozen=True``: read-only (the evaluation of the test split); every write raises :class:`FrozenMemory`.
    ``online=True``: test-split cases may be written, with self-verified outcomes only. ``cap``: active
    insights per stage. ``clock``: where times come from (tests pass a fixed one).
    """

    def __init__(
        self,
        store: Store,
        *,
        frozen: bool = False,
        online: bool = False,
        cap: int = DEFAULT_CAP,
        clock: Callable[[], datetime] = utc_now,
    ):
        if frozen and online:
            raise ExperienceError("an experience memory cannot be both frozen and online",
                                  "evaluate with frozen=True (read-only) or online=True (self-verified writes)")
        if cap < 1:
            raise ExperienceError(f"the insight cap must be at least 1, not {cap}", "pass cap >= 1")
        self.store, self.frozen, self.online, self.cap = store, frozen, online, cap
        self._clock = clock

    def _now(self) -> datetime:
        return as_utc(self._clock())

    def _writable(self, action: str) -> None:
        if self.frozen:
            raise FrozenMemory(
                f"the experience memory of {self.store.path} is frozen (read-only): cannot {action}",
                "the test-split evaluation must not write memory; open ExperienceMemory(store) without "
                "frozen=True to build memory (train split), or with online=True for self-verified test writes",
            )

    def _refusal(self, case: Case) -> str | None:
        """Why ``case`` may not be written here, or None."""
        if case.provenance.split != "test":
            return None
        if not self.online:
            return (f"case {case.case_id} ({case.instance_id}) is from the test split, and test-split cases "
                    "are written only in online mode")
        if case.outcome not in SELF_OUTCOMES:
            return (f"case {case.case_id} ({case.instance_id}) is from the test split with the harness outcome "
                    f"{case.outcome!r}; at test time memory learns only from the agent's own signals "
                    "(self_verified / self_failed)")
        return None

    # ---- cases --------------------------------------------------------------------------------------

    def add_case(self, case: Case) -> bool:
        """Write ``case`` (replacing the one of the same run and instance); True when its id was new.

        Raises :class:`FrozenMemory` in a frozen memory and :class:`SplitGuard` for a test-split case
        outside online mode or with a harness outcome."""
        self._writable(f"add case {case.case_id}")
        refusal = self._refusal(case)
        if refusal:
            raise SplitGuard(refusal, "hidden-test outcomes are for grading only: write test-split cases with "
                             "ExperienceMemory(store, online=True) and an outcome of self_verified or self_failed")
        return self.store.save_experience_case(case.to_row())

    def cases(
        self,
        split: str | None = None,
        repo: str | None = None,
        before: datetime | None = None,
        *,
        exclude: Iterable[str] = (),
    ) -> list[Case]:
        """Cases (of ``split``, of ``repo``, of issues created before ``before``), oldest issue first;
        ``exclude``: identities (:func:`task_identities`) of a task, whose own cases are left out."""
        if split is not None and split not in ("train", "test"):
            raise UserError(f"unknown split {split!r}", "use train or test")
        rows = self.store.experience_cases(split=split, repo=repo, before=as_utc(before) if before else None)
        found = [Case.from_row(r) for r in rows]
        excluded = frozenset(exclude)
        return [c for c in found if not (c.identities() & excluded)] if excluded else found

    def case(self, case_id: str) -> Case:
        """The case ``case_id``; :class:`ExperienceError` when there is none."""
        row = self.store.experience_case(case_id)
        if row is None:
            raise ExperienceError(f"no experience case {case_id!r} in {self.store.path}", "see `factory memory cases`")
        return Case.from_row(row)

    # ---- insights -----------------------------------------------------------------------------------

    def insights(self, stage: str | None = None, active_only: bool = True) -> list[Insight]:
        """Insights (of ``stage``; retired ones too unless ``active_only``), in stage order, oldest first."""
        if stage is not None and stage not in STAGES:
            raise UserError(f"unknown stage {stage!r}", f"use one of {', '.join(STAGES)}")
        rows = self.store.experience_insights(stage=stage, active_only=active_only)
        return sorted((Insight.model_validate(r) for r in rows), key=_stage_order)

    def insight(self, insight_id: str) -> Insight:
        """The insight ``insight_id`` (active or retired); :class:`ExperienceError` when there is none."""
        row = self.store.experience_insight(insight_id)
        if row is None:
            raise ExperienceError(f"no insight {insight_id!r} in {self.store.path}", "see `factory memory insights`")
        return Insight.model_validate(row)

    def log(self, insight_id: str | None = None, stage: str | None = None) -> list[OpRecord]:
        """The operation log, oldest first (only what touched ``insight_id`` / of ``stage``)."""
        return [OpRecord.model_validate(r) for r in self.store.experience_ops(insight_id=insight_id, stage=stage)]

    def apply(self, op: Op) -> Insight:
        """Carry out one operation in one transaction and log it; return the insight it wrote or changed.

        Raises :class:`ExperienceError` (nothing written) for an unknown or retired insight, a duplicate
        add, or a merge across stages; :class:`FrozenMemory` in a frozen memory."""
        carry_out = {Add: self._add, Merge: self._merge, Retire: self._retire, Support: self._count,
                     Contradict: self._count}.get(type(op))
        if carry_out is None:
            raise ExperienceError(f"not an insight operation: {op!r}", "pass Add, Merge, Retire, Support or Contradict")
        self._writable(f"apply {op.op} ({op.reason})")
        now = self._now()
        with self.store.experience_tx() as tx:
            return carry_out(tx, op, now)

    # ---- the operations (inside one transaction) ----------------------------------------------------

    @staticmethod
    def _log(tx: ExperienceTx, op: str, stage: str, ids: list[str], reason: str, now: datetime, *,
             case_id: str = "", detail: dict | None = None) -> None:
        tx.log_op({"op": op, "stage": stage, "insight_ids": ids, "case_id": case_id, "reason": reason,
                   "detail": detail or {}, "created_at": now})

    @staticmethod
    def _active(tx: ExperienceTx, insight_id: str, doing: str) -> Insight:
        row = tx.insight(insight_id)
        if row is None:
            raise ExperienceError(f"cannot {doing}: no insight {insight_id!r}", "see `factory memory insights`")
        insight = Insight.model_validate(row)
        if insight.status != "active":
            raise ExperienceError(f"cannot {doing}: insight {insight_id} is retired",
                                  "operate on active insights (`factory memory insights`)")
        return insight

    @staticmethod
    def _changed(insight: Insight, now: datetime, **update: object) -> Insight:
        return insight.model_copy(update={**update, "version": insight.version + 1, "updated_at": now})

    def _evict(self, tx: ExperienceTx, stage: str, keep: int, now: datetime, making_room_for: str) -> list[str]:
        """Retire active insights of ``stage`` until ``keep`` remain: lowest support − contradiction first,
        the oldest among equals; each eviction is logged with why."""
        active = sorted((Insight.model_validate(r) for r in tx.insights(stage)),
                        key=lambda i: (i.score, i.created_at, i.insight_id))
        evicted = []
        while len(active) > keep:
            victim = active.pop(0)
            tx.write_insight(self._changed(victim, now, status="retired").model_dump())
            reason = (f"cap of {self.cap} active {stage!r} insights reached: retired the one with the lowest "
                      f"support − contradiction ({victim.score}), oldest first, to make room for {making_room_for}")
            self._log(tx, "evict", stage, [victim.insight_id], reason, now,
                      detail={"cap": self.cap, "score": victim.score, "for": making_room_for})
            evicted.append(victim.insight_id)
        return evicted

    def _add(self, tx: ExperienceTx, op: Add, now: datetime) -> Insight:
        cases = list(dict.fromkeys(op.case_ids))
        insight = Insight(insight_id=insight_id_for(op.stage, op.text), stage=op.stage, text=op.text,
                          support=len(cases), contradiction=0, case_ids=cases, created_at=now, updated_at=now)
        stored = tx.insight(insight.insight_id)
        if stored is not None:
            raise ExperienceError(
                f"cannot add: the {op.stage!r} insight {insight.insight_id} has this text already "
                f"({stored['status']})",
                "support it (Support) instead, or add a different text")
        evicted = self._evict(tx, op.stage, self.cap - 1, now, insight.insight_id)
        tx.write_insight(insight.model_dump())
        self._log(tx, "add", op.stage, [insight.insight_id], op.reason, now,
                  detail={**op.model_dump(mode="json"), "evicted": evicted})
        return insight

    def _merge(self, tx: ExperienceTx, op: Merge, now: datetime) -> Insight:
        merged = [self._active(tx, i, "merge") for i in op.insight_ids]
        stages = {m.stage for m in merged}
        if len(stages) > 1:
            raise ExperienceError(f"cannot merge insights of different stages ({', '.join(sorted(stages))})",
                                  "merge insights of one stage")
        stage = merged[0].stage
        cases = list(dict.fromkeys(c for m in merged for c in m.case_ids))
        insight = Insight(
            insight_id=insight_id_for(stage, op.text, op.insight_ids), stage=stage, text=op.text,
            support=sum(m.support for m in merged), contradiction=sum(m.contradiction for m in merged),
            case_ids=cases, version=max(m.version for m in merged) + 1, created_at=now, updated_at=now,
        )
        if tx.insight(insight.insight_id) is not None:
            raise ExperienceError(f"cannot merge: insight {insight.insight_id} exists already",
                                  "merge with a different text")
        for old in merged:
            tx.write_insight(self._changed(old, now, status="retired").model_dump())
        tx.write_insight(insight.model_dump())
        self._log(tx, "merge", stage, [insight.insight_id, *op.insight_ids], op.reason, now,
                  detail=op.model_dump(mode="json"))
        return insight

    def _retire(self, tx: ExperienceTx, op: Retire, now: datetime) -> Insight:
        retired = self._changed(self._active(tx, op.insight_id, "retire"), now, status="retired")
        tx.write_insight(retired.model_dump())
        self._log(tx, "retire", retired.stage, [retired.insight_id], op.reason, now, detail=op.model_dump(mode="json"))
        return retired

    def _count(self, tx: ExperienceTx, op: Support | Contradict, now: datetime) -> Insight:
        insight = self._active(tx, op.insight_id, op.op)
        counted = op.case_id not in insight.case_ids
        if counted:
            field = "support" if isinstance(op, Support) else "contradiction"
            insight = self._changed(insight, now, **{field: getattr(insight, field) + 1,
                                                     "case_ids": [*insight.case_ids, op.case_id]})
            tx.write_insight(insight.model_dump())
        self._log(tx, op.op, insight.stage, [insight.insight_id], op.reason, now, case_id=op.case_id,
                  detail={**op.model_dump(mode="json"), "counted": counted})
        return insight

    # ---- sharing ------------------------------------------------------------------------------------

    def export(self, path: Path) -> tuple[int, int]:
        """Write every case and every insight (retired ones too) as JSONL; return (cases, insights)."""
        cases = [Case.from_row(r) for r in self.store.experience_cases()]
        return write_jsonl(path, cases, self.insights(active_only=False))

    def import_(self, path: Path) -> ExperienceImportReport:
        """Add the cases and insights of a file written by :meth:`export` that are not here yet.

        Idempotent by id: a case or insight already stored (or earlier in the file) is left as it is.
        Malformed lines, and cases this memory may not write (see :meth:`add_case`), are reported by line
        number and skipped. Each imported insight is logged (op ``import``); if a stage then has more
        active insights than the cap, the cap evicts as for an add. One transaction: an interrupted
        import leaves the memory as it was."""
        self._writable(f"import {path}")
        good, bad = read_jsonl(path)
        report = ExperienceImportReport(bad_lines=bad)
        now = self._now()
        stages: set[str] = set()
        with self.store.experience_tx() as tx:
            for number, record in good:
                if isinstance(record, Case):
                    refusal = self._refusal(record)
                    if refusal:
                        report.bad_lines.append((number, refusal))
                    elif tx.case_exists(record.case_id):
                        report.already += 1
                    else:
                        tx.write_case(record.to_row())
                        report.cases_added += 1
                elif tx.insight(record.insight_id) is not None:
                    report.already += 1
                else:
                    tx.write_insight(record.model_dump())
                    self._log(tx, "import", record.stage, [record.insight_id],
                              f"imported from {Path(path).name}, line {number}", now,
                              detail={"file": str(path), "line": number, "status": record.status})
                    report.insights_added += 1
                    stages.add(record.stage)
            for stage in sorted(stages, key=STAGES.index):
                report.evicted += self._evict(tx, stage, self.cap, now, f"the import of {Path(path).name}")
        report.bad_lines.sort()
        return report
