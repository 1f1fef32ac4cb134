"""Prefect retries infrastructure errors with backoff and never retries a rejection — on real runs.

The repository built here has two candidates: one whose target test allocates far beyond the sandbox's
memory limit (every run ends ``error(oom)``, an infrastructure error) and one whose test passes before
and after the fix (``rejected(pass2pass)``). The build flow runs against the session's Prefect server;
the task runs it recorded say how often each candidate was tried.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from examples.tinyledger import _Git
from factory.config import Settings
from factory.mining.git_source import mine_git
from factory.models import Status
from factory.project import BuildOptions
from factory.store import Store
from tests.repo_fixtures import pyproject

PYPROJECT = pyproject("hog")


def make_repo(root: Path) -> Path:
    g = _Git(root)
    root.mkdir(parents=True)
    g("init", "-q", "-b", "main")
    g("remote", "add", "origin", "https://git.example.com/acme/hog.git")
    g.commit("Initial import", {
        "pyproject.toml": PYPROJECT,
        "src/hog/__init__.py": "def size():\n    return 1\n\n\ndef name():\n    return 'hog'\n",
        "tests/test_name.py": "from hog import name\n\n\ndef test_name():\n    assert name() == 'hog'\n",
    })
    g.commit("Grow the hog\n\nsize() must report the bytes it can hold.", {
        "src/hog/__init__.py": "def size():\n    return 2\n\n\ndef name():\n    return 'hog'\n",
        "tests/test_size.py": (
            "from hog import size\n\n\ndef test_size_holds_a_lot():\n"
            "    ballast = bytearray(1024 * 1024 * 1024)  # far beyond the sandbox's memory limit\n"
            "    assert size() == 2 and len(ballast)\n"
        ),
    })
    g.commit("Rename the hog politely", {
        "src/hog/__init__.py": "def size():\n    return 2\n\n\ndef name():\n    return 'hog'  # polite\n",
        "tests/test_name.py": "from hog import name\n\n\ndef test_name():\n    assert name() == 'hog'\n\n\n"
                              "def test_name_is_lower():\n    assert name().islower()\n",
    })
    return root


async def task_runs(flow_run_id) -> dict[str, object]:
    async with get_client() as client:
        runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return {r.name: r for r in runs}


def test_infra_errors_are_retried_with_backoff_and_rejections_are_not(tmp_path, monkeypatch):
    from flows.build import build_flow

    monkeypatch.setenv("FACTORY_MEM_LIMIT", "256m")
    repo = make_repo(tmp_path / "hog")
    settings = Settings(db_path=tmp_path / "f.duckdb", home=tmp_path / "home")
    assert settings.mem_limit == "256m"
    with Store(settings.db_path) as store:
        report = mine_git(str(repo), store, settings)
    assert len(report.added) == 2, report

    options = BuildOptions(workers=2, infra_retries=2, retry_delay=1.0)
    state = build_flow(options=options, db=str(settings.db_path), home=str(settings.home), db_lock_wait=0,
                       return_state=True)
    assert state.is_completed(), state  # infra errors are stored and left for the next run, not a crash
    outcomes = state.result()["outcomes"]

    with Store(settings.db_path, read_only=True) as store:
        by_subject = {c.problem_statement.splitlines()[0]: store.instance(c.instance_id) for c in store.candidates()}
    hog, polite = by_subject["Grow the hog"], by_subject["Rename the hog politely"]
    assert (hog.status, hog.reason) == (Status.ERROR, "oom"), hog.detail
    assert (polite.status, polite.reason) == (Status.REJECTED, "pass2pass"), polite.detail
    assert outcomes == {hog.instance_id: "error(oom)", polite.instance_id: "rejected(pass2pass)"}

    runs = asyncio.run(task_runs(state.state_details.flow_run_id))
    hog_run, polite_run = runs[f"build {hog.instance_id}"], runs[f"build {polite.instance_id}"]
    assert hog_run.run_count == 3, "an infrastructure error is tried 1 + infra_retries times"
    assert hog_run.state.is_failed()
    assert polite_run.run_count == 1, "a rejection is never retried"
    assert polite_run.state.is_completed()
    # backoff: the retries waited 1 s, then 2 s, so the oom task ran for at least 3 s more than its tries
    assert (hog_run.end_time - hog_run.start_time).total_seconds() >= 3.0
