"""Fail-to-pass validation: run the eval script before and after the gold patch, N times each.

Each run is a fresh sandboxed container of the instance image (network off, limits, a timeout that
kills it), graded by ``runner.py`` and stored the moment it ends, with its log on disk; ``classify.py``
turns the set of runs into the verdict, and a last collect-only run proves every listed id is a node id
``pytest`` accepts.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import docker

from factory.core.models import Candidate, InfraError, Rejection, Status, Validation
from factory.core.settings import Settings
from factory.grading.blame import environment_evidence
from factory.grading.classify import Verdict, classify
from factory.grading.failure_cause import fix_facts
from factory.grading.runner import run_eval, unaccepted_ids
from factory.grading.verdict import RunGrade
from factory.store import Store


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
    logged: list[tuple[str, RunGrade, str]] = []
    plan = [("before", i, "") for i in range(settings.build.runs_before)]
    plan += [("after", i, candidate.patch) for i in range(settings.build.runs_after)]
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
        logged.append((phase, grade, log))
        if grade.infra_error or grade.patch_error:
            break  # the verdict is decided; more runs would cost time and say nothing new
    facts = fix_facts(candidate.patch, candidate.test_patch)
    verdict = classify(grades["before"], grades["after"], facts)
    if verdict.status is Status.VALID:
        return check_node_ids(client, candidate, image, eval_script, settings, verdict, log_dir)
    if verdict.status is Status.REJECTED and verdict.reason != Rejection.FLAKY:  # flaky: the candidate's own
        verdict.environment = environment_evidence(logged, facts)
    return verdict


_NOT_FOUND = re.compile(r"^ERROR: not found: (?:/testbed/)?(\S.*)$", re.M)
"""How pytest names an argument it cannot select (after which it collects nothing else of that run)."""


def check_node_ids(
    client: docker.DockerClient, candidate: Candidate, image: str, eval_script: str, settings: Settings,
    verdict: Verdict, log_dir: Path,
) -> Verdict:
    """Every FAIL_TO_PASS / PASS_TO_PASS id must be one pytest collects in the instance image (test + gold
    patch applied): one ``--collect-only`` run with all of them as arguments. An id that run does not collect
    is looked for once more in a collect-only run of its file: an old pytest cannot take some real ids as
    arguments (6.2 splits ``test_url[http://[2001::1]:80]`` at the ``::``; escaped newlines do not match), yet
    it collects them from the file, and graders read ids from the log, not from arguments. Only an id missing
    from its own file's collection is our bug (not a node id): the instance is ``error(internal)``."""
    ids = verdict.fail_to_pass + verdict.pass_to_pass
    if not ids:
        return verdict
    missing, note = _collected_from(client, candidate, image, eval_script, settings, ids, log_dir / "node-ids.log")
    if note or not missing:
        return note or verdict
    files = sorted({i.split("::")[0] for i in missing})
    still, note = _collected_from(client, candidate, image, eval_script, settings, files,
                                  log_dir / "node-ids-files.log", wanted=missing)
    if note:
        return note
    if still:
        return Verdict(Status.ERROR, InfraError.INTERNAL.value,
                       detail=f"pytest does not collect {len(still)} listed id(s), not even from their files: "
                              + ", ".join(still[:5]))
    refused = _NOT_FOUND.findall((log_dir / "node-ids.log").read_text(errors="replace")) or missing
    verdict.detail = (f"{verdict.detail}; {len(refused)} id(s) this pytest collects from their files but does "
                      f"not take as arguments (e.g. {refused[0]})")
    return verdict


def _collected_from(client, candidate: Candidate, image: str, eval_script: str, settings: Settings,
                    arguments: list[str], log: Path, wanted: list[str] | None = None
                    ) -> tuple[list[str], Verdict | None]:
    """(the ``wanted`` ids — default: ``arguments`` — that a collect-only run given ``arguments`` did not
    collect, or a Verdict when the run itself failed)."""
    wanted = arguments if wanted is None else wanted
    result, grade = run_eval(
        client, image, eval_script, candidate.patch, "gold_patch", settings,
        {"issue-factory.instance": candidate.instance_id, "issue-factory.phase": "ids"},
        extra_inputs={"ids.txt": "".join(f"{a}\n" for a in arguments)},
    )
    log.write_text(result.log if result else grade.note)
    if grade.infra_error:
        return [], Verdict(Status.ERROR, grade.infra_error, detail=f"node-id check: {grade.note}")
    missing = unaccepted_ids(result, wanted)
    if missing is None:
        return [], Verdict(Status.ERROR, InfraError.INTERNAL.value,
                           detail=f"node-id check: pytest reported no collected ids ({grade.note})")
    return missing, None
