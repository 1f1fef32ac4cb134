"""The repair agent end to end on an example instance: a scripted model behind the real ``openai`` client
(through agents.llm: ledger, budget), the agent in the instance's own container, the prediction graded by
our harness — and nothing hidden (test patch, hidden test ids, gold patch) in anything we sent the model.

The script misbehaves the way small models do: two actions in one reply, the same command three times, a
reply with no action, an edit whose SEARCH text is wrong; the agent must carry on regardless.
"""

from __future__ import annotations

import json

import pytest

from agents.llm import Budget, LLMClient, LLMSettings
from agents.repair.agent import RepairAgent
from agents.repair.config import RepairConfig
from agents.repair.records import Task
from factory.docker.runtime import Sandbox
from factory.docker.session import ContainerSession
from factory.grading.contract import TESTER
from factory.harness.evaluate import evaluate
from factory.harness.predictions import Prediction, Predictions
from factory.store import Store
from tests.llm_server import ScriptedLLM

INSTANCE = "acme__tinyledger-7"
REPRO = ("from tinyledger.ledger import Invoice\n"
         "bill = Invoice(discount=500)\n"
         "bill.add('pen', 300)\n"
         "assert bill.total() >= 0, bill.total()\n")
FIX = ("```edit src/tinyledger/ledger.py\n<<<<<<< SEARCH\n        return self.subtotal() - self.discount\n"
       "=======\n        return max(0, self.subtotal() - self.discount)\n>>>>>>> REPLACE\n```")
SCRIPT = {
    "Stage 1 of 3": [
        f"I'll write it and run it.\n```write /tmp/factory-repair/reproduce.py\n{REPRO}```\n"
        "```bash\npython /tmp/factory-repair/reproduce.py\n```",
        "```bash\npython /tmp/factory-repair/reproduce.py\n```",
        "```bash\npython /tmp/factory-repair/reproduce.py\n```",
        "```done\nA 500-cent discount on a 300-cent invoice gives a total of -200.\n```",
    ],
    "Stage 2 of 3": [
        "```write src/tinyledger/notes.py\n# what I found so far\n```",  # a stray file: no part of any candidate
        "```bash\ngrep -rn 'def total' src\n```",
        "```done\nsrc/tinyledger/ledger.py\nInvoice.total\n```",
    ],
    "Stage 3 of 3": [
        "The total should be clamped at zero, I think.",
        "```edit src/tinyledger/ledger.py\n<<<<<<< SEARCH\n        return self.total - self.discount\n=======\n"
        "        return 0\n>>>>>>> REPLACE\n```",
        FIX,
        "```bash\npython /tmp/factory-repair/reproduce.py\n```",
        "```done\nClamp the total at zero.\n```",
    ],
}


def scripted(messages: list[dict], _request: dict) -> str:
    """Answer by stage and by how many answers this conversation already holds; the second patch attempt
    (the work tree reset) ends at once, so it yields no candidate."""
    stage = next(key for key in SCRIPT if key in messages[1]["content"])
    turn = sum(m["role"] == "assistant" for m in messages)
    if stage == "Stage 3 of 3" and "fix attempt 2" in messages[1]["content"]:
        return "```bash\ngit status --short\n```" if turn == 0 else "```done\nnothing new to try\n```"
    return SCRIPT[stage][turn]


@pytest.fixture
def record(pipeline) -> dict:
    return next(r for r in pipeline.records() if r["instance_id"] == INSTANCE)


def test_the_agent_fixes_an_example_issue_and_the_harness_resolves_it(pipeline, record, docker_client, tmp_path):
    task = Task.from_record(record)
    with ScriptedLLM(scripted) as server, Store(tmp_path / "agent.duckdb") as store:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        session = client.session(INSTANCE, Budget(max_calls=40, max_usd=1.0, max_seconds=600))
        with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
            attempt = RepairAgent(session, box, config=RepairConfig(), model_name="test-model").run(task)
        requests = server.requests
        ledger = store.llm_totals()

    stages = {log.stage: log for log in attempt.stages}
    assert attempt.error == ""
    assert [log.ended for log in attempt.stages] == ["done", "done", "done", "done"]
    reproduce = stages["reproduce"]
    assert [t.action for t in reproduce.turns] == ["write", "bash", "repeat"]
    assert "Only the first of 2 action blocks was run" in reproduce.turns[0].observation
    assert attempt.reproduction == REPRO and attempt.reproduction_exit == 1
    assert "AssertionError: -200" in attempt.reproduction_output
    assert attempt.files == ["src/tinyledger/ledger.py"]
    patch_turns = [t.action for t in attempt.stages[2].turns]
    assert patch_turns == ["malformed", "edit", "edit", "bash"]
    assert "is unchanged: edit 1: the SEARCH text is not found" in attempt.stages[2].turns[1].observation
    assert len(attempt.candidates) == 1  # the second attempt changed nothing
    chosen = attempt.candidates[0]
    assert (chosen.reproduction_exit, chosen.tests_exit, chosen.score) == (0, 0, 3)
    assert "max(0, self.subtotal() - self.discount)" in attempt.submitted
    assert attempt.submitted.count("diff --git") == 1 and "notes.py" not in attempt.submitted
    assert ledger["calls"] == len(requests) == 4 + 3 + 5 + 2

    # nothing hidden reached the model: scan everything we sent (system and user messages) for the lines the
    # gold and test patches add (the lines they remove are in the repository at base_commit, no secret)
    sent = "\n".join(m["content"] for r in requests for m in r["messages"] if m["role"] != "assistant")
    hidden_lines = [line[1:].strip() for text in (record["patch"], record["test_patch"])
                    for line in text.splitlines() if line[:1] == "+" and not line.startswith("+++")]
    leaked = [line for line in hidden_lines if len(line) > 12 and line in sent]
    assert leaked == []
    assert not any(test_id in sent or test_id.rsplit("::", 1)[-1] in sent
                   for test_id in record["FAIL_TO_PASS"] + record["PASS_TO_PASS"])

    # replay: the same attempt again from the ledger alone, with no model server at all
    with Store(tmp_path / "agent.duckdb") as store:
        replayer = LLMClient(None, store, replay=True)
        with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
            again = RepairAgent(replayer.session(INSTANCE, Budget(max_calls=40)), box,
                                model_name="test-model").run(task)
        assert store.llm_totals()["replayed"] == len(requests)
    assert (again.error, again.submitted) == ("", attempt.submitted)

    # graded by the harness like any other prediction
    prediction = attempt.prediction()
    assert prediction["model_name_or_path"] == "factory-repair/test-model"
    preds = Predictions([Prediction(INSTANCE, prediction["model_name_or_path"], prediction["model_patch"])],
                        source="agent")
    report = evaluate(preds, [record], "agent-test", pipeline.store, pipeline.settings,
                      report_dir=tmp_path / "reports", reuse=False, client=docker_client)
    assert [r.status for r in report.results] == ["resolved"], [r.reason for r in report.results]
    json.dumps(attempt.model_dump())  # the whole record is plain data


def test_a_budget_stops_the_attempt_with_its_reason(pipeline, record, docker_client, tmp_path):
    with ScriptedLLM(scripted) as server, Store(tmp_path / "budget.duckdb") as store:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
            attempt = RepairAgent(client.session(INSTANCE, Budget(max_calls=3)), box,
                                  model_name="test-model").run(Task.from_record(record))
        assert len(server.requests) == 3
    assert attempt.error.startswith("budget:") and attempt.error.endswith("(in reproduce)")
    assert attempt.stages[0].ended == "budget" and len(attempt.stages[0].turns) == 3  # its turns are kept
    assert (attempt.submitted, attempt.reason) == ("", "no candidate patch")
    assert attempt.prediction()["model_patch"] == ""


def test_a_model_that_only_says_done_ends_every_stage_without_action(pipeline, record, docker_client, tmp_path):
    """What Qwen2.5-Coder-0.5B did at temperature 0: the same bare 'done' to every prompt. Each stage is
    refused an end without evidence, then ends as no_action; nothing is submitted."""
    with ScriptedLLM(lambda _messages, _request: "done\nThe problem is in the float conversion.") as server, \
            Store(tmp_path / "done.duckdb") as store:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
            attempt = RepairAgent(client.session(INSTANCE, Budget(max_calls=40)), box,
                                  model_name="test-model").run(Task.from_record(record))
        assert len(server.requests) == 4 * 3  # reproduce, localize, two patch attempts: three replies each
        assert "This stage has not run a single action yet" in server.requests[1]["messages"][-1]["content"]
    assert [log.ended for log in attempt.stages] == ["no_action"] * 4
    assert (attempt.submitted, attempt.files, attempt.error) == ("", [], "")
