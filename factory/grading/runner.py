"""The run driver: one graded run of an eval script in a fresh sandboxed container of an instance image.

Validation (``fail_to_pass.py``) and the harness (``factory eval``) both grade through :func:`run_eval`, so a
model's patch meets exactly the rules the gold patch met. The verdict comes from the root-only results
folder (``contract.py``), never from the log.
"""

from __future__ import annotations

import docker

from factory.core.settings import Settings
from factory.docker.runtime import EngineError, RunResult, Sandbox, run_sandboxed
from factory.grading.contract import (
    COLLECTED,
    CONTRACT,
    OUTPUT_FILES,
    RESULTS_FILE,
    STATUS_FILE,
    contract_of,
    run_driver,
)
from factory.grading.results import mask_canaries, parse_status, parse_stream, status_canaries
from factory.grading.verdict import RunGrade, grade_files


def sandbox(settings: Settings) -> Sandbox:
    return Sandbox(settings.build.mem_limit, settings.build.pids_limit, settings.build.cpus, settings.build.run_timeout)


def run_eval(
    client: docker.DockerClient,
    image: str,
    eval_script: str,
    fix_patch: str,
    patch_name: str,
    settings: Settings,
    run_labels: dict[str, str] | None = None,
    extra_inputs: dict[str, str] | None = None,
) -> tuple[RunResult | None, RunGrade]:
    """One graded run of ``eval_script`` in ``image`` with ``fix_patch`` applied first (may be empty).

    The container starts as root (the eval script drops to the test user for everything the tests can
    touch); the verdict is read from the root-only results folder copied out after the container stops.
    """
    if contract_of(eval_script) < CONTRACT:
        return None, RunGrade("error", None, infra_error="internal", note=(
            f"the eval script predates grading contract {CONTRACT} (no root-only verdict, no canaries): "
            "build the instance again with `factory build --rebuild`, then export again"))
    try:
        result = run_sandboxed(
            client,
            image,
            ["/bin/bash", "/factory/run.sh"],
            {"run.sh": run_driver(patch_name), "eval.sh": eval_script, "fix.patch": fix_patch,
             **(extra_inputs or {})},
            sandbox(settings),
            collect=COLLECTED,
            extra_labels=run_labels,
            user="0",
        )
    except EngineError as exc:
        return None, RunGrade("error", None, infra_error="docker", note=str(exc)[:500])
    if result.timed_out or result.oom_killed:  # killed before the eval script printed the test output
        head, tail = (result.files.get(p, b"").decode("utf-8", "replace") for p in OUTPUT_FILES)
        if head:
            result.log += f"{head}\n[factory: the test command was killed; its last output:]\n{tail[-20000:]}"
    grade = grade_files(result.log, result.files, timed_out=result.timed_out, oom=result.oom_killed)
    status = parse_status((result.files.get(STATUS_FILE) or b"").decode("utf-8", "replace"))
    result.log = mask_canaries(result.log, status_canaries(status))
    return result, grade


def unaccepted_ids(result: RunResult | None, ids: list[str]) -> list[str] | None:
    """Ids of ``ids`` that the collect-only run did not collect (None: the run said nothing usable)."""
    if result is None:
        return None
    text = result.files.get(RESULTS_FILE)
    status = parse_status((result.files.get(STATUS_FILE) or b"").decode("utf-8", "replace"))
    stream = parse_stream(text.decode("utf-8", "replace") if text else None,
                          {name for _, _, name in status_canaries(status)})
    if stream.collected is None:
        return None
    collected = set(stream.collected)
    return [i for i in ids if i not in collected]
