"""Infrastructure errors are retried with backoff a bounded number of times; rejections never — on real runs.

The repository built here has two candidates: one whose target test allocates far beyond the sandbox's
memory limit (every run ends ``error(oom)``, an infrastructure error) and one whose test passes before
and after the fix (``rejected(pass2pass)``). The build flow runs against a Prefect server
(``PREFECT_API_URL``); the task runs it recorded say how often each candidate was tried and for how long.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from factory.core.settings import BuildSettings, Settings
from factory.mining.git_source import mine_git
from factory.store import Store
from tests.faults import FaultRow, statuses
from tests.repo_fixtures import new_repo, pyproject

PYPROJECT = pyproject("hog")
RETRIES, DELAY = 2, 1.0


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/hog")
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


def retry_rows(workdir: Path) -> list[FaultRow]:
    from flows.build import build_flow

    repo = make_repo(workdir / "hog")
    settings = Settings(db_path=workdir / "f.duckdb", home=workdir / "home")
    with Store(settings.db_path) as store:
        mine_git(str(repo), store, settings)
    options = BuildSettings(workers=2, infra_retries=RETRIES, retry_delay=DELAY, mem_limit="256m")
    state = build_flow(options=options, db=str(settings.db_path), home=str(settings.home), db_lock_wait=0,
                       return_state=True)
    labels = statuses(settings.db_path)
    with Store(settings.db_path, read_only=True) as store:
        ids = {c.problem_statement.splitlines()[0]: c.instance_id for c in store.candidates()}
    runs = asyncio.run(task_runs(state.state_details.flow_run_id))
    hog, polite = runs[f"build {ids['Grow the hog']}"], runs[f"build {ids['Rename the hog politely']}"]
    spent = (hog.end_time - hog.start_time).total_seconds()
    waited = DELAY * (2 ** RETRIES - 1)  # 1 s, then 2 s
    flow_ok = "flow completes" if state.is_completed() else f"flow {state.type.value}"
    return [
        FaultRow(
            "infra retries: a test that is OOM-killed every time",
            f"tried {1 + RETRIES} times with backoff, ends error(oom), flow completes",
            f"tried {hog.run_count} times" + (" with backoff" if spent >= waited else f" in {spent:.1f} s")
            + f", ends {labels[ids['Grow the hog']]}, {flow_ok}",
            detail=f"task run {spent:.1f} s incl. {waited:.0f} s of retry delays; retries={RETRIES}",
        ),
        FaultRow(
            "infra retries: a rejection is never retried",
            "tried 1 time, ends rejected(pass2pass)",
            f"tried {polite.run_count} time{'s' if polite.run_count != 1 else ''}, "
            f"ends {labels[ids['Rename the hog politely']]}",
        ),
    ]
