"""A small store for the report's unit tests, written through the Store API like the stages write it.

Two repositories; acme/lib has a valid instance (F2P/P2P, one before and two after runs with logs on disk),
a flaky one, a fail2fail, a build failure and a pending candidate; other/app a docker error. Two
environments (heuristic, llm), LLM calls, a gold eval run and one repair evaluation (none, both, both-0,
both-2) with its ledger rows. Every number the tests assert follows from what is written here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from factory.core.models import Attempt, Candidate, Environment, Instance, Status, Validation
from factory.store import Store

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
F2P = ["tests/test_m.py::test_new"]
P2P = ["tests/test_m.py::test_old"]
BEFORE_LOG = ("collected 2 items\n\ntests/test_m.py .F\n\n=== FAILURES ===\nE   assert 1 == 2\n"
              "=========================== short test summary info ============================\n"
              "FAILED tests/test_m.py::test_new - assert 1 == 2\n=== 1 failed, 1 passed ===\nFACTORY_EXIT_CODE=1\n")


def cand(n: int, repo: str = "acme/lib", **extra: object) -> Candidate:
    fields = {
        "instance_id": f"{repo.replace('/', '__')}-{n}", "repo": repo, "base_commit": f"{n:040x}",
        "fix_commit": f"{n + 1000:040x}",
        "patch": ("diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1 +1 @@\n"
                  f"-x = {n}\n+x = {n + 1}\n"),
        "test_patch": "diff --git a/tests/test_m.py b/tests/test_m.py\n+def test_new(): pass\n",
        "problem_statement": f"Problem {n}", "created_at": T0 + timedelta(hours=n), "source": f"git:/tmp/{n}",
        "test_files": ["tests/test_m.py"],
    }
    return Candidate(**{**fields, **extra})


def env(fp: str, builder: str, seconds: float, status: str = "built") -> Environment:
    return Environment(fingerprint=fp, repo="acme/lib", python_version="3.11", python_reason="requires-python",
                       base_image="issue-factory/python:3.11", install_commands=["pip install -e ."],
                       dockerfile=f"FROM issue-factory/python:3.11\n# {fp}\n", image_tag=f"issue-factory/env.x:{fp}",
                       status=status, builder=builder, seconds=seconds,
                       error="ERROR: No matching distribution found for nosuchpkg" if status == "failed" else "")


def run(iid: str, phase: str, index: int, tests: dict, seconds: float, log: Path | None = None,
        verdict: str = "", exit_code: int | None = None) -> Validation:
    verdict = verdict or ("fail" if phase == "before" else "pass")
    code = exit_code if exit_code is not None else (1 if verdict == "fail" else 0)
    return Validation(instance_id=iid, phase=phase, run_index=index, exit_code=code, verdict=verdict, tests=tests,
                      seconds=seconds, log_path=str(log) if log else "")


def eval_row(run_id: str, model: str, iid: str, status: str) -> dict:
    return {"run_id": run_id, "model": model, "instance_id": iid, "patch_sha256": "", "image_id": "",
            "eval_script_sha256": "", "status": status, "reason": "", "resolved": status == "resolved",
            "report": {}, "grade": {}, "exit_code": 0, "test_seconds": 1.0, "seconds": 2.0, "reused_from": "",
            "log_dir": ""}


def fill(store: Store, logs: Path, problem: str = "Problem 1", patch: str | None = None) -> None:
    """The store described above; ``problem`` / ``patch`` replace the valid instance's texts."""
    extra = {"problem_statement": problem} | ({"patch": patch} if patch is not None else {})
    store.add_candidates([cand(1, **extra), cand(2), cand(3), cand(4), cand(5), cand(6, "other/app")])
    store.save_environment(env("fp-h", "heuristic", 10.0))
    store.save_environment(env("fp-l", "llm:qwen", 30.0))
    store.save_environment(env("fp-bad", "heuristic", 5.0, status="failed"))
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "before.log").write_text(BEFORE_LOG)
    (logs / "after.log").write_text("2 passed\nFACTORY_EXIT_CODE=0\n")
    both = {F2P[0]: "failed", P2P[0]: "passed"}
    green = {F2P[0]: "passed", P2P[0]: "passed"}
    verdicts = [
        (1, Status.VALID, "", "fp-h", "heuristic", [("before", 0, both, 2.0), ("after", 0, green, 4.0),
                                                    ("after", 1, green, 6.0)]),
        (2, Status.REJECTED, "flaky", "fp-h", "memory", [("before", 0, both, 8.0), ("after", 0, green, 10.0),
                                                         ("after", 1, both, 12.0)]),
        (3, Status.REJECTED, "fail2fail", "fp-l", "llm:qwen", [("before", 0, both, 14.0), ("after", 0, both, 16.0),
                                                               ("after", 1, both, 18.0)]),
        (4, Status.BUILD_FAILED, "env_build", "fp-bad", "heuristic", []),
    ]
    for n, status, reason, fp, builder, runs in verdicts:
        iid = f"acme__lib-{n}"
        store.save_instance(Instance(instance_id=iid, status=status, reason=reason, fingerprint=fp, builder=builder,
                                     fail_to_pass=F2P if status is Status.VALID else [],
                                     pass_to_pass=P2P if status is Status.VALID else [],
                                     flaky_tests=F2P if reason == "flaky" else [], eval_script="#!/bin/bash\npytest\n",
                                     detail=f"verdict {status.value}"))
        for phase, index, tests, seconds in runs:
            log = logs / ("before.log" if phase == "before" else "after.log") if n == 1 else None
            verdict = "fail" if phase == "before" or tests == both else "pass"
            store.add_validation(run(iid, phase, index, tests, seconds, log, verdict))
    store.save_instance(Instance(instance_id="other__app-6", status=Status.ERROR, reason="docker", fingerprint="fp-h",
                                 builder="heuristic"))
    store.add_attempt(Attempt(instance_id="acme__lib-4", role="test_analyst", action="build env", outcome="failed",
                              detail="pip failed: nosuchpkg", seconds=5.0))
    for iid, usd in (("acme__lib-3", 0.25), ("acme__lib-3", 0.5)):
        store.add_llm_call(instance_id=iid, role="explorer", model="qwen", request_sha="r", request="{}",
                           response="{}", status="ok", error="", tokens_in=100, tokens_out=10, tokens_cached=0, usd=usd,
                           seconds=1.0)
    store.save_eval_result(eval_row("gold-1", "gold", "acme__lib-1", "resolved"))
    ev = "eval-20240301T120000"
    for config, outcomes in (("none", ["unresolved", "unresolved"]), ("both", ["resolved", "resolved"]),
                             ("both-0", ["unresolved", "empty"]), ("both-2", ["resolved", "unresolved"])):
        for iid, status in zip(("acme__lib-1", "acme__lib-2"), outcomes, strict=True):
            store.save_eval_result(eval_row(f"{ev}-{config}", "factory-repair/qwen", iid, status))
            store.add_llm_call(instance_id=f"{iid}@{ev}:{config}", role="patch", model="qwen", request_sha="r",
                               request="{}", response="{}", status="ok", error="", tokens_in=1000, tokens_out=50,
                               tokens_cached=0, usd=0.0, seconds=1.0)
    for k, status in enumerate(["resolved", "unresolved", "resolved", "resolved"], 1):
        store.save_eval_result(eval_row(f"train-20240301T100000-{k}", "factory-repair/qwen", "acme__lib-1", status))
