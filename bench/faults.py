"""The fault suite: every hardening scenario of issue 7, run on real parts, printed as one table.

Scenario, expected outcome, observed outcome, rows lost (must be 0). The scenarios are the functions the
integration tests assert (``tests/faults_*.py``), so this table is exactly what CI checks — here with ten
``kill -9`` moments instead of three. Everything runs against the local Docker engine, a Prefect server
started here on 127.0.0.1, and git repositories built on the fly; nothing leaves this machine.

Run: ``.venv/bin/python bench/faults.py [--kills 10] [--seed N] [--only crash,secrets]``. Exit code 1 if any
row fails. The daemon-restart scenario restarts the Docker engine only if ``scripts/ensure-docker.sh``
started it (``/run/issue-factory-dockerd.pid``); otherwise its row says so and fails.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults import FaultRow, table  # noqa: E402
from tests.prefect_server import prefect_server, use_local_server  # noqa: E402


def factory_cmd() -> list[str]:
    script = Path(sys.executable).parent / "factory"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from factory.cli import main; main()"]


def groups(cmd: list[str], kills: int, seed: int | None) -> dict[str, Callable[[Path], list[FaultRow]]]:
    from tests.faults_candidates import hostile_candidate_rows
    from tests.faults_cleanup import cleanup_rows
    from tests.faults_compat import old_runner_rows
    from tests.faults_crash import crash_rows
    from tests.faults_hostile import hostile_repo_rows
    from tests.faults_predictions import hostile_prediction_rows
    from tests.faults_recovery import recovery_rows
    from tests.faults_retries import retry_rows
    from tests.faults_secrets import secret_canary_rows

    return {
        "sandbox": lambda w: hostile_candidate_rows(w, cmd),
        "retries": retry_rows,
        "hostile": lambda w: hostile_repo_rows(w, cmd),
        "secrets": lambda w: secret_canary_rows(w, cmd),
        "cleanup": lambda w: cleanup_rows(w, cmd),
        "crash": lambda w: crash_rows(w, cmd, kills=kills, seed=seed),
        "predictions": lambda w: hostile_prediction_rows(cmd, w),
        "compat": lambda w: old_runner_rows(cmd, w),
        "recovery": lambda w: recovery_rows(cmd, w),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=10, help="kill -9 moments in the crash scenario")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill moments (printed)")
    parser.add_argument("--only", default="", help="comma-separated groups: sandbox,retries,hostile,secrets,"
                                                   "cleanup,crash,predictions,compat")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="factory-bench-faults-") as tmp:
        root = Path(tmp)
        port = use_local_server(root / "prefect")  # before anything imports Prefect
        os.environ.pop("FACTORY_DB", None)
        os.environ.pop("FACTORY_HOME", None)
        rows: list[FaultRow] = []
        timings: list[str] = []
        with prefect_server(root / "prefect", port=port):
            chosen = groups(factory_cmd(), args.kills, args.seed)
            wanted = [g for g in args.only.split(",") if g] or list(chosen)
            for name in wanted:
                work = root / name
                work.mkdir()
                started = time.monotonic()
                print(f"running {name} ...", flush=True)
                try:
                    found = chosen[name](work)
                except Exception as exc:  # a scenario that crashes is a failed row, and the rest still run
                    found = [FaultRow(f"{name}: scenario ran", "ran", f"crashed: {type(exc).__name__}: {exc}"[:300])]
                    traceback.print_exc()
                rows += found
                timings.append(f"{name} {time.monotonic() - started:.0f} s")
                for row in found:
                    print(f"  {'ok ' if row.ok else 'BAD'} {row.scenario}: {row.observed}", flush=True)

    passed = sum(r.ok for r in rows)
    print(f"\nbench/faults.py — {len(rows)} scenarios, {os.cpu_count()} CPU(s); {', '.join(timings)}\n")
    print(table(rows))
    print(f"\n{passed}/{len(rows)} rows pass; rows lost in total: {sum(r.rows_lost for r in rows)}")
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
