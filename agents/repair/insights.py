"""Semantic memory upkeep: after a graded train attempt, the model proposes one operation on the stage's
insights — add a lesson, support or contradict a standing one, or nothing — and the experience memory
applies it (with its cap, its log and its reasons).

Only train outcomes reach this (the harness's verdict is a reward there); the model sees the attempt's own
record and the outcome word, never a hidden test or the gold patch. A reply that is not a usable operation
changes nothing and is recorded as such.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ValidationError

from agents.llm import BudgetExceeded, LLMRequestError
from agents.repair.prompts import render_prompt
from agents.repair.protocols import Model
from agents.repair.records import Attempt, Task
from memory_pool.experience import Add, Contradict, ExperienceError, ExperienceMemory, Support


class Proposal(BaseModel):
    op: Literal["add", "support", "contradict", "none"]
    stage: Literal["reproduce", "localize", "patch", "select"] = "patch"
    text: str = ""
    number: int = 0
    """``support`` / ``contradict``: the insight's number in the list shown."""


def _first_object(text: str) -> dict:
    start = text.find("{")
    if start == -1:
        raise ValueError("no JSON object")
    value, _ = json.JSONDecoder(strict=False).raw_decode(text, start)  # raw newlines in strings, as models write
    if not isinstance(value, dict):
        raise ValueError("not an object")
    return value


def maintain(memory: ExperienceMemory, model: Model, task: Task, attempt: Attempt, case_id: str,
             outcome: str) -> str:
    """Ask for one operation and apply it; returns what happened, in words (for the run's log). A budget
    that runs out or a refused request changes nothing and says so: training goes on."""
    standing = memory.insights()
    prompt = render_prompt("insight.j2", task=task, attempt=attempt, outcome=outcome, insights=standing)
    try:
        reply = model.chat("repair.insight", [{"role": "user", "content": prompt}])
    except (BudgetExceeded, LLMRequestError) as exc:
        return f"no insight change: the insight call failed ({exc})"
    try:
        proposal = Proposal.model_validate(_first_object(reply.text))
    except (ValueError, ValidationError) as exc:
        return f"no insight change: the reply was not an operation ({str(exc).splitlines()[0]})"
    reason = f"train attempt on {attempt.instance_id}: {outcome}"
    try:
        if proposal.op == "add" and proposal.text.strip():
            insight = memory.apply(Add(stage=proposal.stage, text=proposal.text.strip()[:400], case_ids=[case_id],
                                       reason=reason))
            return f"added insight {insight.insight_id} ({proposal.stage})"
        if proposal.op in ("support", "contradict") and 1 <= proposal.number <= len(standing):
            target = standing[proposal.number - 1]
            kind = Support if proposal.op == "support" else Contradict
            memory.apply(kind(insight_id=target.insight_id, case_id=case_id, reason=reason))
            return f"{proposal.op}ed insight {target.insight_id}"
    except ExperienceError as exc:
        return f"no insight change: {exc.what}"
    return "no insight change"
