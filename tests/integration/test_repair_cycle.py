"""The whole repair cycle on the example dataset through the real ``openai`` client and a scripted model:
time split → train (graded by the harness, cases and insights written) → evaluation of the later issue under
every memory configuration with frozen memory → the ablation table.

The scripted model is an oracle for the *model's* side only (it knows each instance's fix, as a strong
model might); what the factory sends it is scanned: for the test instance, no request carries its gold
patch, its test patch or its hidden test ids, and memory recalled nothing of the test instance itself.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from agents.llm import Budget, LLMClient, LLMSettings
from agents.repair.config import RepairConfig
from factory.pipeline.repair_cycle import CONFIGS, CycleContext, evaluate_configs, split, train
from factory.pipeline.repair_report import render, rows
from factory.store import Store
from memory_pool.experience import ExperienceMemory, FrozenMemory
from tests.llm_server import ScriptedLLM


def _files(patch: str) -> list[str]:
    return [line.split(" b/", 1)[1] for line in patch.splitlines() if line.startswith("diff --git ")]


def oracle(records: list[dict]):
    """A model that knows every fix: it reproduces nothing, names the gold files, applies the gold patch."""
    by_text = {r["problem_statement"].strip().splitlines()[0]: r for r in records}

    def reply(messages: list[dict], _request: dict) -> str:
        first = messages[-1]["content"] if len(messages) == 1 else messages[1]["content"]
        if first.startswith("You keep a short list of lessons"):
            return '{"op": "add", "stage": "patch", "text": "Fix the computation where the value is produced."}'
        issue = first.split("Issue:\n", 1)[1]  # this task's issue, not a recalled one further down
        record = next(r for line, r in by_text.items() if issue.startswith(line))
        turn = sum(m["role"] == "assistant" for m in messages)
        if "Stage 1 of 3" in first:
            return "```bash\nls\n```" if turn == 0 else "```done\nno reproduction needed\n```"
        if "Stage 2 of 3" in first:
            return ("```bash\ngit ls-files src\n```" if turn == 0 else
                    "```done\n" + "\n".join(_files(record["patch"])) + "\n```")
        if "fix attempt 2" in first:
            return "```bash\ngit status --short\n```" if turn == 0 else "```done\nnothing else\n```"
        if turn >= 2:
            return "```done\napplied\n```"
        if turn == 0:
            return f"```write /tmp/factory-repair/fix.patch\n{record['patch']}```"
        return "```bash\ngit apply /tmp/factory-repair/fix.patch && git status --short\n```"

    return reply


def test_split_train_evaluate_and_report_on_the_example(pipeline, docker_client, tmp_path, capsys) -> None:
    records = sorted(pipeline.records(), key=lambda r: r["created_at"])
    cutoff = datetime.fromisoformat(records[-1]["created_at"].replace("Z", "+00:00"))
    train_rows, test_rows = split(records, cutoff, tmp_path / "split")
    assert [r["instance_id"] for r in test_rows] == [records[-1]["instance_id"]] and len(train_rows) == 2
    manifest = json.loads((tmp_path / "split" / "split.json").read_text())
    assert manifest["test"] == [records[-1]["instance_id"]]

    config = RepairConfig(candidates=1)
    with ScriptedLLM(oracle(records)) as server, Store(tmp_path / "repair.duckdb") as store:
        llm = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        ctx = CycleContext(docker_client, llm, pipeline.settings, pipeline.store, tmp_path / "reports", config,
                           Budget(max_calls=30, max_usd=1.0, max_seconds=600))
        trained = train(ctx, train_rows, ExperienceMemory(store), "cycle-train", mode="both")
        assert [g.status for g in trained] == ["resolved", "resolved"]
        memory = ExperienceMemory(store, frozen=True)
        assert len(memory.cases(split="train")) == 2 and memory.insights("patch")
        train_requests = len(server.requests)

        results = evaluate_configs(ctx, test_rows, store, "cycle-eval", list(CONFIGS))
        table = rows(results, store)
        eval_requests = server.requests[train_requests:]

    assert set(results) == set(CONFIGS)
    assert all(g.status == "resolved" for graded in results.values() for g in graded)
    recalled = {name: sum(log.recalled for log in graded[0].attempt.stages) for name, graded in results.items()}
    assert recalled["none"] == 0 and all(recalled[n] > 0 for n in ("episodic", "semantic", "both", "random"))
    with Store(tmp_path / "repair.duckdb") as store:  # evaluation wrote nothing, and could not have
        assert len(ExperienceMemory(store).cases()) == 2
        with pytest.raises(FrozenMemory):
            ExperienceMemory(store, frozen=True).add_case(ExperienceMemory(store).cases()[0])

    test = test_rows[0]
    sent = "\n".join(m["content"] for r in eval_requests for m in r["messages"] if m["role"] != "assistant")
    hidden = [line[1:].strip() for text in (test["patch"], test["test_patch"]) for line in text.splitlines()
              if line[:1] == "+" and not line.startswith("+++") and len(line.strip()) > 12]
    sent_lines = {line.strip().lstrip("+-").strip() for line in sent.splitlines()}
    assert [line for line in hidden if line in sent_lines] == []  # whole lines: short ones are common code
    assert not any(t.rsplit("::", 1)[-1] in sent for t in test["FAIL_TO_PASS"] + test["PASS_TO_PASS"])
    assert test["problem_statement"].strip().splitlines()[0] in sent  # the scan looks at the right requests

    text = render(table)
    print(text)
    assert capsys.readouterr().out.count("\n") == len(CONFIGS) + 1
    by_name = {r.name: r for r in table}
    assert by_name["none"].p_vs_none is None and by_name["both"].p_vs_none == 1.0
    assert by_name["both"].calls > 0 and by_name["both"].resolved == 1
