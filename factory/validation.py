"""Fail-to-pass validation: run the eval script before and after the gold patch, N times each.

Each run is a fresh sandboxed container of the instance image (network off, limits, a timeout that
kills it). Every run is graded (``grading.py``) and stored the moment it ends, with its log on disk;
``classify.py`` turns the set of runs into the verdict.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import docker

from factory.classify import Verdict, classify
from factory.config import Settings
from factory.docker.runtime import EngineError, RunResult, Sandbox, run_sandboxed
from factory.eval_contract import (
    COLLECTED,
    CONTRACT,
    OUTPUT_FILES,
    RESULTS_FILE,
    STATUS_FILE,
    contract_of,
    run_driver,
)
from factory.failure_cause import fix_facts
from factory.grading import RunGrade, grade_files
from factory.models import Candidate, InfraError, Status, Validation
from factory.run_results import mask_canaries, parse_status, parse_stream, status_canaries
from factory.store import Store


def sandbox(settings: Settings) -> Sandbox:
    return Sandbox(settings.mem_limit, settings.pids_limit, settings.cpus, settings.run_timeout)


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


def validate(
    client: docker.DockerClient,
    candidate: Candidate,
    image: str,
    eval_script: str,
    store: Store,
    settings: Settings,
    log_dir: Path,
) -> Verdict:
    """Run before (test patch only) and after (test + gold patch) phases and classify the outcome."""
    store.clear_validations(candidate.instance_id)
    log_dir.mkdir(parents=True, exist_ok=True)
    grades: dict[str, list[RunGrade]] = {"before": [], "after": []}
    plan = [("before", i, "") for i in range(settings.runs_before)]
    plan += [("after", i, candidate.patch) for i in range(settings.runs_after)]
    for phase, index, patch in plan:
        result, grade = run_eval(
            client, image, eval_script, patch, "gold_patch", settings,
            {"issue-factory.instance": candidate.instance_id, "issue-factory.phase": phase},
        )
        log = result.log if result else grade.note
        log_path = log_dir / f"{phase}-{index}.log"
        log_path.write_text(log)
        store.add_validation(Validation(
            instance_id=candidate.instance_id,
            phase=phase,
            run_index=index,
            exit_code=grade.exit_code,
            verdict=grade.verdict,
            infra_error=grade.infra_error,
            patch_error=grade.patch_error,
            tests={k: v.value for k, v in grade.tests.items()},
            seconds=round(result.seconds, 3) if result else 0.0,
            timed_out=bool(result and result.timed_out),
            log_path=str(log_path),
            log_sha256=hashlib.sha256(log.encode()).hexdigest(),
        ))
        grades[phase].append(grade)
        if grade.infra_error or grade.patch_error:
            break  # the verdict is decided; more runs would cost time and say nothing new
    verdict = classify(grades["before"], grades["after"], fix_facts(candidate.patch, candidate.test_patch))
    if verdict.status is Status.VALID:
        verdict = check_node_ids(client, candidate, image, eval_script, settings, verdict, log_dir)
    return verdict


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


def check_node_ids(
    client: docker.DockerClient, candidate: Candidate, image: str, eval_script: str, settings: Settings,
    verdict: Verdict, log_dir: Path,
) -> Verdict:
    """Every FAIL_TO_PASS / PASS_TO_PASS id must be one that ``pytest <id>`` accepts in the instance image
    (test + gold patch applied): one ``--collect-only`` run with all of them as arguments. An id it does
    not collect is our bug (an id that is not a node id), so the instance is ``error(internal)``, not valid."""
    ids = verdict.fail_to_pass + verdict.pass_to_pass
    if not ids:
        return verdict
    result, grade = run_eval(
        client, image, eval_script, candidate.patch, "gold_patch", settings,
        {"issue-factory.instance": candidate.instance_id, "issue-factory.phase": "ids"},
        extra_inputs={"ids.txt": "".join(f"{i}\n" for i in ids)},
    )
    (log_dir / "node-ids.log").write_text(result.log if result else grade.note)
    if grade.infra_error:
        return Verdict(Status.ERROR, grade.infra_error, detail=f"node-id check: {grade.note}")
    missing = unaccepted_ids(result, ids)
    if missing is None:
        return Verdict(Status.ERROR, InfraError.INTERNAL.value,
                       detail=f"node-id check: pytest reported no collected ids ({grade.note})")
    if missing:
        return Verdict(Status.ERROR, InfraError.INTERNAL.value,
                       detail=f"pytest does not accept {len(missing)} listed id(s) as arguments: "
                              + ", ".join(missing[:5]))
    return verdict
