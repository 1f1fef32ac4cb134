"""``factory repair split | train | eval | report`` as a user runs them, against a scripted model on
127.0.0.1 (FACTORY_LLM_* in the environment, the real ``openai`` client inside the CLI)."""

from __future__ import annotations

import json
import subprocess

from tests.integration.conftest import cli_env
from tests.integration.test_repair_cycle import oracle
from tests.llm_server import ScriptedLLM


def test_the_repair_commands_run_the_cycle_and_print_the_ablation(pipeline, factory_cmd, tmp_path) -> None:
    records = sorted(pipeline.records(), key=lambda r: r["created_at"])
    dataset = tmp_path / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in records))
    split_dir, db = tmp_path / "split", tmp_path / "repair.duckdb"
    cutoff = records[-1]["created_at"]
    with ScriptedLLM(oracle(records)) as server:
        env = cli_env(FACTORY_LLM_BASE_URL=server.url, FACTORY_LLM_MODEL="test-model")

        def factory(*args: str) -> str:
            done = subprocess.run([*factory_cmd, "repair", *args], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=900)
            assert done.returncode == 0, done.stdout + done.stderr
            return done.stdout

        said = factory("split", "--dataset", str(dataset), "--before", cutoff, "--out", str(split_dir))
        assert "train: 2 issue(s)" in said and "test: 1" in said
        common = ("--split", str(split_dir), "--db", str(db), "--candidates", "1")
        assert "trained on 2 issue(s): 2 resolved" in factory("train", *common)
        labels = [json.loads(line) for line in (split_dir / "labels.jsonl").read_text().splitlines()]
        assert labels and all(label["helped"] for label in labels)  # the second issue recalled the first
        assert json.loads((split_dir / "reranker.json").read_text())["weights"] is None  # too few labels yet
        table = factory("eval", *common, "--configs", "none,both", "--curve", "0,1")
    print(table)  # the ablation table, as the user sees it (pytest -s)
    assert table.splitlines()[0].split()[:3] == ["config", "resolved", "rate"]
    assert [line.split()[:2] for line in table.splitlines()[1:]] == [
        ["none", "1/1"], ["both", "1/1"], ["both-0", "1/1"], ["both-1", "1/1"]]
    done = subprocess.run([*factory_cmd, "repair", "report", "--split", str(split_dir), "--db", str(db), "--json"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = {row["name"]: row for row in json.loads(done.stdout)}
    assert report["both"]["resolved"] == 1 and report["both"]["calls"] > 0 and report["both"]["p_vs_none"] == 1.0
    saved = json.loads((split_dir / "eval-results.json").read_text())
    assert set(saved) == {"none", "both", "both-0", "both-1"} and saved["both"][0]["attempt"]["submitted"]
    recalled = {name: sum(s["recalled"] for s in rows[0]["attempt"]["stages"]) for name, rows in saved.items()}
    assert recalled["both-0"] < recalled["both-1"] <= recalled["both"]  # the curve's memory grows

    chats = tmp_path / "chats.jsonl"
    done = subprocess.run([*factory_cmd, "repair", "trajectories", "--split", str(split_dir), "--db", str(db),
                           "--out", str(chats)], cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in chats.read_text().splitlines()]
    assert {r["metadata"]["stage"] for r in rows} == {"reproduce", "localize", "patch"}
    assert len(rows) == 2 * 3  # two resolved train attempts, one conversation per stage (one candidate each)
    first = rows[0]["messages"]
    assert first[0]["role"] == "system" and first[-1]["role"] == "assistant" and "```" in first[-1]["content"]

    no_model = subprocess.run([*factory_cmd, "repair", "eval", *common], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120,
                              env={k: v for k, v in cli_env().items() if not k.startswith(("FACTORY_LLM", "OPENAI"))})
    assert no_model.returncode == 2 and "no model is configured" in no_model.stderr
