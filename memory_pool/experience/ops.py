"""The operations that change semantic memory (:class:`Add`, :class:`Merge`, :class:`Retire`,
:class:`Support`, :class:`Contradict`), the log record each leaves, and the errors of the experience memory.

Why apart: an operation is data before it is an effect — an LLM (or a rule) proposes one, it is
validated here, :meth:`ExperienceMemory.apply` carries it out and logs it with its time and reason, and
the log (:class:`OpRecord`) is what answers "where did this insight come from". Keeping the operations
as plain models lets a run record, replay and test them without a store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from factory.core.errors import UserError
from memory_pool.environment.entries import as_utc
from memory_pool.experience.records import Stage


class ExperienceError(UserError):
    """An operation or a case the experience memory refuses (unknown id, retired insight, duplicate …)."""


class FrozenMemory(ExperienceError):
    """A write to an experience memory opened with ``frozen=True`` (the test-split evaluation)."""


class SplitGuard(ExperienceError):
    """A test-split case that may not be written: outside online mode, or with a harness outcome."""


class _Op(BaseModel):
    reason: str = Field(min_length=1)
    """Why the operation is made (kept in the log)."""

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an operation needs a reason")
        return value.strip()


class Add(_Op):
    """A new insight for ``stage``, drawn from ``case_ids`` (its support starts at their number).

    When the stage already has the cap of active insights, the one with the lowest support −
    contradiction (the oldest among equals) is retired first, and the log says so (op ``evict``)."""

    op: Literal["add"] = "add"
    stage: Stage
    """The stage the insight is for."""
    text: str = Field(min_length=1)
    """The lesson."""
    case_ids: list[str] = Field(default_factory=list)
    """The cases it was drawn from."""


class Merge(_Op):
    """Active insights of one stage folded into one new insight with ``text``: cases united, support and
    contradiction summed, version one above the highest; the merged ones are retired (their versions
    bumped). Merging a single insight rewrites it."""

    op: Literal["merge"] = "merge"
    insight_ids: list[str] = Field(min_length=1)
    """The insights to merge (all active, all of one stage, no repeats)."""
    text: str = Field(min_length=1)
    """The merged lesson."""

    @field_validator("insight_ids")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an insight id is repeated")
        return value


class Retire(_Op):
    """An active insight stops being shown (it stays stored, with its counts, for provenance)."""

    op: Literal["retire"] = "retire"
    insight_id: str


class Support(_Op):
    """Case ``case_id`` bore out an active insight: support +1 and the case added (once per case)."""

    op: Literal["support"] = "support"
    insight_id: str
    case_id: str = Field(min_length=1)


class Contradict(_Op):
    """Case ``case_id`` went against an active insight: contradiction +1 and the case added (once per case)."""

    op: Literal["contradict"] = "contradict"
    insight_id: str
    case_id: str = Field(min_length=1)


Op = Add | Merge | Retire | Support | Contradict


class OpRecord(BaseModel):
    """One row of the operation log (``experience_ops``)."""

    id: int
    """Position in the log."""
    op: Literal["add", "merge", "retire", "support", "contradict", "evict", "import"]
    """The operation; ``evict`` is a retirement the cap forced, ``import`` an insight read from a file."""
    stage: Stage
    """The stage of the insights it touched."""
    insight_ids: list[str]
    """The insight written (add, merge, import) or changed first, then those it retired."""
    case_id: str
    """The case a support / contradict counted ('' for the other operations)."""
    reason: str
    """Why: the reason given with the operation, or what the memory did on its own and why."""
    detail: dict
    """The operation as given, and what it changed (``counted`` false when a case had already counted)."""
    created_at: datetime
    """When it was applied."""

    @field_validator("created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)
