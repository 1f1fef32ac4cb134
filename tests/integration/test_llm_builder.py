"""The LLM builder end to end: real Docker, the real ``openai`` client, a scripted model on 127.0.0.1.

``examples/weatherlib`` needs what no heuristic guesses (jq, ``WEATHERLIB_DATA``, a requirements file
under ``ci/deps``); ``weatherlib.scripted_reply`` answers each builder role like a capable model would.
The expensive part — mine weatherlib, build its first instance with the model and its second with the
memory pool, plus one heuristic-only build — happens once in the module fixture ``weather``; every
other test builds one instance on a fresh DB. Env and instance images are tagged by content hash, so
they are built once per machine and reused by every test (and every rerun).
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from agents.llm import Budget, LLMClient, LLMSettings, LLMUnavailable
from examples import weatherlib
from factory.core.errors import UserError
from factory.core.models import Instance, Status
from factory.core.settings import BuildSettings, Settings
from factory.mining.git_source import mine_git
from factory.pipeline.build import build_pending
from factory.store import Store
from memory_pool.environment import EnvironmentPool, MemoryEntry
from tests.integration.conftest import CliResult, cli_env
from tests.llm_server import ScriptedLLM

MODEL = "test-model"
CANARY = "sk-canary-987"
ROLES = ("explorer", "environment_manager", "test_manager")
PROSE = "Sure! I would install jq, point WEATHERLIB_DATA at the test data and install the CI requirements."


# ---- helpers ----------------------------------------------------------------------------------------


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def by_date(store: Store) -> list[str]:
    return sorted(store.instance_ids(), key=lambda i: store.candidate(i).created_at)


def fresh_db(root: Path, repo: Path, **settings: object) -> tuple[Settings, list[str]]:
    """A new DB with weatherlib mined into it; its instance ids, oldest first."""
    s = Settings(db_path=root / "factory.duckdb", home=root / "home", **settings)
    with Store(s.db_path) as store:
        mine_git(str(repo), store, s)
        return s, by_date(store)


def built_with(responder, root: Path, repo: Path, **build: object):
    """The first weatherlib candidate built with ``responder`` as the model: (instance, its LLM calls, attempts)."""
    settings, (first, _) = fresh_db(root, repo)
    settings = settings.model_copy(update={"build": settings.build.model_copy(update=build)})
    with Store(settings.db_path) as store, ScriptedLLM(responder, models=(MODEL,)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        build_pending(store, settings, only=[first], llm=client, budget=Budget())
        return store.instance(first), store.llm_calls(first), store.attempts(first)


def task_of(messages: list[dict]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


def llm_free_env(**extra: str) -> dict[str, str]:
    """The CLI environment without any model configured (no FACTORY_LLM_* / OPENAI_*), plus ``extra``."""
    env = {k: v for k, v in cli_env().items() if not k.startswith(("FACTORY_LLM_", "OPENAI_"))}
    env.update(extra)
    return env


def run_cli(factory_cmd: list[str], cwd: Path, env: dict[str, str], *args: str) -> CliResult:
    done = subprocess.run([*factory_cmd, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    return CliResult(done.returncode, done.stdout, done.stderr)


def copy_db(src: Path, dst: Path) -> Path:
    """Copy a closed DuckDB file (and its WAL, if any) so a test can change it freely."""
    shutil.copy(src, dst)
    wal = src.with_name(src.name + ".wal")
    if wal.exists():
        shutil.copy(wal, dst.with_name(dst.name + ".wal"))
    return dst


def error_lines(result: CliResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


# ---- the shared run ---------------------------------------------------------------------------------


@dataclass
class WeatherRun:
    root: Path
    repo: Path
    settings: Settings
    first: str
    second: str
    heuristic_only: Instance
    """The first instance built on a fresh DB with no model and no memory."""
    requests_first: int
    """Chat requests the server received while the first instance was built."""
    requests_second: int
    """… and while the second one was built (the model was still reachable)."""
    pool_after_first: list[MemoryEntry] = field(default_factory=list)

    def store(self) -> Store:
        return Store(self.settings.db_path)


@pytest.fixture(scope="module")
def weather(tmp_path_factory: pytest.TempPathFactory, docker_client) -> Iterator[WeatherRun]:
    root = tmp_path_factory.mktemp("weather")
    repo = weatherlib.create(root / "weatherlib")

    heuristic_settings, (first, second) = fresh_db(root / "heuristic", repo, build=BuildSettings(memory=False))
    with Store(heuristic_settings.db_path) as store:
        build_pending(store, heuristic_settings, only=[first], llm=None)
        heuristic_only = store.instance(first)

    settings, ids = fresh_db(root / "llm", repo)
    assert ids == [first, second], "mining the same repository twice must give the same instance ids"
    with Store(settings.db_path) as store, ScriptedLLM(weatherlib.scripted_reply, models=(MODEL,)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        build_pending(store, settings, only=[first], llm=client, budget=Budget())
        requests_first = len(server.requests)
        pool_after_first = EnvironmentPool(store).entries()
        build_pending(store, settings, only=[second], llm=client, budget=Budget())
        requests_second = len(server.requests) - requests_first
    yield WeatherRun(root, repo, settings, first, second, heuristic_only, requests_first, requests_second,
                     pool_after_first)


# ---- 1. the scenario --------------------------------------------------------------------------------


def test_heuristics_alone_cannot_validate_weatherlib(weather: WeatherRun):
    inst = weather.heuristic_only
    assert inst.status is not Status.VALID, inst
    # every target test errors on ``import humanize``: a verdict resting on the environment is no rejection
    assert (inst.status, inst.reason) == (Status.BUILD_FAILED, "env_broken"), inst
    assert "humanize" in inst.detail and "rejected(fail2fail)" in inst.detail, inst.detail
    assert inst.builder == "heuristic"


def test_the_scripted_model_makes_the_first_instance_valid(weather: WeatherRun):
    with weather.store() as store:
        inst = store.instance(weather.first)
        assert inst.status is Status.VALID, f"{inst.status} {inst.reason}: {inst.detail}"
        assert inst.builder == f"llm:{MODEL}"
        assert inst.fail_to_pass, inst
        env = store.environment(inst.fingerprint)
    assert env is not None and env.status == "built"
    assert env.builder == f"llm:{MODEL}"
    # Everything the heuristics could not guess reached the stored recipe.
    assert "jq" in env.dockerfile, env.dockerfile
    assert weatherlib.NEEDS["requirements_file"] in env.dockerfile, env.dockerfile
    assert any(weatherlib.NEEDS["requirements_file"] in c for c in env.install_commands), env.install_commands
    assert "export WEATHERLIB_DATA=" in inst.eval_script, inst.eval_script
    assert weatherlib.NEEDS["test_env"]["WEATHERLIB_DATA"] in inst.eval_script


def test_the_ledger_holds_every_role_with_tokens(weather: WeatherRun):
    with weather.store() as store:
        rows = store.llm_calls(weather.first)
        totals = store.llm_totals(weather.first)
        attempts = store.attempts(weather.first)
    assert len(rows) == weather.requests_first == totals["calls"] > 0
    assert {r["status"] for r in rows} == {"ok"}
    for role in ROLES:
        mine = [r for r in rows if r["role"] == role]
        assert mine, f"no ledger row for role {role}: {[r['role'] for r in rows]}"
        assert all(r["tokens_in"] > 0 and r["tokens_out"] > 0 for r in mine), mine
        assert all(r["model"] == MODEL and r["request_sha"] and r["response"] for r in mine)
    assert totals["tokens_in"] == sum(r["tokens_in"] for r in rows) > 0
    assert totals["tokens_out"] == sum(r["tokens_out"] for r in rows) > 0
    # The builder's own attempt log says which LLM round did what, with the tokens it spent.
    llm_attempts = [a for a in attempts if a.action.startswith("llm round")]
    assert {a.role for a in llm_attempts} >= set(ROLES)
    assert sum(a.tokens for a in llm_attempts) == totals["tokens_in"] + totals["tokens_out"]


def test_the_proven_recipe_enters_the_memory_pool(weather: WeatherRun):
    assert len(weather.pool_after_first) == 1, weather.pool_after_first
    entry = weather.pool_after_first[0]
    assert entry.provenance == [weather.first]
    assert entry.builder == f"llm:{MODEL}"
    assert entry.repo == weatherlib.SLUG and entry.successes == 1 and entry.failures == 0
    assert "jq" in entry.recipe.system_packages
    assert entry.recipe.test_env == weatherlib.NEEDS["test_env"]


def test_the_second_instance_validates_from_memory_with_zero_llm_calls(weather: WeatherRun):
    assert weather.requests_second == 0
    with weather.store() as store:
        inst = store.instance(weather.second)
        assert inst.status is Status.VALID, f"{inst.status} {inst.reason}: {inst.detail}"
        assert inst.builder == "memory"
        assert store.llm_calls(weather.second) == []
        env = store.environment(inst.fingerprint)
        entries = EnvironmentPool(store).entries()
    assert env is not None and "jq" in env.dockerfile
    assert "export WEATHERLIB_DATA=" in inst.eval_script
    assert len(entries) == 1
    assert entries[0].provenance == [weather.first, weather.second]
    assert entries[0].builder == f"llm:{MODEL}" and entries[0].successes == 2


# ---- 2. endpoint down -------------------------------------------------------------------------------


def test_an_unreachable_endpoint_is_a_user_error_naming_the_url(weather: WeatherRun, tmp_path: Path):
    settings, (first, _) = fresh_db(tmp_path, weather.repo)
    url = f"http://127.0.0.1:{closed_port()}/v1"
    sleeps: list[float] = []
    with Store(settings.db_path) as store:
        client = LLMClient(LLMSettings(base_url=url, model=MODEL), store, sleep=sleeps.append)
        with pytest.raises(LLMUnavailable) as caught:
            build_pending(store, settings, only=[first], llm=client, budget=Budget())
        assert isinstance(caught.value, UserError)
        assert url in caught.value.what
        assert len(sleeps) == client.settings.max_retries  # it retried with backoff before giving up
        errors = [r for r in store.llm_calls(first) if r["status"] == "error"]
        assert errors and url in errors[0]["error"]
        assert len(store.candidates()) == 2


def test_cli_with_an_unreachable_endpoint_exits_2_and_keeps_the_candidates(
    weather: WeatherRun, tmp_path: Path, factory_cmd: list[str]
):
    db, home = tmp_path / "f.duckdb", tmp_path / "home"
    env = llm_free_env()
    mined = run_cli(factory_cmd, tmp_path, env, "mine", "--git", str(weather.repo), "--db", str(db),
                    "--home", str(home), "--json")
    assert mined.returncode == 0, mined.output
    added = set(json.loads(mined.stdout)["added"])
    assert len(added) == 2

    url = f"http://127.0.0.1:{closed_port()}/v1"
    env = llm_free_env(FACTORY_LLM_BASE_URL=url, FACTORY_LLM_MODEL=MODEL)
    done = run_cli(factory_cmd, tmp_path, env, "build", "--llm", "--db", str(db), "--home", str(home))
    assert done.returncode == 2, done.output
    assert "Traceback" not in done.output
    lines = error_lines(done)
    assert len(lines) == 1 and url in lines[0], done.stderr
    assert "fix:" in done.stderr
    with Store(db) as store:
        assert store.instance_ids() == added
        assert {c.instance_id for c in store.candidates()} == added


# ---- 3. malformed model output ----------------------------------------------------------------------


def test_prose_once_then_json_still_validates(weather: WeatherRun, tmp_path: Path):
    prose_left = [1]

    def responder(messages: list[dict], request: dict) -> str:
        if "You are the environment manager" in task_of(messages) and prose_left[0]:
            prose_left[0] -= 1
            return PROSE
        return weatherlib.scripted_reply(messages, request)

    settings, (first, _) = fresh_db(tmp_path, weather.repo)
    with Store(settings.db_path) as store, ScriptedLLM(responder, models=(MODEL,)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        build_pending(store, settings, only=[first], llm=client, budget=Budget())
        inst = store.instance(first)
        rows = store.llm_calls(first)
    assert prose_left == [0], "the responder never saw the environment manager"
    assert inst.status is Status.VALID, f"{inst.status} {inst.reason}: {inst.detail}"
    assert inst.builder == f"llm:{MODEL}"
    env_rows = [r for r in rows if r["role"] == "environment_manager"]
    assert len(env_rows) == 2, [r["role"] for r in rows]
    retry = json.loads(env_rows[1]["request"])["messages"]
    assert retry[-2] == {"role": "assistant", "content": PROSE}  # the prose was shown back to the model


def test_prose_forever_ends_not_valid_with_the_reason(weather: WeatherRun, tmp_path: Path):
    def responder(messages: list[dict], request: dict) -> str:
        if "You are the environment manager" in task_of(messages):
            return PROSE
        return weatherlib.scripted_reply(messages, request)

    settings, (first, _) = fresh_db(tmp_path, weather.repo)
    with Store(settings.db_path) as store, ScriptedLLM(responder, models=(MODEL,)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        build_pending(store, settings, only=[first], llm=client, budget=Budget())
        inst = store.instance(first)
        rows = store.llm_calls(first)
        attempts = store.attempts(first)
        pool = EnvironmentPool(store).entries()
    assert inst.status is not Status.VALID
    assert "LLM stopped" in inst.detail and "environment_manager" in inst.detail, inst.detail
    assert "no valid EnvProposal after 3 replies" in inst.detail, inst.detail
    assert "no JSON object" in inst.detail, inst.detail
    env_rows = [r for r in rows if r["role"] == "environment_manager"]
    assert len(env_rows) == 3 and {r["status"] for r in env_rows} == {"ok"}  # first reply + 2 retries
    assert [a.outcome for a in attempts if a.action == "llm output"] == ["malformed"]
    assert pool == []  # nothing unproven is remembered
    last_retry = json.loads(env_rows[2]["request"])["messages"][-1]["content"]
    assert "identical to your previous one" in last_retry  # the repeated prose was named as a repeat
    first_retry = json.loads(env_rows[1]["request"])["messages"][-1]["content"]
    assert "identical to your previous one" not in first_retry


def test_a_model_repeating_an_already_run_recipe_ends_the_rounds_with_the_reason(weather: WeatherRun, tmp_path: Path):
    """What a small real model does: hand back the recipe it was shown, round after round. The first
    repeat is answered (change something concrete); the second ends the rounds, instead of spending every
    round and call on builds that were already run."""
    def responder(messages: list[dict], request: dict) -> str:
        task = task_of(messages)
        if "You are the environment manager" in task:
            return re.search(r"Current recipe:\n(\{.*?\n\})", task, re.S).group(1)
        if "You are the test manager" in task:
            return "{}"
        return weatherlib.scripted_reply(messages, request)

    inst, rows, attempts = built_with(responder, tmp_path, weather.repo, llm_rounds=5)
    assert inst.status is not Status.VALID
    assert "LLM stopped: 2 recipes in a row identical to builds already run" in inst.detail, inst.detail
    assert [r["role"] for r in rows].count("environment_manager") == 2, [r["role"] for r in rows]
    assert [a.detail for a in attempts if a.action == "llm repeats"] == ["2 identical recipes in a row"]


# ---- 4. budget exhausted ----------------------------------------------------------------------------


def test_an_exhausted_budget_stops_the_llm_with_the_reason(weather: WeatherRun, tmp_path: Path):
    settings, (first, _) = fresh_db(tmp_path, weather.repo)
    with Store(settings.db_path) as store, ScriptedLLM(weatherlib.scripted_reply, models=(MODEL,)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        build_pending(store, settings, only=[first], llm=client, budget=Budget(max_calls=2))
        inst = store.instance(first)
        rows = store.llm_calls(first)
        attempts = store.attempts(first)
        sent = len(server.requests)
    assert inst.status is not Status.VALID
    assert "budget max_calls" in inst.detail, inst.detail
    assert 0 < sent <= 2
    assert len(rows) == sent
    assert [a.detail for a in attempts if a.action == "llm budget"] == ["max_calls"]


# ---- 5. replay --------------------------------------------------------------------------------------


def test_replay_reproduces_the_verdict_without_a_model_and_names_a_missing_role(
    weather: WeatherRun, tmp_path: Path, factory_cmd: list[str]
):
    db = copy_db(weather.settings.db_path, tmp_path / "replay.duckdb")
    with Store(db) as store:
        recorded_ok = len([r for r in store.llm_calls(weather.first) if r["status"] == "ok"])
    assert recorded_ok == weather.requests_first > 0
    env = llm_free_env()
    args = ("build", "--rebuild", "--replay", "--instance", weather.first, "--no-memory",
            "--db", str(db), "--home", str(tmp_path / "home"))

    done = run_cli(factory_cmd, tmp_path, env, *args)
    assert done.returncode == 0, done.output
    with Store(db) as store:
        inst = store.instance(weather.first)
        rows = store.llm_calls(weather.first)
    assert inst.status is Status.VALID, f"{inst.status} {inst.reason}: {inst.detail}"
    assert inst.builder == f"llm:{MODEL}"
    replayed = [r for r in rows if r["status"] == "replayed"]
    assert len(replayed) == recorded_ok
    assert {r["role"] for r in replayed} >= set(ROLES)
    assert len([r for r in rows if r["status"] == "ok"]) == recorded_ok  # nothing new was asked of a model

    # A changed prompt is a request that was never recorded: simulate by forgetting the test manager.
    con = duckdb.connect(str(db))
    try:
        deleted = con.execute("DELETE FROM llm_calls WHERE role = 'test_manager' RETURNING id").fetchall()
    finally:
        con.close()
    assert deleted
    missed = run_cli(factory_cmd, tmp_path, env, *args)
    assert missed.returncode == 2, missed.output
    assert "Traceback" not in missed.output
    lines = error_lines(missed)
    assert len(lines) == 1 and "test_manager" in lines[0] and "--replay" in lines[0], missed.stderr


# ---- 6. the API key never lands anywhere ------------------------------------------------------------


def test_the_api_key_appears_in_no_file(weather: WeatherRun, tmp_path: Path, factory_cmd: list[str]):
    db, home, dataset = tmp_path / "f.duckdb", tmp_path / "home", tmp_path / "dataset.all-instances.jsonl"
    env = llm_free_env()
    mined = run_cli(factory_cmd, tmp_path, env, "mine", "--git", str(weather.repo), "--db", str(db),
                    "--home", str(home))
    assert mined.returncode == 0, mined.output
    with ScriptedLLM(weatherlib.scripted_reply, models=(MODEL,), api_key=CANARY) as server:
        env = llm_free_env(FACTORY_LLM_BASE_URL=server.url, FACTORY_LLM_MODEL=MODEL, FACTORY_LLM_API_KEY=CANARY)
        done = run_cli(factory_cmd, tmp_path, env, "build", "--llm", "--db", str(db), "--home", str(home))
        headers = list(server.headers)
    assert done.returncode == 0, done.output
    assert headers and all(h.get("authorization") == f"Bearer {CANARY}" for h in headers)  # the key was used
    exported = run_cli(factory_cmd, tmp_path, env, "export", "--out", str(dataset), "--format", "instances",
                       "--db", str(db))
    assert exported.returncode == 0, exported.output
    with Store(db) as store:
        assert store.llm_calls(), "no ledger rows: the scan below would prove nothing"
        assert {i.status for i in store.instances()} == {Status.VALID}

    files = [db, dataset, *(p for p in home.rglob("*") if p.is_file())]
    files += [p for p in tmp_path.glob("f.duckdb*") if p != db]
    assert any(p.is_relative_to(home / "runs") for p in files), "no run logs were written"
    leaks = [str(p) for p in files if CANARY.encode() in p.read_bytes()]
    assert leaks == [], f"the API key leaked into {leaks}"
    assert CANARY not in done.output + exported.output
