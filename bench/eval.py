"""Harness overhead on the built-in example: evaluation wall time / sum of the raw test-command times.

The raw time of one run is what its eval script measured around the test command alone
(``FACTORY_TEST_SECONDS``); everything else — container create/start/remove, copying files in and out,
applying the patches, grading, writing reports and DB rows — is overhead. Gold predictions for the
example's valid instances (repeated under ``--repeat`` model names, so each configuration grades several
runs per instance) are evaluated with 1 and then 2 workers in this one process, with reuse off so every
prediction really runs. The base image is assumed present (``make base``); env and instance images are
built (or reused by their content-hash tags) before timing starts. Run: ``.venv/bin/python bench/eval.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples import tinyledger  # noqa: E402
from factory.build import build_pending  # noqa: E402
from factory.config import Settings  # noqa: E402
from factory.docker import base_images  # noqa: E402
from factory.docker.runtime import connect  # noqa: E402
from factory.export import instance_records  # noqa: E402
from factory.harness import evaluate  # noqa: E402
from factory.mining.git_source import mine_git  # noqa: E402
from factory.predictions import Prediction, Predictions  # noqa: E402
from factory.store import Store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="gold predictions per instance (as N models)")
    args = parser.parse_args()
    client = connect()
    settings = Settings()
    base_images.ensure(client, settings.default_python, settings)
    with tempfile.TemporaryDirectory(prefix="factory-bench-eval-") as tmp:
        root = Path(tmp)
        repo = tinyledger.create(root / "tinyledger")
        settings = Settings(db_path=root / "factory.duckdb", home=root / "home")
        with Store(settings.db_path) as store:
            mine_git(str(repo), store, settings)
            build_pending(store, settings, workers=2)
            records = instance_records(store)
            preds = Predictions(
                [Prediction(r["instance_id"], f"gold-{k}", r["patch"]) for k in range(args.repeat) for r in records],
                source="gold",
            )
            rows = []
            for workers in (1, 2):
                report = evaluate(preds, records, f"bench-{workers}w", store, settings, report_dir=root / "reports",
                                  workers=workers, reuse=False, client=client)
                graded = [r for r in report.results if r.test_seconds is not None]
                assert len(graded) == len(report.results), "a run printed no FACTORY_TEST_SECONDS"
                assert all(r.status == "resolved" for r in report.results), [r.reason for r in report.results]
                raw = sum(r.test_seconds for r in graded)
                container = sum(r.seconds for r in report.results)
                rows.append((workers, len(report.results), report.seconds, container, raw))
    print(f"harness overhead on the example: {len(records)} valid instances x {args.repeat} gold predictions, "
          "reuse off")
    print(f"{'workers':>7}{'runs':>6}{'wall s':>9}{'container s':>13}{'test cmd s':>12}"
          f"{'wall/test':>11}{'container/test':>16}")
    for workers, runs, wall, container, raw in rows:
        print(f"{workers:>7}{runs:>6}{wall:>9.2f}{container:>13.2f}{raw:>12.2f}{wall / raw:>10.2f}x"
              f"{container / raw:>15.2f}x")


if __name__ == "__main__":
    main()
