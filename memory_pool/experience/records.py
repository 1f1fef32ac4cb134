"""What the experience memory remembers: one repair attempt (:class:`Case`) and one lesson (:class:`Insight`).

Both are the rows of the store's experience tables and the lines of an exported experience file, so
their validation and the rules that make them comparable live here once: deterministic ids (a case is
one run on one instance; an insight is its stage and text), UTC times, the bound on stored reproduction
output, which outcomes count as positive and which may be written at test time, the identities that
keep a task from retrieving memory of itself, and the text a retriever matches. The memory itself
(writing, the insight operations, the cap, sharing) is :mod:`.memory`.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, computed_field, field_validator, model_validator

from memory_pool.environment.entries import as_utc, utc_now

Stage = Literal["reproduce", "localize", "patch", "select"]
#: The repair stages in the order the agent runs them (DESIGN §6).
STAGES: tuple[str, ...] = ("reproduce", "localize", "patch", "select")
Outcome = Literal["resolved", "unresolved", "error", "empty", "self_verified", "self_failed"]
#: Outcomes from the agent's own signals (its reproducer, its self-review): the only ones a test-split case may carry.
SELF_OUTCOMES: frozenset[str] = frozenset({"self_verified", "self_failed"})
#: Outcomes that make a case a positive example.
POSITIVE_OUTCOMES: frozenset[str] = frozenset({"resolved", "self_verified"})
Split = Literal["train", "test"]

#: At most this many characters of reproduction output are stored: the head (what ran) and the tail
#: (where it failed), with a marker saying how much was cut in between.
OUTPUT_LIMIT = 8000
_OUTPUT_HEAD = 2000
#: How much of the end of the reproduction output :meth:`Case.search_text` includes (the traceback tail).
SEARCH_OUTPUT_TAIL = 1500
_ID_DIGITS = 24


def bounded(text: str, limit: int = OUTPUT_LIMIT, head: int = _OUTPUT_HEAD) -> str:
    """``text`` if it fits in ``limit`` characters, else its first ``head`` and its last characters around a
    ``[… N characters cut …]`` line, ``limit`` characters in all — so bounding twice changes nothing."""
    if len(text) <= limit:
        return text
    marker = ""
    for _ in range(3):  # the marker's length depends on the count it states; settles in two rounds
        tail = limit - head - len(marker)
        marker = f"\n[… {len(text) - head - tail} characters cut …]\n"
    tail = limit - head - len(marker)
    return f"{text[:head]}{marker}{text[-tail:]}"


def case_id_for(run_id: str, instance_id: str) -> str:
    """The id of the case run ``run_id`` wrote for ``instance_id``: the same pair always has the same id."""
    return hashlib.sha256(f"{run_id}\n{instance_id}".encode()).hexdigest()[:_ID_DIGITS]


def insight_id_for(stage: str, text: str, merged_from: tuple[str, ...] | list[str] = ()) -> str:
    """The id of an insight: its stage and text, plus the ids it merged (so a merge never reuses an id)."""
    key = "\n".join([stage, text.strip(), *sorted(merged_from)])
    return hashlib.sha256(key.encode()).hexdigest()[:_ID_DIGITS]


def task_identities(instance_id: str, repo: str, pr_number: int | None, base_commit: str) -> frozenset[str]:
    """What makes two tasks "the same" for retrieval: the instance, the pull request, the base commit.

    A task must never retrieve a case sharing any of these (DESIGN §6): memory of its own fix."""
    found = {f"instance:{instance_id}", f"commit:{base_commit}"}
    if pr_number is not None:
        found.add(f"pr:{repo}#{pr_number}")
    return frozenset(found)


class CaseCost(BaseModel):
    """What one repair attempt cost."""

    calls: int = Field(default=0, ge=0)
    """LLM calls made."""
    tokens_in: int = Field(default=0, ge=0)
    """Prompt tokens over all calls."""
    tokens_out: int = Field(default=0, ge=0)
    """Completion tokens over all calls."""
    usd: float = Field(default=0.0, ge=0)
    """Dollars spent (0 for local models)."""
    seconds: float = Field(default=0.0, ge=0)
    """Wall-clock seconds of the attempt."""


class CaseProvenance(BaseModel):
    """Where a case came from: which run, model and configuration wrote it, on which split, when."""

    run_id: str = Field(min_length=1)
    """The repair run that made the attempt."""
    model: str
    """The model that made it (``gpt-4.1``, ``local:qwen``; ``heuristic`` for none)."""
    config: str
    """Name of the agent configuration (memory ablation, prompts …) the run used."""
    split: Split
    """``train`` (outcome may come from the harness) or ``test`` (only self-verified outcomes, online mode)."""
    written_at: datetime = Field(default_factory=utc_now)
    """When the case was written."""

    @field_validator("written_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)


class Case(BaseModel):
    """One repair attempt on one task, positive or negative: an episodic memory (a row of ``experience_cases``)."""

    case_id: str = ""
    """Derived from provenance ``run_id`` + ``instance_id`` (:func:`case_id_for`); filled in when left empty,
    and a given one must match."""
    instance_id: str = Field(min_length=1)
    """The task, ``owner__repo-N``."""
    repo: str = Field(min_length=1)
    """``owner/name``."""
    pr_number: int | None = None
    """The pull request whose fix the task comes from, when known."""
    base_commit: str = Field(min_length=1)
    """The commit the agent worked on."""
    issue_created_at: datetime
    """When the issue was opened: what time splits compare (train = earlier than the test issues)."""
    issue_text: str
    """The problem statement the agent was given."""
    stage_notes: dict[Stage, str] = Field(default_factory=dict)
    """Per stage, the short note the agent wrote about what it did and found."""
    files: list[str] = Field(default_factory=list)
    """Paths the submitted patch touches (no duplicates)."""
    functions: list[str] = Field(default_factory=list)
    """Functions or methods the agent localized / changed (no duplicates)."""
    reproduction: str = ""
    """The reproduction script the agent wrote ('' when it wrote none)."""
    reproduction_output: str = ""
    """What the reproduction printed, bounded to :data:`OUTPUT_LIMIT` characters (head and tail kept)."""
    candidate_patches: list[str] = Field(default_factory=list)
    """Every candidate diff the agent produced, in order."""
    submitted_patch: str = ""
    """The one diff it submitted ('' for none)."""
    outcome: Outcome
    """Train time: the harness outcome (``resolved`` … ``empty``) or a self outcome; test time (online
    memory): ``self_verified`` / ``self_failed`` only."""
    cost: CaseCost = Field(default_factory=CaseCost)
    """Calls, tokens and money the attempt took."""
    provenance: CaseProvenance
    """Run, model, configuration, split and time the case was written."""

    @field_validator("issue_created_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("files", "functions")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v for v in value if v.strip()))

    @field_validator("reproduction_output")
    @classmethod
    def _bounded(cls, value: str) -> str:
        return bounded(value)

    @model_validator(mode="after")
    def _derived_id(self) -> Case:
        expected = case_id_for(self.provenance.run_id, self.instance_id)
        if not self.case_id:
            self.case_id = expected
        elif self.case_id != expected:
            raise ValueError(
                f"case_id {self.case_id!r} is not the id of run {self.provenance.run_id!r} on "
                f"{self.instance_id!r} (that is {expected!r})"
            )
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def positive(self) -> bool:
        """A positive example: ``resolved`` or ``self_verified`` (derived from the outcome)."""
        return self.outcome in POSITIVE_OUTCOMES

    def identities(self) -> frozenset[str]:
        """``{"instance:<id>", "pr:<repo>#<n>", "commit:<base_commit>"}``: a task sharing any of these
        must not retrieve this case."""
        return task_identities(self.instance_id, self.repo, self.pr_number, self.base_commit)

    def search_text(self) -> str:
        """The text a retriever matches: the issue, the touched paths and functions, and the end of the
        reproduction output (where a traceback says what broke)."""
        parts = [self.issue_text, " ".join(self.files), " ".join(self.functions)]
        parts.append(self.reproduction_output[-SEARCH_OUTPUT_TAIL:])
        return "\n".join(p for p in parts if p.strip())

    def to_row(self) -> dict:
        """The flat ``experience_cases`` row (cost and provenance spread into columns)."""
        data = self.model_dump()
        return {**{k: v for k, v in data.items() if k not in ("cost", "provenance")}, **data["cost"],
                **data["provenance"]}

    @classmethod
    def from_row(cls, row: dict) -> Case:
        """A case from its stored row (the inverse of :meth:`to_row`)."""
        nested = {"cost": {k: row[k] for k in CaseCost.model_fields},
                  "provenance": {k: row[k] for k in CaseProvenance.model_fields}}
        flat = {k: v for k, v in row.items() if k in cls.model_fields and k not in nested}
        return cls.model_validate({**flat, **nested})


class Insight(BaseModel):
    """One lesson for one stage, with the evidence for and against it (a row of ``experience_insights``)."""

    insight_id: str = Field(pattern=rf"^[0-9a-f]{{{_ID_DIGITS}}}$")
    """Derived from stage, text and the insights it merged (:func:`insight_id_for`)."""
    stage: Stage
    """The stage whose prompt the insight is for."""
    text: str = Field(min_length=1)
    """The lesson, one or two sentences."""
    support: int = Field(ge=0)
    """Cases that bore it out (the cases it was drawn from count)."""
    contradiction: int = Field(ge=0)
    """Cases that went against it."""
    case_ids: list[str] = Field(default_factory=list)
    """Cases it was drawn from or that counted for or against it, each once, in order."""
    status: Literal["active", "retired"] = "active"
    """``active`` insights are shown to the agent (at most the cap per stage); ``retired`` ones stay for
    provenance."""
    version: int = Field(default=1, ge=1)
    """Revision: 1 when written, +1 with each operation that changes it; a merged insight starts one above
    the highest version it merged."""
    created_at: datetime
    """When it was written."""
    updated_at: datetime
    """When an operation last changed it."""

    @field_validator("created_at", "updated_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("text")
    @classmethod
    def _stripped(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("an insight needs text")
        return value.strip()

    @field_validator("case_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def score(self) -> int:
        """``support - contradiction``: what the cap keeps (the lowest is retired first)."""
        return self.support - self.contradiction
