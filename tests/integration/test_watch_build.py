"""Watching a real ``factory build`` (issue 16): ``factory status --json`` answers while the build runs, the
build's plain output counts every instance, an empty store says how to mine, and the LLM builder stays off
unless asked for.

Every command is the real CLI in a subprocess on the built-in example (its instances take several seconds
to build and validate on the shared engine), with its own --db/--home in tmp_path.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

from examples import tinyledger
from factory.store import Store

#: The acceptance criterion itself: a status call that takes longer than this fails the test.
STATUS_SECONDS = 2.0


def test_status_answers_while_a_build_runs(run_factory, spawn_factory, tmp_path):
    repo = tinyledger.create(tmp_path / "tinyledger")
    where = ("--db", str(tmp_path / "f.duckdb"), "--home", str(tmp_path / "home"))
    mined = run_factory("mine", "--git", str(repo), *where, "--json")
    assert mined.returncode == 0, mined.output
    added = sorted(json.loads(mined.stdout)["added"])
    assert len(added) == 7

    log = tmp_path / "build.log"
    build = spawn_factory(log, "build", "--workers", "1", "--no-memory", *where)
    # The build is running once its flow has planned the work (before that it is starting Prefect up).
    while build.poll() is None and "candidate(s)" not in log.read_text():
        time.sleep(0.2)
    answers: list[dict] = []
    while build.poll() is None:
        try:
            status = run_factory("status", "--json", "--db", str(tmp_path / "f.duckdb"), timeout=STATUS_SECONDS)
        except subprocess.TimeoutExpired:
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            raise AssertionError(f"`factory status --json` took over {STATUS_SECONDS}s while the build ran (after "
                                 f"{len(answers)} answer(s) in time; load average {load} on {os.cpu_count()} "
                                 f"CPUs); build output so far:\n{log.read_text()}") from None
        assert status.returncode == 0, status.output
        payload = json.loads(status.stdout)
        counts = payload["counts"]
        assert payload["total"] == len(added)
        finished = counts["valid"] + counts["build_failed"] + sum(counts["rejected"].values()) + sum(
            counts["error"].values())
        assert finished + counts["pending"] == len(added)
        assert set(payload["in_progress"]) <= set(added)
        answers.append(payload)
        time.sleep(0.5)  # a user watching, not a busy loop taking a core from the build it watches
    output = log.read_text()
    assert build.returncode == 0, output

    # Answers came while work was going on, and watched it move forward.
    assert any(a["in_progress"] for a in answers), (answers, output)
    done_counts = [len(added) - a["counts"]["pending"] for a in answers]
    assert done_counts == sorted(done_counts)
    assert done_counts[0] < len(added)

    # The final answer agrees with the store, and the build's plain lines count every instance once.
    final = json.loads(run_factory("status", "--json", "--db", str(tmp_path / "f.duckdb")).stdout)
    assert final["in_progress"] == [] and final["counts"]["pending"] == 0
    with Store(tmp_path / "f.duckdb", read_only=True) as store:
        assert final["counts"] == store.counts()
    lines = re.findall(r"^\[(\d+)/(\d+)\] (\S+): (\S+)$", output, flags=re.MULTILINE)
    assert {total for _n, total, _iid, _outcome in lines} == {str(len(added))}, output
    assert sorted({iid for _n, _t, iid, _o in lines}) == added
    assert max(int(n) for n, *_ in lines) == len(added)
    assert "7 candidate(s)" in output


def test_build_of_an_empty_store_says_how_to_mine_and_a_model_in_the_environment_stays_unused(run_factory,
                                                                                              tmp_path):
    where = ("--db", str(tmp_path / "f.duckdb"), "--home", str(tmp_path / "home"))
    cloud = {"OPENAI_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-canary-16", "OPENAI_BASE_URL": "https://127.0.0.1:9/v1"}
    done = run_factory("build", *where, env=cloud)
    assert done.returncode == 0, done.output
    assert "no candidates" in done.stdout and "factory mine --git" in done.stdout
    assert "already built" not in done.stdout
    assert "LLM builder" not in done.output  # OPENAI_MODEL alone does not turn it on

    asked = run_factory("build", "--llm", "--max-llm-usd", "0.05", *where, env=cloud)
    assert asked.returncode == 0, asked.output
    first = asked.stderr.splitlines()[0]
    assert first.startswith("LLM builder on: model gpt-4o-mini at 127.0.0.1:9;"), asked.stderr
    assert "$0.05" in first and "sk-canary" not in asked.output

    unset = run_factory("build", "--llm", *where, env={"FACTORY_LLM_MODEL": "", "OPENAI_MODEL": ""})
    assert unset.returncode == 2 and "no model is configured" in unset.stderr, unset.output
