"""Train and evaluate the repair agent honestly: split by time, build memory on the earlier issues from graded
outcomes, evaluate on the later ones with frozen memory, under every memory configuration of the ablation.

- :func:`split` — issues created before ``cutoff`` train, the rest test (optionally repo-disjoint: a test
  repository has no train issue), written as two JSONL files and a manifest a user can inspect.
- :func:`train` — in time order, one attempt per train issue, recalling only from earlier cases; each
  prediction graded by our harness at once; its case (positive or negative) and one insight operation
  written to the experience memory.
- :func:`evaluate_configs` — the test split under each configuration (``none`` / ``episodic`` /
  ``semantic`` / ``both`` / ``random``: episodic with random retrieval, the control at equal K), memory
  frozen (any write raises), predictions graded by the harness in one run per configuration.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import docker

from agents.llm import Budget, LLMClient
from agents.repair.agent import RepairAgent
from agents.repair.config import RepairConfig
from agents.repair.insights import maintain
from agents.repair.memory import ExperienceRecall, case_from_attempt, when
from agents.repair.protocols import NoMemory
from agents.repair.records import Attempt, Task
from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.docker.runtime import Sandbox
from factory.docker.session import ContainerSession
from factory.grading.contract import TESTER
from factory.harness.evaluate import evaluate
from factory.harness.predictions import Prediction, Predictions
from factory.store import Store
from memory_pool.experience import ExperienceMemory
from memory_pool.retrieval import Label, ReRanker

#: Memory configurations of the ablation: (recall mode, retrieval).
CONFIGS: dict[str, tuple[str, str]] = {
    "none": ("none", "lexical"), "episodic": ("episodic", "lexical"), "semantic": ("semantic", "lexical"),
    "both": ("both", "lexical"), "random": ("episodic", "random"),
}


def split(records: list[dict], cutoff: datetime, out: Path, repo_disjoint: bool = False) -> tuple[list, list]:
    """Train = issues created before ``cutoff``; test = the rest (minus, if ``repo_disjoint``, repositories
    that have train issues). Writes ``train.jsonl``, ``test.jsonl`` and ``split.json`` under ``out``."""
    dated = [(when(str(r.get("created_at", ""))), r) for r in records]
    undated = [r["instance_id"] for d, r in dated if d is None]
    if undated:
        raise UserError(f"{len(undated)} row(s) have no readable created_at (e.g. {undated[0]})",
                        "export the dataset again with `factory export`; a time split needs every date")
    train = [r for d, r in sorted(dated, key=lambda x: x[0]) if d < cutoff]
    test = [r for d, r in sorted(dated, key=lambda x: x[0]) if d >= cutoff]
    if repo_disjoint:
        seen = {r["repo"] for r in train}
        test = [r for r in test if r["repo"] not in seen]
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("train", train), ("test", test)):
        (out / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (out / "split.json").write_text(json.dumps({
        "cutoff": cutoff.isoformat(), "repo_disjoint": repo_disjoint,
        "train": [r["instance_id"] for r in train], "test": [r["instance_id"] for r in test]}, indent=1))
    return train, test


@dataclass
class Graded:
    attempt: Attempt
    status: str
    """The harness's word: resolved / unresolved / empty / error."""
    note: str = ""
    """Train: what the insight step did ("added insight …", "no insight change: …")."""


@dataclass
class CycleContext:
    """What every attempt of a cycle shares."""

    client: docker.DockerClient
    llm: LLMClient
    settings: Settings
    harness_store: Store
    """The store the harness writes its results to (and reads instance images from)."""
    report_dir: Path
    config: RepairConfig = field(default_factory=RepairConfig)
    budget: Budget = field(default_factory=Budget)
    on_done: Callable[[str, Graded], None] | None = None

    def attempt(self, task: Task, memory, label: str) -> Attempt:
        """One attempt; its LLM calls are in the ledger under ``<instance>@<label>`` (a configuration's cost)."""
        sandbox = Sandbox(self.settings.build.mem_limit, self.settings.build.pids_limit, self.settings.build.cpus,
                          self.settings.build.run_timeout)
        with ContainerSession(self.client, task.image, sandbox, user=TESTER,
                              extra_labels={"issue-factory.repair": task.instance_id}) as box:
            key = f"{task.instance_id}@{label}"
            attempt = RepairAgent(self.llm.session(key, self.budget), box, memory, self.config,
                                  model_name=self.llm.model).run(task)
            attempt.ledger_key = key
            return attempt

    def grade(self, attempts: list[Attempt], records: list[dict], run_id: str) -> list[str]:
        model = f"{self.config.name}/{self.llm.model}"
        preds = Predictions([Prediction(a.instance_id, model, a.submitted) for a in attempts], source=run_id)
        report = evaluate(preds, records, run_id, self.harness_store, self.settings, report_dir=self.report_dir,
                          reuse=False, client=self.client)
        status = {r.instance_id: r.status for r in report.results}
        return [status.get(a.instance_id, "error") for a in attempts]


def train(ctx: CycleContext, records: list[dict], memory: ExperienceMemory, run_id: str,
          mode: str = "both", state_dir: Path | None = None) -> list[Graded]:
    """Attempts on the train split in time order, each graded at once and remembered (case + insight op).

    Every recalled case is labelled with whether its attempt was resolved, and the re-ranker retrained on
    all labels so far; with ``state_dir`` the labels and the re-ranker are saved there (``labels.jsonl``,
    ``reranker.json``) for the evaluation to load."""
    done: list[Graded] = []
    recall_mode, retrieval = CONFIGS[mode]
    labels: list[Label] = []
    reranker = ReRanker()
    for record in records:
        task = Task.from_record(record)
        recall = ExperienceRecall(memory, recall_mode, retrieval, k=ctx.config.recall_k,
                                  reranker=reranker).for_task(task)
        attempt = ctx.attempt(task, recall, f"{run_id}:train")
        status = ctx.grade([attempt], [record], f"{run_id}-{len(done) + 1}")[0]
        case = case_from_attempt(attempt, task, status, run_id=run_id, split="train")
        memory.add_case(case)
        note = ""
        if mode in ("semantic", "both"):
            note = maintain(memory, ctx.llm.session(f"{task.instance_id}@{run_id}:insight", ctx.budget), task,
                            attempt, case.case_id, status)
        labels += recall.labels(task.problem_statement, status == "resolved")
        reranker.fit(labels)
        graded = Graded(attempt, status, note)
        done.append(graded)
        if ctx.on_done:
            ctx.on_done(mode, graded)
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "labels.jsonl").write_text("".join(label.model_dump_json() + "\n" for label in labels))
        (state_dir / "reranker.json").write_text(reranker.to_json())
    return done


def load_reranker(state_dir: Path) -> ReRanker | None:
    """The re-ranker ``train`` saved in ``state_dir`` (None when there is none)."""
    path = state_dir / "reranker.json"
    return ReRanker.from_json(path.read_text()) if path.is_file() else None


def self_outcome(attempt: Attempt) -> str:
    """The agent's own verdict on its submission: its reproduction passed with the chosen patch."""
    chosen = next((c for c in attempt.candidates if c.patch == attempt.submitted), None)
    return "self_verified" if chosen is not None and chosen.reproduction_exit == 0 else "self_failed"


def evaluate_configs(ctx: CycleContext, records: list[dict], memory_store: Store, run_id: str,
                     configs: list[str], reranker: ReRanker | None = None,
                     curve: list[int] | None = None, online: bool = False) -> dict[str, list[Graded]]:
    """The test split under each configuration, memory frozen; one harness run per configuration (the
    trained ``reranker`` orders recalled cases, except in the random control). ``curve``: also ``both``
    with only the first N train cases (in time order), one row ``both-N`` per size — the learning curve.
    ``online``: after each test attempt its case is written with the agent's own outcome (never the
    harness's), and later test issues of the same configuration may recall it."""
    frozen = ExperienceMemory(memory_store, online=True) if online else ExperienceMemory(memory_store, frozen=True)
    results: dict[str, list[Graded]] = {}
    runs = [(name, *CONFIGS[name], None) for name in configs]
    runs += [(f"both-{size}", *CONFIGS["both"], size) for size in curve or []]
    for name, mode, retrieval, size in runs:
        attempts = []
        for record in records:
            task = Task.from_record(record)
            label = f"{run_id}:{name}"
            memory = (NoMemory() if mode == "none" else
                      ExperienceRecall(frozen, mode, retrieval, k=ctx.config.recall_k, max_cases=size,
                                       reranker=None if retrieval == "random" else reranker,
                                       online_run=label if online else None).for_task(task))
            attempt = ctx.attempt(task, memory, label)
            attempts.append(attempt)
            if online and mode != "none":
                frozen.add_case(case_from_attempt(attempt, task, self_outcome(attempt), run_id=label, split="test"))
        statuses = ctx.grade(attempts, records, f"{run_id}-{name}")
        results[name] = [Graded(a, s) for a, s in zip(attempts, statuses, strict=True)]
        for graded in results[name]:
            if ctx.on_done:
                ctx.on_done(name, graded)
    return results


def open_context(settings: Settings, store: Store, report_dir: Path, *, candidates: int | None = None,
                 max_calls: int | None = None, replay: bool = False) -> CycleContext:
    """The cycle's context from resolved settings: the ``[llm]`` model (or the ledger, with ``replay``), the
    build's sandbox and LLM budget, ``store`` for memory, ledger and the harness's results. ``candidates`` and
    ``max_calls`` default to :class:`RepairConfig`'s and to the ``build.max_llm_calls`` setting."""
    from agents.llm import LLMSettings
    from factory.docker.runtime import connect

    endpoint = LLMSettings.from_endpoint(settings.llm)
    if endpoint is None and not replay:
        raise UserError("no model is configured for the repair agent",
                        "set FACTORY_LLM_MODEL (and FACTORY_LLM_BASE_URL for a local server), or pass --replay")
    return CycleContext(connect(), LLMClient(endpoint, store, replay=replay), settings, store, report_dir,
                        RepairConfig(**({} if candidates is None else {"candidates": candidates})),
                        Budget(max_calls=settings.build.max_llm_calls if max_calls is None else max_calls,
                               max_usd=settings.build.max_llm_usd, max_seconds=settings.build.max_llm_seconds))


def save_results(path: Path, results: dict[str, list[Graded]]) -> Path:
    """Every attempt with its harness status, per configuration, as JSON a person can read."""
    path.write_text(json.dumps({name: [{"status": g.status, "note": g.note, "attempt": g.attempt.model_dump()}
                                       for g in graded]
                                for name, graded in results.items()}, indent=1), encoding="utf-8")
    return path


def load_results(path: Path) -> dict[str, list[Graded]]:
    if not path.is_file():
        raise UserError(f"{path} does not exist", "run `factory repair eval --split ...` first")
    saved = json.loads(path.read_text(encoding="utf-8"))
    return {name: [Graded(Attempt.model_validate(g["attempt"]), g["status"], g.get("note", "")) for g in graded]
            for name, graded in saved.items()}


def read_split(split_dir: Path, name: str) -> list[dict]:
    """``train`` or ``test`` rows of a split folder."""
    path = split_dir / f"{name}.jsonl"
    if not path.is_file():
        raise UserError(f"{path} does not exist", "run `factory repair split --dataset FILE --before DATE` first")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
