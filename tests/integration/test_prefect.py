"""The Prefect side, for real: a Prefect server on 127.0.0.1 (session fixture), ``factory serve`` as a
runner, ``factory deploy`` + a process worker, and the build flow's parallelism.

What must hold: the deployments carry the schedules of factory.toml; triggering the pipeline deployment
makes the runner mine, build, validate and export the example exactly like the direct run; a worker
picks up a deployment run from its pool; and 1 worker exports exactly what 2 workers export.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
from prefect.deployments import run_deployment

from examples import tinyledger
from factory.core.models import Status
from factory.core.settings import BuildSettings
from factory.mining.git_source import mine_git
from factory.pipeline.export import export_jsonl
from factory.store import Store
from tests.integration.conftest import cli_env

STAGES = {"mine", "build", "validate", "export", "pipeline"}


def _write_project(root: Path, name: str, **extra: str) -> Path:
    lines = [f'name = "{name}"', 'db = "data/factory.duckdb"', 'home = "data/home"', "db_lock_wait = 60", "",
             "[[sources]]", 'example = "tinyledger"', "", "[build]", "workers = 2", "retry_delay = 1", "",
             "[export]", 'out = "out/dataset.jsonl"', "", "[schedules]",
             *(f'{k} = "{v}"' for k, v in extra.items())]
    path = root / "factory.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


async def _deployments(name: str) -> dict[str, object]:
    async with get_client() as client:
        wanted = DeploymentFilter(name=DeploymentFilterName(any_=[name]))
        found = await client.read_deployments(deployment_filter=wanted)
        flows = {f.id: f.name for f in await client.read_flows()}
    return {flows[d.flow_id]: d for d in found}


def _wait_for_deployments(name: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"factory serve exited early:\n{log.read_text()[-3000:]}"
        found = asyncio.run(_deployments(name))
        if set(found) == STAGES:
            return found
        time.sleep(1)
    raise AssertionError(f"deployments of {name} did not appear:\n{log.read_text()[-3000:]}")


def _records_without_source(path: Path) -> list[dict]:
    """Exported records minus ``source`` (the example repository's path, which differs between runs)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for r in records:
        r.pop("source")
    return records


def test_one_worker_exports_exactly_what_two_workers_export(pipeline, tmp_path):
    from flows.build import build_flow

    db, home = tmp_path / "one.duckdb", tmp_path / "home"
    with Store(db) as store:
        mine_git(str(pipeline.repo), store, pipeline.settings.model_copy(update={"db_path": db, "home": home}))
    result = build_flow(options=BuildSettings(workers=1), db=str(db), home=str(home), db_lock_wait=0)
    assert sorted(result["outcomes"]) == sorted(pipeline.outcomes)
    out = tmp_path / "one.jsonl"
    with Store(db) as store:
        assert export_jsonl(store, out) == 3
    assert out.read_bytes() == pipeline.export_path.read_bytes()


def test_serve_schedules_the_deployments_and_runs_the_pipeline_deployment(pipeline, tmp_path, factory_cmd):
    config = _write_project(tmp_path, "served", mine="5 1 * * *", timezone="Europe/Berlin")
    log = tmp_path / "serve.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*factory_cmd, "serve", "--config", str(config)], cwd=tmp_path, env=cli_env(),
                                stdout=fh, stderr=subprocess.STDOUT)
    try:
        found = _wait_for_deployments("served", proc, log)
        crons = {stage: [(s.schedule.cron, s.schedule.timezone) for s in d.schedules] for stage, d in found.items()}
        assert crons == {
            "mine": [("5 1 * * *", "Europe/Berlin")], "build": [("15 * * * *", "Europe/Berlin")],
            "validate": [("45 * * * *", "Europe/Berlin")], "export": [("0 6 * * *", "Europe/Berlin")],
            "pipeline": [],
        }
        for stage, d in found.items():
            assert d.parameters == {"config": str(config)}, stage
            assert d.entrypoint.startswith("flows."), d.entrypoint
            assert d.global_concurrency_limit is not None and d.global_concurrency_limit.limit == 1

        run = run_deployment("pipeline/served", timeout=900)
        assert run.state.is_completed(), f"{run.state}\n{log.read_text()[-4000:]}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    log_text = log.read_text()
    assert "Task run 'build acme__tinyledger-12'" in log_text  # instance ids name the task runs
    with Store(tmp_path / "data" / "factory.duckdb", read_only=True) as store:
        counts = store.counts()
        statuses = {i.instance_id: i.status for i in store.instances()}
    assert counts["valid"] == 3 and counts["pending"] == 0, counts
    assert statuses == {i.instance_id: i.status for i in pipeline.store.instances()}
    exported = tmp_path / "out" / "dataset.jsonl"
    assert _records_without_source(exported) == _records_without_source(pipeline.export_path)


def test_deploy_registers_with_a_work_pool_and_a_worker_runs_a_deployment(tmp_path, factory_cmd):
    from prefect.client.schemas.actions import WorkPoolCreate

    async def create_pool() -> None:
        async with get_client() as client:
            await client.create_work_pool(WorkPoolCreate(name="factory-test", type="process"), overwrite=True)

    asyncio.run(create_pool())
    config = _write_project(tmp_path, "pooled")
    done = subprocess.run([*factory_cmd, "deploy", "--pool", "factory-test", "--config", str(config)], cwd=tmp_path,
                          env=cli_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deployed mine/pooled" in done.stdout
    found = asyncio.run(_deployments("pooled"))
    assert set(found) == STAGES
    assert {d.work_pool_name for d in found.values()} == {"factory-test"}
    assert [s.schedule.cron for s in found["build"].schedules] == ["15 * * * *"]

    run = run_deployment("mine/pooled", timeout=0)  # scheduled now; the worker below picks it up
    prefect = Path(sys.executable).parent / "prefect"
    worker = subprocess.run([str(prefect), "worker", "start", "--pool", "factory-test", "--run-once"],
                            cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    assert worker.returncode == 0, worker.stdout + worker.stderr

    async def final_state():
        async with get_client() as client:
            return (await client.read_flow_run(run.id)).state

    state = asyncio.run(final_state())
    assert state.is_completed(), f"{state}\n{worker.stdout[-3000:]}{worker.stderr[-3000:]}"
    with Store(tmp_path / "data" / "factory.duckdb", read_only=True) as store:
        assert len(store.candidates(tinyledger.SLUG)) == 7
        assert all(i.status is Status.MINED for i in store.instances())


def test_a_failing_source_does_not_stop_the_others_and_fails_the_mine_flow_clearly(tmp_path, run_factory):
    config = tmp_path / "factory.toml"
    config.write_text('db = "f.duckdb"\nhome = "h"\n[[sources]]\ngit = "/nonexistent/repo"\n'
                      '[[sources]]\nexample = "tinyledger"\n')
    done = run_factory("mine", "--config", str(config), timeout=300)
    assert done.returncode == 2, done.output
    assert "/nonexistent/repo" in done.stderr and "fix:" in done.stderr
    assert "Traceback" not in done.output
    with Store(tmp_path / "f.duckdb", read_only=True) as store:
        assert len(store.candidates(tinyledger.SLUG)) == 7


@pytest.mark.parametrize("bad", ['[build]\nwokers = 2\n', '[[sources]]\n', 'name = "x"\n[schedules\n'])
def test_a_broken_project_file_is_one_clear_error(tmp_path, run_factory, bad):
    config = tmp_path / "factory.toml"
    config.write_text(bad)
    done = run_factory("build", "--config", str(config), timeout=120)
    assert done.returncode == 2, done.output
    assert str(config) in done.stderr and "fix:" in done.stderr
    assert "Traceback" not in done.output


def test_an_unreachable_prefect_api_or_a_missing_work_pool_is_one_clear_error(tmp_path, run_factory):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    url = f"http://127.0.0.1:{closed}/api"
    down = run_factory("build", "--db", str(tmp_path / "f.duckdb"), env={"PREFECT_API_URL": url}, timeout=120)
    assert down.returncode == 2, down.output
    assert url in down.stderr and "prefect server start" in down.stderr and "Traceback" not in down.output

    config = _write_project(tmp_path, "nopool")
    missing = run_factory("deploy", "--pool", "no-such-pool", "--config", str(config), timeout=120)
    assert missing.returncode == 2, missing.output
    assert "no-such-pool" in missing.stderr and "prefect work-pool create" in missing.stderr
    assert "Traceback" not in missing.output
