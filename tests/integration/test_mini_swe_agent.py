"""mini-swe-agent's real SWE-bench batch runner on our export, unchanged: its own ``swebench.yaml``, its own
Docker environment, our ``hf`` layout as ``--subset``; the model is a scripted OpenAI-compatible server
on 127.0.0.1 (``tests/llm_server.py``) that applies the gold patch and submits it the way the config asks.
Its ``preds.json`` must then grade resolved in ``factory eval``.

What it proves about the export and the image: rows load through ``datasets`` with a ``test`` split;
``image_name`` is the image it starts (else it would try ``docker.io/swebench/...``, unreachable here);
commands under ``BASH_ENV=/root/.bashrc`` print no "Permission denied" before the submit sentinel (it must be
the first line of the output); a login shell finds the venv's ``python``; root's ``git diff`` in the
test user's ``/testbed`` works (no "dubious ownership").
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest

from factory.pipeline.export import export_hf
from tests.llm_server import ScriptedLLM
from tests.swebench_tools import swebench_eval

MODEL = "openai/scripted"  # litellm's OpenAI provider: it sends model "scripted" to our api_base
SUBMIT = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT"


def _scripted_solver(records: list[dict]):
    """Per conversation (told apart by the problem statement mini-swe-agent puts in its first user message):
    1. show the login shell's python, apply the gold patch to the index and work tree, write the diff;
    2. submit it with the exact command swebench.yaml prescribes;
    3. (only when something failed) submit a note, so the test ends in seconds with the evidence."""
    by_problem = {r["problem_statement"]: r for r in records}
    assert len(by_problem) == len(records), "the scripted model tells instances apart by problem statement"

    def respond(messages: list[dict], body: dict) -> dict:
        task = next(m["content"] for m in messages if m.get("role") == "user")
        task = task if isinstance(task, str) else json.dumps(task)
        record = next(r for p, r in by_problem.items() if p in task)
        steps = sum(m.get("role") == "tool" for m in messages)
        if steps == 0:  # the index's stat data predate the image's chown: refresh it before --index
            gold = base64.b64encode(record["patch"].encode()).decode()
            command = (f"bash -lc 'command -v python' && echo {gold} | base64 -d > /tmp/gold.patch"
                       " && git update-index -q --refresh; git apply --index /tmp/gold.patch"
                       " && git diff --cached > patch.txt")
        elif steps == 1:
            command = f"echo {SUBMIT} && cat patch.txt"
        else:  # a failed step: end the run at once (a submission the test rejects) instead of 250 steps
            command = f"echo {SUBMIT}; echo 'scripted model: step {steps} means an earlier command failed'"
        return {"tool_call": {"name": "bash", "arguments": {"command": command}}}

    return respond


def _mini_containers(client: docker.DockerClient, images: set[str], since: float) -> list:
    """Containers mini-swe-agent started for this test: its name prefix, one of our images, created since."""
    found = []
    for c in client.api.containers(all=True, filters={"name": "minisweagent-"}):
        if c.get("Image") in images and c.get("Created", 0) >= int(since) - 1:
            found.append(c)
    return found


def test_mini_swe_agent_swebench_runner_on_the_hf_export_submits_gold_that_factory_eval_resolves(
    pipeline, run_factory, docker_client, tmp_path: Path
) -> None:
    records = pipeline.records()
    assert len(records) == 3
    subset = tmp_path / "dataset-hf"
    assert export_hf(pipeline.store, subset) == 3
    out = tmp_path / "mini"
    images = {r["image_name"] for r in records}
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MSWEA_", "ANTHROPIC_"))},
        "MSWEA_GLOBAL_CONFIG_DIR": str(tmp_path / "mswea-config"),  # not the developer's ~/.config
        "MSWEA_COST_TRACKING": "ignore_errors",  # the documented switch for a model litellm has no price for
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # litellm's bundled price list, not a download at import
        "HF_HOME": str(tmp_path / "hf-home"),
        "COLUMNS": "200",
    }
    started = time.time()
    with ScriptedLLM(_scripted_solver(records), models=("scripted",)) as llm:
        command = [
            str(Path(sys.executable).parent / "mini-extra"), "swebench",  # its CLI, as a user types it
            "--subset", str(subset), "--split", "test", "-o", str(out), "-w", "3", "--model", MODEL,
            "-c", "swebench.yaml",
            "-c", f"model.model_kwargs.api_base={llm.url}", "-c", "model.model_kwargs.api_key=scripted-key",
        ]
        try:
            done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        finally:
            for c in _mini_containers(docker_client, images, started):  # only what this run started
                with contextlib.suppress(docker.errors.NotFound):
                    docker_client.api.remove_container(c["Id"], force=True)
        requests = llm.requests
    log = (out / "minisweagent.log").read_text() if (out / "minisweagent.log").exists() else ""
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:] + log[-3000:]
    assert len(requests) == 6, log[-3000:]  # two turns per instance, nothing retried

    observations = [m["content"] for r in requests for m in r["messages"] if m.get("role") == "tool"]
    assert observations and not any("Permission denied" in str(o) for o in observations), observations
    assert all("/opt/venv/bin/python" in str(o) for o in observations), observations  # bash -lc keeps the venv

    preds = json.loads((out / "preds.json").read_text())
    assert sorted(preds) == sorted(r["instance_id"] for r in records)
    for record in records:
        iid = record["instance_id"]
        traj = json.loads((out / iid / f"{iid}.traj.json").read_text())
        assert traj["info"]["exit_status"] == "Submitted", traj["info"]
        assert traj["info"]["config"]["environment"]["image"] == record["image"]
        assert preds[iid]["model_name_or_path"] == MODEL and preds[iid]["model_patch"].strip(), preds[iid]

    graded = run_factory("eval", "--predictions", str(out / "preds.json"), "--run-id", "mini-swe",
                         "--dataset", str(pipeline.export_path), "--db", str(tmp_path / "eval.duckdb"),
                         "--report-dir", "reports", "--workers", "3")
    assert graded.returncode == 0, graded.output
    assert f"{MODEL}: 3/3 resolved" in graded.stdout, graded.output
    summary = json.loads((tmp_path / "reports" / "openai__scripted.mini-swe.json").read_text())
    assert summary["resolved_ids"] == sorted(preds)
    swebench_dir = tmp_path / "swebench"  # the same preds.json, graded by SWE-bench's own harness
    swebench_dir.mkdir()
    theirs, printed, _ = swebench_eval(pipeline.export_path, str(out / "preds.json"), "mini-sb", swebench_dir,
                                       model=MODEL)
    assert sorted(theirs["resolved_ids"]) == sorted(preds), printed[-3000:]


@pytest.mark.parametrize("shell", [["bash", "-lc"], ["bash", "-c"]])
def test_the_instance_image_keeps_the_venv_and_root_start_up_files_in_every_shell(
    pipeline, docker_client, shell
) -> None:
    """The container's default user is root, so ``BASH_ENV=/root/.bashrc`` reads; both shells mini-swe-agent
    uses find the venv's ``python`` first; the PATH file is root's and read-only to the test user."""
    image = pipeline.records()[0]["image_name"]
    assert docker_client.images.get(image).attrs["Config"].get("User", "") in ("", "root", "0")
    script = ("command -v python; python -c 'import sys; print(sys.prefix)';"
              " stat -c '%U %a' /etc/profile.d/issue-factory-path.sh")
    output = docker_client.containers.run(
        image, [*shell, script], environment={"BASH_ENV": "/root/.bashrc"}, network_disabled=True, remove=True,
        labels={"issue-factory": "1"}, stderr=True,
    ).decode()
    assert output.splitlines() == ["/opt/venv/bin/python", "/opt/venv", "root 644"], output
