"""Report generation time for a synthetic store of 10,000 instances (``factory report`` at scale).

The store is made through our own ``Store`` API and migrations — candidates, instances in every status,
shared environments, before/after runs with per-test outcomes and log files on disk, builder attempts, LLM
calls, two ``factory eval`` runs and one repair-agent evaluation with a learning curve — so the report reads
exactly the schema a real factory writes. Building the store takes a while (one transaction per record, as
the stages write); it is kept under ``--work`` and reused by the next run unless ``--rebuild``. Then the
report is generated into a fresh folder (engine not asked: the sizes are not the bench's subject) and the
time is printed, with pages and bytes written, and the time per 1,000 instances — once with the logs copied
into the site (the default) and once with them linked (``--no-logs``), so the file system's share shows.
Deleting the previous run's site is timed apart: on a busy disk removing 30,000 files can take longer than
writing them.

Run: ``.venv/bin/python bench/report.py`` (``--instances 2000`` for a quick look).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.core.models import Attempt, Candidate, Environment, Instance, Status, Validation  # noqa: E402
from factory.report import build_report  # noqa: E402
from factory.store import Store  # noqa: E402

REASONS = ["fail2fail", "pass2pass", "flaky", "error2pass", "no_tests_ran", "pass2fail", "test_patch_failed"]
LOG = ("============================= test session starts ==============================\n"
       "collected 12 items\n\ntests/test_core.py ..F.........\n\n"
       "=================================== FAILURES ===================================\n"
       "___________________________ test_case_{n} ___________________________\n"
       "    def test_case_{n}():\n>       assert parse('1,000') == 1000\nE       AssertionError: assert 1 == 1000\n"
       "=========================== short test summary info ============================\n"
       "FAILED tests/test_core.py::test_case_{n} - AssertionError: assert 1 == 1000\n"
       "========================= 1 failed, 11 passed in 0.42s =========================\nFACTORY_EXIT_CODE=1\n")


def _patch(n: int, lines: int) -> str:
    body = "".join(f"-old line {k} of {n}\n+new line {k} of {n}\n" for k in range(lines))
    return (f"diff --git a/src/mod{n % 50}.py b/src/mod{n % 50}.py\n--- a/src/mod{n % 50}.py\n"
            f"+++ b/src/mod{n % 50}.py\n@@ -1,{lines} +1,{lines} @@\n{body}")


def synthesize(store: Store, n: int, logs: Path, seed: int = 7) -> None:
    """``n`` instances over n/250 repositories, in the proportions a real run over many repositories shows."""
    rng = random.Random(seed)
    t0 = datetime(2023, 1, 1, tzinfo=UTC)
    repos = [f"org{k}/project{k}" for k in range(max(1, n // 250))]
    cands = []
    for k in range(n):
        repo = repos[k % len(repos)]
        cands.append(Candidate(
            instance_id=f"{repo.replace('/', '__')}-{k}", repo=repo, base_commit=f"{k:040x}",
            fix_commit=f"{k + 10**9:040x}", patch=_patch(k, rng.randint(2, 30)), test_patch=_patch(k + 1, 8),
            problem_statement=f"Parsing fails for input {k}.\n\n<details>steps</details>\n" * 3,
            created_at=t0 + timedelta(hours=k), source=f"github:{repo}", issue_numbers=[str(k)], pull_number=k,
            test_files=["tests/test_core.py"]))
    store.add_candidates(cands)
    logs.mkdir(parents=True, exist_ok=True)
    tests = [f"tests/test_core.py::test_case_{t}" for t in range(12)]
    for r, repo in enumerate(repos):
        for e in range(3):
            fp = f"fp-{r}-{e}"
            store.save_environment(Environment(
                fingerprint=fp, repo=repo, python_version="3.11", python_reason="requires-python", base_image=
                "issue-factory/python:3.11", install_commands=["uv pip install -e .[test]"],
                dockerfile=f"FROM issue-factory/python:3.11\nRUN uv pip install -e .[test]  # {repo}\n",
                image_tag=f"issue-factory/env.{repo.replace('/', '__')}:{fp}", status="failed" if e == 2 else "built",
                error="ERROR: No matching distribution found for lib==9.9" if e == 2 else "",
                builder="heuristic", seconds=rng.uniform(20, 400)))
    valid = []
    for k, c in enumerate(cands):
        roll = rng.random()
        r = k % len(repos)
        inst = Instance(instance_id=c.instance_id, fingerprint=f"fp-{r}-{k % 2}", builder=rng.choice(
            ["heuristic", "heuristic", "memory", "llm:qwen"]), eval_script="#!/bin/bash\npytest tests\n")
        if roll < 0.15:
            continue  # pending (mined)
        if roll < 0.30:
            inst.status, inst.reason, inst.fingerprint = Status.BUILD_FAILED, "env_build", f"fp-{r}-2"
            store.save_instance(inst)
            continue
        if roll < 0.35:
            inst.status, inst.reason = Status.ERROR, "docker"
        elif roll < 0.65:
            inst.status, inst.fail_to_pass, inst.pass_to_pass = Status.VALID, tests[:2], tests[2:]
            valid.append(c.instance_id)
        else:
            inst.status, inst.reason = Status.REJECTED, rng.choice(REASONS)
        store.save_instance(inst)
        for phase, runs in (("before", 1), ("after", 2)):
            for i in range(runs):
                log = logs / f"{c.instance_id}-{phase}-{i}.log"
                log.write_text(LOG.format(n=k))
                store.add_validation(Validation(
                    instance_id=c.instance_id, phase=phase, run_index=i, exit_code=1 if phase == "before" else 0,
                    verdict="fail" if phase == "before" else "pass", seconds=rng.uniform(1, 60),
                    tests={t: ("failed" if phase == "before" and j < 2 else "passed") for j, t in enumerate(tests)},
                    log_path=str(log)))
        if k % 10 == 0:
            store.add_attempt(Attempt(instance_id=c.instance_id, role="test_analyst", action="run", outcome="valid",
                                      seconds=3.0))
            store.add_llm_call(instance_id=c.instance_id, role="explorer", model="qwen", request_sha=f"{k:064x}",
                               request="{}", response="{}", status="ok", error="", tokens_in=1500, tokens_out=300,
                               tokens_cached=0, usd=0.002, seconds=4.0)
    runs = [("gold-1", "gold"), ("agent-1", "agent/qwen")] + [
        (f"eval-20240301T120000-{cfg}", "factory-repair/qwen") for cfg in ("none", "both", "both-0", "both-5")]
    for run_id, model in runs:
        ids = valid if not run_id.startswith("eval-") else valid[:60]
        for iid in ids:
            resolved = model == "gold" or rng.random() < 0.4
            store.save_eval_result({
                "run_id": run_id, "model": model, "instance_id": iid, "patch_sha256": "", "image_id": "",
                "eval_script_sha256": "", "status": "resolved" if resolved else "unresolved", "reason": "",
                "resolved": resolved, "report": {}, "grade": {}, "exit_code": 0, "test_seconds": 1.0, "seconds": 2.0,
                "reused_from": "", "log_dir": ""})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/factory-bench-report"))
    parser.add_argument("--rebuild", action="store_true", help="Make the synthetic store again.")
    args = parser.parse_args()
    db = args.work / f"synthetic-{args.instances}.duckdb"
    if args.rebuild or not db.exists():
        shutil.rmtree(args.work / f"logs-{args.instances}", ignore_errors=True)
        db.unlink(missing_ok=True)
        started = time.perf_counter()
        with Store(db) as store:
            synthesize(store, args.instances, args.work / f"logs-{args.instances}")
        print(f"synthetic store: {args.instances} instances in {time.perf_counter() - started:.0f} s ({db})")
    out = args.work / f"report-{args.instances}"
    with Store(db) as store:
        counts = store.counts()
    print(json.dumps({"counts": counts}, sort_keys=True))
    for copy_logs in (True, False):
        cleared = time.perf_counter()
        shutil.rmtree(out, ignore_errors=True)  # the previous site: deleting 30,000 files is the disk's time
        cleared = time.perf_counter() - cleared
        with Store(db) as store:
            started = time.perf_counter()
            written = build_report(store, out, engine=False, copy_logs=copy_logs)
            seconds = time.perf_counter() - started
        mode = "logs copied into the site" if copy_logs else "logs linked where they lie (--no-logs)"
        print(f"report, {mode}: {written.instances} instances, {written.pages} pages, {written.logs} logs, "
              f"{written.bytes / 1e6:.1f} MB, {written.runs} evaluation runs")
        print(f"  generation: {seconds:.1f} s ({1000 * seconds / max(1, written.instances):.2f} s per 1,000 "
              f"instances); deleting the previous site first took {cleared:.1f} s")
    print(f"site: {written.index}")

if __name__ == "__main__":
    main()
