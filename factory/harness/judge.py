"""Judging one prediction, purely: its graded run in, SWE-bench's verdict and per-instance report out.

resolved = the run graded ``pass`` (exit code 0, JUnit agrees) and every FAIL_TO_PASS and PASS_TO_PASS
test passed. A patch that does not apply (or is refused) is a model failure: completed, unresolved,
``patch_successfully_applied: false``. Infrastructure failures (timeout, OOM, Docker, marker missing,
image missing) are ``error``, never ``unresolved``, exactly as SWE-bench counts them.

Also here, because the verdict's identity hangs on them: :func:`model_dir`, the one safe report directory
of a model name (two names never share one), and :func:`sha256`, the digest of a patch or eval script
that the reuse key is made of. Nothing in this module touches Docker, the store or the file system.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from factory.core.models import TestOutcome
from factory.grading.verdict import RunGrade
from factory.harness.dataset import EvalInstance
from factory.harness.predictions import Prediction

_BUCKETS = ("FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL")
_PLAIN_SEGMENT = re.compile(r"[A-Za-z0-9.-]+(?:_[A-Za-z0-9.-]+)*")
"""A segment of a plain model name: ``[A-Za-z0-9._-]``, no ``_`` at an edge and never ``__``."""
_PLAIN_DIR_LIMIT = 128
"""Longest directory name a plain model name keeps (a summary file name adds ``.<run_id>.json``)."""
_STEM_LIMIT = 64
"""Characters of the sanitized name kept before ``+<hash>`` in a non-plain model's directory."""


def _plain_model(model: str) -> bool:
    """Whether ``model.replace("/", "__")`` is SWE-bench's directory for it *and* cannot be another
    name's: each ``/``-separated segment is non-empty, made of ``[A-Za-z0-9._-]``, not all dots, and has
    no ``_`` at its edges and no ``__``, so every ``__`` in the result is a former ``/``."""
    segments = model.split("/")
    return (len(model) + len(segments) - 1 <= _PLAIN_DIR_LIMIT
            and all(_PLAIN_SEGMENT.fullmatch(s) and s.strip(".") for s in segments))


def _name_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def model_dir(model: str) -> str:
    """The report directory of a model: SWE-bench's ``model.replace("/", "__")`` for a plain name
    (``openai/gpt-4.1`` → ``openai__gpt-4.1``); any other name (``a__b``, ``..``, control characters,
    a very long name) gets a sanitized stem + ``+`` + 16 hex of its sha256. A ``+`` never occurs in a
    plain directory, so distinct names never share one, and every result is a single safe path
    component (``[A-Za-z0-9._+-]``, not ``.`` or ``..``, at most 128 characters)."""
    if _plain_model(model):
        return model.replace("/", "__")
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", model.replace("/", "__"))[:_STEM_LIMIT]
    return f"{stem}+{_name_hash(model)[:16]}"


def sha256(text: str | None) -> str:
    return hashlib.sha256(text.encode()).hexdigest() if text else ""


def tests_status(inst: EvalInstance, tests: dict[str, TestOutcome | str], ran: bool) -> dict:
    """SWE-bench ``tests_status``: each listed test is a success only if its JUnit outcome is ``passed``
    (a test that did not run, or nothing ran at all, is a failure). The dataset has no FAIL_TO_FAIL /
    PASS_TO_FAIL lists, so those buckets stay empty, as in SWE-bench."""
    def split(names: tuple[str, ...]) -> dict[str, list[str]]:
        passed = [n for n in names if ran and tests.get(n) == TestOutcome.PASSED]
        return {"success": passed, "failure": [n for n in names if n not in passed]}

    status = {"FAIL_TO_PASS": split(inst.fail_to_pass), "PASS_TO_PASS": split(inst.pass_to_pass)}
    status.update({b: {"success": [], "failure": []} for b in _BUCKETS[2:]})
    return status


@dataclass
class Verdict:
    status: str
    """``resolved`` | ``unresolved`` | ``error`` | ``empty``."""
    reason: str
    report: dict
    """The SWE-bench per-instance report: ``{instance_id: {patch_is_None, …, tests_status}}``."""


def judge(inst: EvalInstance, pred: Prediction, grade: RunGrade | None, refused: str = "") -> Verdict:
    """Verdict and report of one prediction from its graded run (None: not run — empty or refused)."""
    body: dict = {
        "patch_is_None": pred.patch is None,
        "patch_exists": not pred.empty,
        "patch_successfully_applied": False,
        "resolved": False,
    }
    report = {inst.instance_id: body}
    if pred.empty:
        return Verdict("empty", "empty patch", report)
    if refused or grade is None:
        body["tests_status"] = tests_status(inst, {}, ran=False)
        return Verdict("unresolved", f"patch refused: {refused}", report)
    applied = grade.patch_error != "model_patch"
    body["patch_successfully_applied"] = applied
    ran = applied and not grade.patch_error and not grade.infra_error
    body["tests_status"] = status = tests_status(inst, grade.tests, ran)
    if grade.infra_error:
        return Verdict("error", f"{grade.infra_error}: {grade.note}" if grade.note else grade.infra_error, report)
    if not applied:
        return Verdict("unresolved", "patch did not apply", report)
    if grade.patch_error:
        return Verdict("unresolved", f"{grade.patch_error} did not apply on top of this patch", report)
    if grade.output_cut:
        body["output_cut_bytes"] = grade.output_cut  # the eval script's cap applied (docs/grading.md)
    if grade.tampered:
        return Verdict("unresolved", f"tampered: {grade.tampered}", report)
    failing = {k: len(status[k]["failure"]) for k in ("FAIL_TO_PASS", "PASS_TO_PASS")}
    if grade.verdict == "pass" and not any(failing.values()):
        body["resolved"] = True
        return Verdict("resolved", "", report)
    if any(failing.values()):
        reason = (f"{failing['FAIL_TO_PASS']}/{len(inst.fail_to_pass)} FAIL_TO_PASS and "
                  f"{failing['PASS_TO_PASS']}/{len(inst.pass_to_pass)} PASS_TO_PASS not passing")
    else:
        reason = grade.note or f"run verdict {grade.verdict}"
    return Verdict("unresolved", reason, report)
