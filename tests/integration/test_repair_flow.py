"""The ``repair`` Prefect flow runs the cycle (train, then the ablation) on a real Prefect server, with a
scripted model behind the real ``openai`` client; ``factory repair report`` reads what it wrote."""

from __future__ import annotations

import json
from datetime import datetime

from factory.pipeline.repair_cycle import load_results, split
from tests.integration.test_repair_cycle import oracle
from tests.llm_server import ScriptedLLM


def test_the_repair_flow_trains_and_evaluates(pipeline, tmp_path, monkeypatch) -> None:
    from flows.repair import repair_flow

    records = sorted(pipeline.records(), key=lambda r: r["created_at"])
    split(records, datetime.fromisoformat(records[-1]["created_at"].replace("Z", "+00:00")), tmp_path / "split")
    with ScriptedLLM(oracle(records)) as server:
        monkeypatch.setenv("FACTORY_LLM_BASE_URL", server.url)
        monkeypatch.setenv("FACTORY_LLM_MODEL", "test-model")
        result = repair_flow(split=str(tmp_path / "split"), configs=["none", "episodic"], candidates=1,
                             db=str(tmp_path / "repair.duckdb"), home=str(tmp_path / "home"), db_lock_wait=0)
    assert list(result["train"].values()) == ["resolved", "resolved"]
    assert [line.split()[:2] for line in result["table"].splitlines()[1:]] == [["none", "1/1"], ["episodic", "1/1"]]
    saved = load_results(tmp_path / "split" / "eval-results.json")
    assert set(saved) == {"none", "episodic"}
    assert json.loads((tmp_path / "split" / "train-results.json").read_text())["train"][0]["status"] == "resolved"


def test_online_evaluation_writes_test_cases_with_the_agent_s_own_verdict_only(pipeline, docker_client, tmp_path):
    from agents.llm import Budget, LLMClient, LLMSettings
    from agents.repair.config import RepairConfig
    from factory.pipeline.repair_cycle import CycleContext, evaluate_configs
    from factory.store import Store
    from memory_pool.experience import ExperienceMemory

    records = sorted(pipeline.records(), key=lambda r: r["created_at"])
    with ScriptedLLM(oracle(records)) as server, Store(tmp_path / "online.duckdb") as store:
        llm = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        ctx = CycleContext(docker_client, llm, pipeline.settings, pipeline.store, tmp_path / "reports",
                           RepairConfig(candidates=1), Budget(max_calls=30))
        results = evaluate_configs(ctx, records[-2:], store, "online", ["none", "episodic"], online=True)
        written = ExperienceMemory(store).cases(split="test")
    assert [g.status for g in results["episodic"]] == ["resolved", "resolved"]
    assert len(written) == 2 and {c.outcome for c in written} <= {"self_verified", "self_failed"}
    assert {c.provenance.run_id for c in written} == {"online:episodic"}  # the no-memory run wrote nothing
    second = results["episodic"][1].attempt
    assert any(log.recalled_cases for log in second.stages)  # the later test issue recalled the earlier one
