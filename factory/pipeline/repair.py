"""The repair stage: run the repair agent over dataset rows, each in its own instance container with its own
LLM budget, and write SWE-bench predictions; our harness grades them like anyone else's.

Kept here rather than in ``agents/repair``: the agent knows one task, one model, one environment; opening
containers per instance, the budgets, the ledger and the predictions file are the stage's business.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from agents.llm import Budget, LLMClient
from agents.repair.agent import RepairAgent
from agents.repair.config import RepairConfig
from agents.repair.protocols import Memory
from agents.repair.records import Attempt, Task
from factory.core.settings import Settings
from factory.docker.runtime import Sandbox
from factory.docker.session import ContainerSession
from factory.grading.contract import TESTER


@dataclass
class RepairRun:
    """What one pass over a dataset produced."""

    attempts: list[Attempt] = field(default_factory=list)

    def predictions(self) -> list[dict]:
        return [a.prediction() for a in self.attempts]

    def write_predictions(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(p) + "\n" for p in self.predictions()), encoding="utf-8")
        return path


def run_repair(
    records: Iterable[dict],
    client: docker.DockerClient,
    llm: LLMClient,
    settings: Settings,
    *,
    config: RepairConfig | None = None,
    memory: Memory | None = None,
    budget: Budget | None = None,
    on_done: Callable[[Attempt], None] | None = None,
) -> RepairRun:
    """One attempt per row, in order; a row's failure (budget, engine) is recorded in its attempt and the
    next row goes on. Rows carry hidden fields (test patch, test ids): only :class:`Task` reaches the agent."""
    config = config or RepairConfig()
    budget = budget or Budget(max_calls=settings.build.max_llm_calls, max_usd=settings.build.max_llm_usd,
                              max_seconds=settings.build.max_llm_seconds)
    sandbox = Sandbox(settings.build.mem_limit, settings.build.pids_limit, settings.build.cpus,
                      settings.build.run_timeout)
    run = RepairRun()
    for record in records:
        task = Task.from_record(record)
        session = llm.session(task.instance_id, budget)
        with ContainerSession(client, task.image, sandbox, user=TESTER,
                              extra_labels={"issue-factory.repair": task.instance_id}) as box:
            attempt = RepairAgent(session, box, memory, config, model_name=llm.model).run(task)
        run.attempts.append(attempt)
        if on_done:
            on_done(attempt)
    return run
