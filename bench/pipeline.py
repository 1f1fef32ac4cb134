"""Time per pipeline stage on the built-in example: cold (no env/instance images) vs warm (reused).

Both runs happen in this one process, one after the other, on fresh databases, so the ratio compares
like with like on the same machine. The base image is assumed present (``make base``); its one-time
cost is the bootstrap, not a pipeline stage. Run: ``.venv/bin/python bench/pipeline.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import tinyledger  # noqa: E402
from factory.core.settings import Settings  # noqa: E402
from factory.docker import base_images  # noqa: E402
from factory.docker.runtime import connect  # noqa: E402
from factory.mining.git_source import mine_git  # noqa: E402
from factory.pipeline.build import build_pending  # noqa: E402
from factory.pipeline.export import export_jsonl  # noqa: E402
from factory.store import Store  # noqa: E402

NAME = "bench/tinyledger"  # own image names, so the bench never removes images other runs use


def remove_bench_images(client) -> int:
    removed = 0
    for image in client.images.list(filters={"label": "issue-factory=1"}):
        if any(tag.startswith(("issue-factory/env.bench__", "issue-factory/instance.bench__")) for tag in image.tags):
            for tag in image.tags:
                client.images.remove(tag, force=True)
            removed += 1
    return removed


def run_once(root: Path, repo: Path, label: str) -> dict[str, float]:
    settings = Settings(db_path=root / f"{label}.duckdb", home=root / "home")
    with Store(settings.db_path) as store:
        t0 = time.monotonic()
        mine_git(str(repo), store, settings, name=NAME)
        t1 = time.monotonic()
        build_pending(store, settings, workers=1)
        t2 = time.monotonic()
        export_jsonl(store, root / f"{label}.jsonl")
        t3 = time.monotonic()
        attempts = sum(
            a.seconds for i in store.instance_ids() for a in store.attempts(i) if a.action != "validate fail2pass"
        )
        validations = sum(v.seconds for i in store.instance_ids() for v in store.validations(i))
    return {
        "mine": t1 - t0,
        "build env + instance images": attempts,
        "validate (before/after runs)": validations,
        "build stage wall (build + validate)": t2 - t1,
        "export": t3 - t2,
        "total": t3 - t0,
    }


def main() -> None:
    client = connect()
    settings = Settings()
    base_images.ensure(client, settings.images.default_python, settings)
    with tempfile.TemporaryDirectory(prefix="factory-bench-") as tmp:
        root = Path(tmp)
        repo = tinyledger.create(root / "tinyledger")
        removed = remove_bench_images(client)
        cold = run_once(root, repo, "cold")
        warm = run_once(root, repo, "warm")
    print(f"pipeline on the example ({removed} stale bench images removed before the cold run)")
    print(f"{'stage':<38}{'cold s':>9}{'warm s':>9}{'cold/warm':>11}")
    for stage in cold:
        ratio = cold[stage] / warm[stage] if warm[stage] > 0.001 else float("inf")
        print(f"{stage:<38}{cold[stage]:>9.2f}{warm[stage]:>9.2f}{ratio:>10.1f}x")


if __name__ == "__main__":
    main()
