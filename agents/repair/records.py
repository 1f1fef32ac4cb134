"""What the repair agent is given and what it gives back.

:class:`Task` holds only what a contestant may see — the issue, the repository, the base commit, the
image — and is built from a dataset row by name, field by field, so the test patch, the hidden
FAIL_TO_PASS / PASS_TO_PASS ids and the gold patch can never reach a prompt by accident. :class:`Attempt`
is the whole record of one try: every stage's turns, the reproduction, the candidates with their checks,
the submitted patch and why it was chosen.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

#: Dataset fields a task may carry; everything else in a row stays out of the agent's reach.
VISIBLE_FIELDS = ("instance_id", "repo", "base_commit", "problem_statement", "hints_text", "created_at", "image")


class Task(BaseModel):
    """One issue to resolve, as a contestant sees it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_id: str
    repo: str
    base_commit: str
    problem_statement: str
    hints_text: str = ""
    created_at: str = ""
    image: str
    pull_number: int | None = None
    """Used only to keep this instance's own pull request out of what memory recalls."""

    @classmethod
    def from_record(cls, record: dict) -> Task:
        values = {name: record.get(name) or "" for name in VISIBLE_FIELDS}
        number = record.get("pull_number")
        return cls(**values, pull_number=int(number) if isinstance(number, int | float) and number == number else None)

    def identities(self) -> frozenset[str]:
        """What memory must never recall for this task: the same instance, pull request or commit."""
        found = {f"instance:{self.instance_id}", f"commit:{self.base_commit}"}
        if self.pull_number is not None:
            found.add(f"pr:{self.repo}#{self.pull_number}")
        return frozenset(found)


class Turn(BaseModel):
    """One model turn: the action it chose and what came back (bounded)."""

    action: str
    """``bash`` | ``write`` | ``edit`` | ``done`` | ``malformed`` | ``repeat``."""
    detail: str = ""
    """The command, the file, or the problem with the reply."""
    observation: str = ""


class StageLog(BaseModel):
    stage: str
    turns: list[Turn] = Field(default_factory=list)
    answer: str = ""
    """What the model said when it ended the stage (``done``)."""
    ended: str = ""
    """Why the stage ended: ``done``, ``steps``, ``repeated``, ``malformed``, ``no_action`` (``done`` again
    and again before any action), ``budget``, ``llm_error``."""
    error: str = ""
    """With ``budget`` / ``llm_error``: what was exceeded or what the endpoint said."""
    recalled: int = 0
    """Cases and insights the memory put into this stage's prompt."""
    recalled_cases: list[str] = Field(default_factory=list)
    """The ids of the cases recalled for this stage (labelled helped / not helped after grading)."""


class Candidate(BaseModel):
    patch: str
    reproduction_exit: int | None = None
    """Exit code of the reproduction script with this patch (None: not run)."""
    tests_exit: int | None = None
    """Exit code of the existing tests of the touched modules (None: not run / none found)."""
    score: int = 0


class Attempt(BaseModel):
    """Everything one try did, kept for memory, for reports and for people."""

    instance_id: str
    config: str
    model: str
    stages: list[StageLog] = Field(default_factory=list)
    reproduction: str = ""
    reproduction_output: str = ""
    reproduction_exit: int | None = None
    files: list[str] = Field(default_factory=list)
    """Files the localization named."""
    candidates: list[Candidate] = Field(default_factory=list)
    submitted: str = ""
    """The patch submitted as the prediction (may be empty)."""
    reason: str = ""
    """Why this patch (or none) was submitted."""
    error: str = ""
    """What stopped the attempt early (budget, engine), if anything."""
    ledger_key: str = ""
    """The LLM ledger's instance key its calls are recorded under (what it cost)."""

    def prediction(self) -> dict:
        """The SWE-bench prediction row."""
        return {"instance_id": self.instance_id, "model_name_or_path": f"{self.config}/{self.model}",
                "model_patch": self.submitted}
