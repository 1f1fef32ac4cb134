"""What the environment memory pool saves the LLM builder: calls, tokens, $ and seconds per instance.

Two repositories (``acme/tinyledger``: ordinary, heuristics suffice for most commits; ``acme/weatherlib``:
needs jq, an env variable and a requirements file no rule guesses) are mined into fresh databases and
built twice in this one process, with the memory pool and with ``--no-memory``. The model is the local
scripted OpenAI-compatible server of the tests (``tests/llm_server.py``) answering like a capable model
(``examples.weatherlib.scripted_reply``) under a priced model name, so $ come from the price table.
An unmeasured warm-up pass builds every image first, so both measured runs see the same (warm) image
cache and differ only in what the builder had to try. Run: ``.venv/bin/python bench/builder.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from llm_server import ScriptedLLM  # noqa: E402

from agents.llm import Budget, LLMClient, LLMSettings  # noqa: E402
from examples import tinyledger, weatherlib  # noqa: E402
from factory.core.models import Status  # noqa: E402
from factory.core.settings import BuildSettings, Settings  # noqa: E402
from factory.docker import base_images  # noqa: E402
from factory.docker.runtime import connect  # noqa: E402
from factory.mining.git_source import mine_git  # noqa: E402
from factory.pipeline.build import build_pending  # noqa: E402
from factory.store import Store  # noqa: E402

MODEL = "gpt-4.1-mini"  # in the default price table, so the scripted calls cost what they would there


def run_config(root: Path, repos: list[Path], label: str, use_memory: bool, server: ScriptedLLM) -> dict:
    settings = Settings(db_path=root / label / "factory.duckdb", home=root / label / "home",
                        build=BuildSettings(memory=use_memory))
    settings.home.mkdir(parents=True, exist_ok=True)
    with Store(settings.db_path) as store:
        for repo in repos:
            mine_git(str(repo), store, settings)
        client = LLMClient(LLMSettings(base_url=server.url, model=MODEL), store)
        sent_before = len(server.requests)
        started = time.monotonic()
        build_pending(store, settings, workers=1, llm=client, budget=Budget())
        seconds = time.monotonic() - started
        sent = len(server.requests) - sent_before
        instances = store.instances()
        valid = [i for i in instances if i.status is Status.VALID]
        no_llm = [i for i in instances if not store.llm_calls(i.instance_id)]
        wasted = sum(store.llm_totals(i.instance_id)["calls"] for i in instances if i.status is not Status.VALID)
        totals = store.llm_totals()
    assert totals["calls"] == sent, f"ledger says {totals['calls']} calls, the server saw {sent}"
    per_valid = max(len(valid), 1)
    return {
        "instances": len(instances),
        "valid instances": len(valid),
        "  valid via memory": sum(i.builder == "memory" for i in valid),
        "  valid via heuristic": sum(i.builder == "heuristic" for i in valid),
        "  valid via llm": sum(i.builder.startswith("llm:") for i in valid),
        "LLM calls (all instances)": totals["calls"],
        "  on instances not valid": wasted,
        "LLM calls / valid instance": totals["calls"] / per_valid,
        "tokens / valid instance": (totals["tokens_in"] + totals["tokens_out"]) / per_valid,
        "$ / valid instance": totals["usd"] / per_valid,
        "build s / instance": seconds / max(len(instances), 1),
        "share needing no LLM call": len(no_llm) / max(len(instances), 1),
        "_outcomes": Counter(f"{i.status.value}({i.reason})" if i.reason else i.status.value for i in instances),
    }


def fmt(name: str, value: float) -> str:
    if name.startswith("$"):
        return f"{value:.5f}"
    if name.startswith("share"):
        return f"{value:.0%}"
    if isinstance(value, int):
        return str(value)
    return f"{value:.1f}"


def main() -> None:
    client = connect()
    base_images.ensure(client, Settings().images.default_python, Settings())
    with tempfile.TemporaryDirectory(prefix="factory-bench-builder-") as tmp, \
            ScriptedLLM(weatherlib.scripted_reply, models=(MODEL,)) as server:
        root = Path(tmp)
        repos = [tinyledger.create(root / "tinyledger"), weatherlib.create(root / "weatherlib")]
        started = time.monotonic()
        run_config(root, repos, "warmup", True, server)
        warmup = time.monotonic() - started
        memory = run_config(root, repos, "memory", True, server)
        no_memory = run_config(root, repos, "no-memory", False, server)

    print(f"builder on {len(repos)} example repositories ({memory['instances']} candidates), model {MODEL} "
          f"(scripted, priced from the table); unmeasured warm-up pass {warmup:.0f}s")
    print(f"{'':<30}{'memory':>12}{'--no-memory':>14}{'no-mem/mem':>12}")
    for name, value in memory.items():
        if name.startswith("_"):
            continue
        other = no_memory[name]
        ratio = f"{other / value:.2f}x" if value else ("=" if other == value else "inf")
        print(f"{name:<30}{fmt(name, value):>12}{fmt(name, other):>14}{ratio:>12}")
    for label, run in (("memory", memory), ("--no-memory", no_memory)):
        print(f"outcomes with {label}: " + ", ".join(f"{k} {v}" for k, v in sorted(run["_outcomes"].items())))


if __name__ == "__main__":
    main()
