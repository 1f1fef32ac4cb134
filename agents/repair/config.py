"""The repair agent's knobs, one pydantic model whose fields say what they do (swap the model, the memory or
the budget without touching the scaffold)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

STAGES = ("reproduce", "localize", "patch", "select")


class RepairConfig(BaseModel):
    """How one attempt runs."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str = "factory-repair"
    """Names the configuration in predictions (``model_name_or_path`` = ``<name>/<model>``) and reports."""
    steps: dict[str, int] = Field(default_factory=lambda: {"reproduce": 8, "localize": 8, "patch": 10})
    """Model turns per stage; a stage that runs out ends with that reason and the attempt goes on."""
    candidates: int = Field(default=2, ge=1, le=8)
    """Patches written from a fresh work tree each; ``select`` submits one."""
    command_timeout: int = Field(default=120, ge=1)
    """Seconds one shell command may take before it is killed."""
    repeat_limit: int = Field(default=3, ge=2)
    """The same action this many times in a row ends the stage."""
    malformed_limit: int = Field(default=3, ge=1)
    """Replies in a row without a usable action that end the stage."""
    observation_chars: int = Field(default=6000, ge=500)
    """Characters of a command's output shown back to the model (head and tail)."""
    recall_k: int = Field(default=4, ge=0, le=4)
    """Past cases recalled per stage (0: none); insights are added separately."""
    select_tests: bool = True
    """Run the repository's existing tests for the touched modules when selecting a patch."""
    scratch: str = "/tmp/factory-repair"
    """Folder outside the work tree for the reproduction script (never part of a patch)."""
