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
