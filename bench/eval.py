"""Harness overhead on the built-in example, and what the tamper-proof grading costs, in one run.

1. Overhead: evaluation wall time / sum of the raw test-command times. The raw time of one run is what
   its eval script measured around the test command alone (``FACTORY_TEST_SECONDS``); everything else —
   container create/start/remove, copying files in and out, applying the patches, restoring the test
   machinery, the canaries, grading, writing reports and DB rows — is overhead. Gold predictions for the
   example's valid instances (repeated under ``--repeat`` model names) are evaluated with 1 and then 2
   workers, reuse off, so every prediction really runs.
2. Protections: the same measurement made by the code of ``--baseline`` (default: the last commit before
   the tamper-proof grading), checked out into a temporary git worktree and run in a subprocess, next to
   this checkout's: eval wall time after / before, per worker count, alternating the two sides ``--rounds``
   times so that a busy machine slows both alike.

The base image is assumed present (``make base``); env and instance images are built (or reused by their
content-hash tags) before timing starts. Run: ``.venv/bin/python bench/eval.py``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "3dced60"
"""The last commit before eval contract 2 (issue 12)."""


def measure(repeat: int, workdir: Path) -> dict:
    """Build the example and time gold evaluations with 1 and 2 workers, with whatever ``factory`` code is
    first on sys.path (this checkout, or the baseline's worktree in a subprocess)."""
    import factory
    from examples import tinyledger
    from factory.docker import base_images
    from factory.docker.runtime import connect
    from factory.mining.git_source import mine_git

    Settings, Store, Prediction, Predictions, evaluate, instance_records, build_pending = _layout()
    client = connect()
    base_images.ensure(client, "3.11", Settings())
    repo = tinyledger.create(workdir / "tinyledger")
    settings = Settings(db_path=workdir / "factory.duckdb", home=workdir / "home")
    rows = []
    with Store(settings.db_path) as store:
        mine_git(str(repo), store, settings)
        build_pending(store, settings, workers=2)
        records = instance_records(store)
        preds = Predictions(
            [Prediction(r["instance_id"], f"gold-{k}", r["patch"]) for k in range(repeat) for r in records],
            source="gold",
        )
        for workers in (1, 2):
            report = evaluate(preds, records, f"bench-{workers}w", store, settings, report_dir=workdir / "reports",
                              workers=workers, reuse=False, client=client)
            assert all(r.status == "resolved" for r in report.results), [r.reason for r in report.results]
            raw = sum(r.test_seconds or 0.0 for r in report.results)
            container = sum(r.seconds for r in report.results)
            rows.append({"workers": workers, "runs": len(report.results), "wall": report.seconds,
                         "container": container, "raw": raw})
    return {"code": str(Path(factory.__file__).resolve().parents[1]), "instances": len(records), "rows": rows}


def _layout() -> tuple:
    """The names ``measure`` needs, from the layered layout (issue 13) or, for a baseline before it, from the
    flat ``factory/`` of old: the baseline's own code must run, whatever its module paths."""
    try:
        from factory.core.settings import Settings
        from factory.harness.dataset import instance_records
        from factory.harness.evaluate import evaluate
        from factory.harness.predictions import Prediction, Predictions
        from factory.pipeline.build import build_pending
        from factory.store import Store
    except ImportError:  # a baseline from before the layered layout
        from factory.build import build_pending  # type: ignore[no-redef]
        from factory.config import Settings  # type: ignore[no-redef]
        from factory.export import instance_records  # type: ignore[no-redef]
        from factory.harness import evaluate  # type: ignore[no-redef]
        from factory.predictions import Prediction, Predictions  # type: ignore[no-redef]
        from factory.store import Store  # type: ignore[no-redef]
    return Settings, Store, Prediction, Predictions, evaluate, instance_records, build_pending


def _side(code: Path, repeat: int) -> dict:
    """``measure`` run by a fresh interpreter with ``code`` first on sys.path."""
    script = (
        "import json, sys, tempfile, pathlib\n"
        f"sys.path.insert(0, {str(code)!r}); sys.path.insert(1, {str(ROOT / 'bench')!r})\n"
        "import eval as bench\n"
        "with tempfile.TemporaryDirectory(prefix='factory-bench-eval-') as tmp:\n"
        f"    print('RESULT=' + json.dumps(bench.measure({repeat}, pathlib.Path(tmp))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=code)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT=")), None)
    if done.returncode or line is None:
        raise SystemExit(f"the measurement with {code} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    result = json.loads(line[len("RESULT="):])
    assert Path(result["code"]) == code.resolve(), (result["code"], code)  # the side really ran that code
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="gold predictions per instance (as N models)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with (default: %(default)s)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating before/after measurements")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="factory-bench-baseline-") as tmp:
        tree = Path(tmp) / "baseline"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-q", "--detach", str(tree), args.baseline],
                       check=True)
        try:
            sides: dict[str, list[dict]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                sides["before"].append(_side(tree, args.repeat))
                sides["after"].append(_side(ROOT, args.repeat))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    after = sides["after"][-1]
    print(f"harness overhead on the example (this checkout): {after['instances']} valid instances x "
          f"{args.repeat} gold predictions, reuse off")
    print(f"{'workers':>7}{'runs':>6}{'wall s':>9}{'container s':>13}{'test cmd s':>12}"
          f"{'wall/test':>11}{'container/test':>16}")
    for row in after["rows"]:
        print(f"{row['workers']:>7}{row['runs']:>6}{row['wall']:>9.2f}{row['container']:>13.2f}{row['raw']:>12.2f}"
              f"{row['wall'] / row['raw']:>10.2f}x{row['container'] / row['raw']:>15.2f}x")
    print(f"\ntamper-proof grading: eval wall time of gold predictions, {args.baseline} (before) vs this checkout "
          f"(after), {args.rounds} alternating round(s), sums over rounds")
    print(f"{'workers':>7}{'before s':>10}{'after s':>10}{'after/before':>14}")
    for i, workers in enumerate((1, 2)):
        before_s = sum(m["rows"][i]["wall"] for m in sides["before"])
        after_s = sum(m["rows"][i]["wall"] for m in sides["after"])
        print(f"{workers:>7}{before_s:>10.2f}{after_s:>10.2f}{after_s / before_s:>13.2f}x")


if __name__ == "__main__":
    main()
