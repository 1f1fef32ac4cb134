"""Shared fixtures for the integration tests: a real Docker engine, the CLI, one full pipeline run.

These tests need a running Docker engine and the base image ``issue-factory/python:3.11``; without
them every test FAILS (never skips) with a message saying what to do. The expensive work — mining the
built-in example and building + validating all of it with two workers — happens once per session in
``pipeline`` and is shared; env and instance images are content-hash tagged, so reruns reuse them.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from examples import tinyledger
from factory.core.errors import UserError
from factory.core.settings import BuildSettings, Settings
from factory.docker.runtime import process_alive
from factory.mining.git_source import MineReport, mine_git
from factory.pipeline.export import export_jsonl
from factory.store import Store
from tests.prefect_server import PrefectServer, prefect_server

BASE_IMAGE = "issue-factory/python:3.11"
LABEL = "issue-factory"
OWNER_LABEL = "issue-factory.owner"


def _factory_command() -> list[str]:
    script = Path(sys.executable).parent / "factory"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from factory.cli import main; main()"]


@pytest.fixture(scope="session", autouse=True)
def prefect_api() -> Iterator[PrefectServer]:
    """One real Prefect server for the session, at the address ``tests/conftest.py`` put in the environment:
    flows in this process and every CLI subprocess use it."""
    from urllib.parse import urlparse

    port = urlparse(os.environ["PREFECT_API_URL"]).port
    with prefect_server(Path(os.environ["PREFECT_HOME"]).parent, port=port) as server:
        assert os.environ["PREFECT_API_URL"] == server.api_url
        yield server


@pytest.fixture(scope="session", autouse=True)
def docker_client() -> docker.DockerClient:
    """The real engine; no engine (or no base image) is a test failure with a clear message, not a skip."""
    from factory.docker.runtime import connect

    problem = ""
    try:
        client = connect()
    except UserError as exc:
        problem = f"tests/integration need a running Docker engine: {exc.what}. Fix: {exc.fix}"
    if problem:  # failed outside the except block, so the report is this one message, not a chain
        pytest.fail(problem, pytrace=False)
    if not client.images.list(name=BASE_IMAGE):
        pytest.fail(
            f"tests/integration need the base image {BASE_IMAGE}. Fix: run `factory images ensure` "
            "(offline: `factory images bootstrap`) or `make base` first",
            pytrace=False,
        )
    return client


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def cli_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FACTORY_DB", "FACTORY_HOME")}
    env["COLUMNS"] = "250"  # rich wraps at 80 columns when not on a terminal; keep paths on one line
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def factory_cmd() -> list[str]:
    return _factory_command()


@pytest.fixture
def run_factory(tmp_path: Path, factory_cmd: list[str]) -> Callable[..., CliResult]:
    """``run_factory("status", "--json", env={...})``: the real CLI in a subprocess, cwd in tmp_path."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> CliResult:
        done = subprocess.run(
            [*factory_cmd, *args], cwd=tmp_path, env=cli_env(**(env or {})),
            capture_output=True, text=True, timeout=timeout,
        )
        return CliResult(done.returncode, done.stdout, done.stderr)

    return run


def leaked_containers(client: docker.DockerClient, owner: str | None = None) -> list[str]:
    """Our containers that outlived their creator: owned by ``owner``, or (default) by a dead pid here."""
    host = socket.gethostname()
    found = []
    # One list call: ``containers.list`` inspects each container afterwards, and one that another process
    # removes in between (a parallel build on the shared engine) would fail the check for nothing.
    for c in client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        label = (c.get("Labels") or {}).get(OWNER_LABEL, "")
        name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
        if owner is not None:
            if label == owner:
                found.append(f"{name} ({label}, {c.get('State')})")
            continue
        owner_host, _, pid = label.partition(":")
        if owner_host == host and pid.isdigit() and not process_alive(int(pid)):
            found.append(f"{name} ({label}, {c.get('State')})")
    return found


@dataclass
class PipelineRun:
    root: Path
    repo: Path
    settings: Settings
    store: Store
    mined: MineReport
    outcomes: dict[str, str]
    """What the build flow returned: instance id -> outcome label."""
    validations_before_build: int
    export_path: Path
    exported: int

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.export_path.read_text().splitlines()]


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[PipelineRun]:
    """One uninterrupted run over the example: mine, the build flow with 2 workers (through Prefect), export."""
    from flows.build import build_flow

    root = tmp_path_factory.mktemp("pipeline")
    repo = tinyledger.create(root / "tinyledger")
    settings = Settings(db_path=root / "factory.duckdb", home=root / "home")
    store = Store(settings.db_path)
    try:
        mined = mine_git(str(repo), store, settings)
        before = store.table_counts()["validations"]
        result = build_flow(options=BuildSettings(workers=2), db=str(settings.db_path), home=str(settings.home),
                            db_lock_wait=0)
        export_path = root / "dataset.jsonl"
        exported = export_jsonl(store, export_path)
        yield PipelineRun(root, repo, settings, store, mined, result["outcomes"], before, export_path, exported)
    finally:
        store.close()


@pytest.fixture(scope="session")
def leaks(docker_client: docker.DockerClient) -> Callable[..., list[str]]:
    """``leaks()``: containers left by dead processes here; ``leaks(owner="host:pid")``: that owner's."""
    return lambda owner=None: leaked_containers(docker_client, owner)


@pytest.fixture
def spawn_factory(tmp_path: Path, factory_cmd: list[str]) -> Iterator[Callable[..., subprocess.Popen]]:
    """``spawn_factory(log_path, "build", ...)``: the CLI started in the background, output to a file."""
    started: list[subprocess.Popen] = []

    def spawn(log_path: Path, *args: str) -> subprocess.Popen:
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [*factory_cmd, *args], cwd=tmp_path, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
            )
        started.append(proc)
        return proc

    yield spawn
    for proc in started:  # only ever the processes this fixture started, by their own pid
        if proc.poll() is None:
            proc.kill()
            proc.wait()
