"""What the repair agent needs from the world, as small protocols (mini-swe-agent keeps its own the same
way): a model to talk to, an environment to act in, a memory to recall from. Any object with these methods
will do — an :class:`~agents.llm.session.LLMSession`, a :class:`~factory.docker.session.ContainerSession`,
an experience memory, or a test double that is none of them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from factory.docker.session import CommandResult


class Reply(Protocol):
    text: str


class Model(Protocol):
    def chat(self, role: str, messages: list[dict[str, str]]) -> Reply: ...


class Environment(Protocol):
    def execute(self, command: str, timeout: int = 120) -> CommandResult: ...

    def write_file(self, path: str, content: str) -> CommandResult: ...

    def read_file(self, path: str) -> str | None: ...

    def patch(self) -> str: ...

    def apply(self, patch: str) -> CommandResult: ...

    def revert(self, patch: str) -> CommandResult: ...


@dataclass
class Recall:
    """What the memory offers one stage: past cases (already rendered short) and standing insights."""

    cases: list[str] = field(default_factory=list)
    insights: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    """The recalled cases' ids, in the order shown (what a re-ranker's labels are about)."""

    def __bool__(self) -> bool:
        return bool(self.cases or self.insights)


class Memory(Protocol):
    def recall(self, stage: str, query: str, exclude: frozenset[str]) -> Recall: ...


class NoMemory:
    """The no-memory baseline: recalls nothing."""

    def recall(self, stage: str, query: str, exclude: frozenset[str]) -> Recall:
        return Recall()
