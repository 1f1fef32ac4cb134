"""Throughput with 1 vs 2 workers, and what Prefect costs per flow run — measured side by side in one run.

All runs use the built-in example (7 candidates: 3 valid, 3 rejected, 1 build failure) on fresh databases,
one after the other, in this process, against a real Prefect server on 127.0.0.1 started here:

* ``direct``     — the library called directly: mine_git → build_pending(workers=1) → export_jsonl;
* ``prefect-1``  — the same stages as Prefect flows (mine → build → export), 1 worker;
* ``prefect-2``  — the same flows with 2 workers (2 Docker slots).

``--cold`` removes this bench's env/instance images before every measured run (every environment is
built again); the default is warm (images reused, as in a factory that keeps running on one repo), after
one unmeasured warm-up run. ``--repeat N`` measures each configuration N times, interleaved, and reports
the median. Run: ``.venv/bin/python bench/parallel.py [--cold] [--repeat 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import NAME, remove_bench_images  # noqa: E402  (same image names, same cleanup)
from tests.prefect_server import prefect_server, use_local_server  # noqa: E402


def measure(config: str, root: Path, repo: Path, run_no: int) -> dict:
    """One full mine → build → export of the example; returns wall seconds and what it produced."""
    from factory.core.models import Status
    from factory.core.settings import BuildSettings, Settings
    from factory.mining.git_source import mine_git
    from factory.pipeline.build import build_pending
    from factory.pipeline.export import export_jsonl
    from factory.store import Store

    work = root / f"{config}-{run_no}"
    settings = Settings(db_path=work / "factory.duckdb", home=work / "home")
    out = work / "dataset.jsonl"
    started = time.monotonic()
    if config == "direct":
        with Store(settings.db_path) as store:
            mine_git(str(repo), store, settings, name=NAME)
            build_pending(store, settings, workers=1)
            export_jsonl(store, out)
    else:
        from flows.build import build_flow
        from flows.export import export_flow
        from flows.mine import mine_flow

        project = work / "factory.toml"
        work.mkdir(parents=True, exist_ok=True)
        project.write_text(f'[[sources]]\ngit = "{repo}"\nname = "{NAME}"\n')
        common = {"config": str(project), "db": str(settings.db_path), "db_lock_wait": 0}
        mine_flow(home=str(settings.home), **common)
        workers = int(config.rsplit("-", 1)[1])
        build_flow(options=BuildSettings(workers=workers), home=str(settings.home), **common)
        export_flow(out=str(out), **common)
    seconds = time.monotonic() - started
    with Store(settings.db_path, read_only=True) as store:
        instances = store.instances()
    return {
        "seconds": seconds,
        "validated": sum(i.status in (Status.VALID, Status.REJECTED) for i in instances),
        "valid": sum(i.status is Status.VALID for i in instances),
        "processed": len(instances),
        "export": out.read_bytes(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="remove this bench's images before every run")
    parser.add_argument("--repeat", type=int, default=1, help="measured runs per configuration (median shown)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="factory-bench-parallel-") as tmp:
        root = Path(tmp)
        port = use_local_server(root / "prefect")  # before anything imports Prefect
        from examples import tinyledger
        from factory.docker.runtime import connect

        client = connect()
        repo = tinyledger.create(root / "tinyledger")
        with prefect_server(root / "prefect", port=port):
            configs = ["direct", "prefect-1", "prefect-2"]
            if not args.cold:
                print("warm-up run (not measured): builds the example's images once ...", flush=True)
                measure("direct", root, repo, 0)
            results: dict[str, list[dict]] = {c: [] for c in configs}
            for run_no in range(1, args.repeat + 1):
                for config in configs:
                    if args.cold:
                        remove_bench_images(client)
                    result = measure(config, root, repo, run_no)
                    results[config].append(result)
                    print(f"  run {run_no} {config:<10} {result['seconds']:7.1f}s  "
                          f"{result['validated']} validated, {result['valid']} valid", flush=True)
        if args.cold:
            remove_bench_images(client)

    median = {c: statistics.median(r["seconds"] for r in rs) for c, rs in results.items()}
    first = {c: rs[0] for c, rs in results.items()}
    exports_equal = len({r["export"] for rs in results.values() for r in rs}) == 1
    mode = "cold (every image rebuilt)" if args.cold else "warm (images reused)"
    print(f"\nbench/parallel.py — built-in example, {mode}, median of {args.repeat} run(s), "
          f"{os.cpu_count()} CPU(s)\n")
    print(f"{'configuration':<34}{'wall s':>9}{'validated/min':>15}{'valid/min':>11}")
    labels = {"direct": "library direct, 1 worker", "prefect-1": "Prefect flows, 1 worker",
              "prefect-2": "Prefect flows, 2 workers"}
    for config in configs:
        s = median[config]
        print(f"{labels[config]:<34}{s:>9.1f}{first[config]['validated'] * 60 / s:>15.2f}"
              f"{first[config]['valid'] * 60 / s:>11.2f}")
    print()
    print(f"throughput 2 workers / 1 worker (Prefect):   {median['prefect-1'] / median['prefect-2']:.2f}x")
    print(f"Prefect overhead, pipeline wall time ratio:  {median['prefect-1'] / median['direct']:.3f} "
          f"(prefect-1 / direct; +{median['prefect-1'] - median['direct']:.1f}s over 3 flow runs, "
          f"{(median['prefect-1'] - median['direct']) / 3:.2f}s per flow run)")
    print(f"identical exports across all runs:          {exports_equal}")


if __name__ == "__main__":
    main()
