"""What an evaluation leaves behind: results in memory, and SWE-bench's report files on disk.

Output is SWE-bench's layout under the report directory:
``logs/run_evaluation/<run_id>/<model dir>/<instance_id>/{report.json, patch.diff, eval.sh,
test_output.txt, run_instance.log}`` and the run summary ``<model dir>.<run_id>.json`` (schema_version 2);
the model dir is :func:`~factory.harness.judge.model_dir`. This module holds the result types
(:class:`InstanceResult`, :class:`EvalReport`), the run summary, the JSON form of a graded run that the
``eval_results`` rows keep for resume, the atomic file write every report goes through, and where a
summary file may go without overwriting another (model, run id)'s.
"""

from __future__ import annotations

import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import UserError
from factory.core.models import TestOutcome
from factory.grading.verdict import RunGrade
from factory.harness.dataset import EvalInstance
from factory.harness.judge import _name_hash, model_dir
from factory.harness.predictions import Prediction

RUN_EVALUATION_DIR = Path("logs") / "run_evaluation"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def grade_to_json(grade: RunGrade) -> dict:
    return {
        "verdict": grade.verdict, "exit_code": grade.exit_code, "infra_error": grade.infra_error,
        "patch_error": grade.patch_error, "note": grade.note, "test_seconds": grade.test_seconds,
        "tampered": grade.tampered, "output_cut": grade.output_cut,
        "tests": {k: TestOutcome(v).value for k, v in sorted(grade.tests.items())},
    }


def grade_from_json(data: dict) -> RunGrade:
    return RunGrade(
        data["verdict"], data["exit_code"], {k: TestOutcome(v) for k, v in data["tests"].items()},
        infra_error=data["infra_error"], patch_error=data["patch_error"], note=data["note"],
        test_seconds=data.get("test_seconds"), tampered=data.get("tampered", ""),
        output_cut=data.get("output_cut", 0),
    )


FAILURE_REASONS: dict[str, tuple[str, str]] = {
    "docker": ("container_unavailable", "environment"),
    "image_missing": ("image_missing", "environment"),
    "oom": ("out_of_memory", "ambiguous"),
    "timeout": ("tests_timed_out", "ambiguous"),
    "marker_missing": ("marker_missing", "ambiguous"),
    "internal": ("internal", "ambiguous"),
}
"""Our infrastructure error -> (SWE-bench 5.x ``failure_reasons`` value, tier). swebench guesses both from
log text (``harness/infra_failure.py``), which the patch under test writes; we take them from the run's own
error, and call *environment* only what no patch can cause (the engine failed, the image is missing). A
patch can exhaust memory, loop past the timeout or break our guard, so those are *ambiguous*. Only
``error`` instances are classified: an unresolved one was graded, its failure is the model's."""


def _failures(results: dict[str, InstanceResult]) -> tuple[list[str], list[str], dict[str, str]]:
    """``infra_failure_ids``, ``ambiguous_failure_ids`` and ``failure_reasons`` of SWE-bench's summary."""
    reasons = {i: FAILURE_REASONS.get(r.infra_error, (r.infra_error or "unknown", "ambiguous"))
               for i, r in results.items() if r.status == "error"}
    infra = sorted(i for i, (_, tier) in reasons.items() if tier == "environment")
    ambiguous = sorted(i for i, (_, tier) in reasons.items() if tier != "environment")
    return infra, ambiguous, {i: reason for i, (reason, _) in sorted(reasons.items())}


def run_summary(
    instances: list[EvalInstance], preds: dict[str, Prediction], results: dict[str, InstanceResult],
    unstopped: list[str],
) -> dict:
    """SWE-bench's run summary (``reporting.make_run_report``, schema_version 2, with swebench 5.x's
    failure classification: :data:`FAILURE_REASONS`) for one model."""
    ids = [i.instance_id for i in instances]
    by = {s: sorted(i for i, r in results.items() if r.status == s) for s in ("resolved", "unresolved", "error")}
    empty = sorted(i for i, p in preds.items() if p.empty)
    infra, ambiguous, reasons = _failures(results)
    return {
        "total_instances": len(ids),
        "submitted_instances": len(preds),
        "completed_instances": len(by["resolved"]) + len(by["unresolved"]),
        "resolved_instances": len(by["resolved"]),
        "unresolved_instances": len(by["unresolved"]),
        "infra_failure_instances": len(infra),
        "ambiguous_failure_instances": len(ambiguous),
        "empty_patch_instances": len(empty),
        "error_instances": len(by["error"]),
        "completed_ids": sorted(by["resolved"] + by["unresolved"]),
        "incomplete_ids": sorted(i for i in ids if i not in preds),
        "empty_patch_ids": empty,
        "submitted_ids": sorted(preds),
        "resolved_ids": by["resolved"],
        "unresolved_ids": by["unresolved"],
        "infra_failure_ids": infra,
        "ambiguous_failure_ids": ambiguous,
        "failure_reasons": reasons,
        "error_ids": by["error"],
        "schema_version": 2,
        "unstopped_instances": len(unstopped),
        "unstopped_containers": sorted(unstopped),
        "unremoved_images": [],  # the harness builds no image: instance images belong to the dataset
    }


@dataclass
class InstanceResult:
    instance_id: str
    model: str
    status: str
    reason: str
    report: dict
    seconds: float = 0.0
    """Container seconds this run spent (0 when not run or reused)."""
    test_seconds: float | None = None
    """Raw test-command seconds of the graded run (``FACTORY_TEST_SECONDS``)."""
    reused_from: str = ""
    """Run id whose stored result was reused; ``""`` when this run graded it (or did not run it)."""
    log_dir: Path | None = None
    infra_error: str = ""
    """An ``error`` result's infrastructure error (``timeout``, ``docker``, ``image_missing`` …), else ``""``."""

    @property
    def ran_container(self) -> bool:
        return self.seconds > 0 and not self.reused_from


@dataclass
class EvalReport:
    run_id: str
    results: list[InstanceResult] = field(default_factory=list)
    summaries: dict[str, dict] = field(default_factory=dict)
    """model -> the run summary written for it."""
    summary_paths: dict[str, Path] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    """Skipped predictions: malformed lines, duplicates, instances not in the dataset."""
    seconds: float = 0.0
    """Wall time of the whole evaluation."""
    reaped_containers: list[str] = field(default_factory=list)

    @property
    def containers_run(self) -> int:
        return sum(r.ran_container for r in self.results)


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _summary_path(root: Path, model: str, run_id: str) -> Path:
    """Where the run summary of (model, run id) goes: SWE-bench's ``<model dir>.<run_id>.json`` unless
    that file is another pair's (``a.b`` + ``c`` and ``a`` + ``b.c`` name one file), then
    ``<model dir>+<hash of the pair>.<run_id>.json``: another pair's summary is never overwritten.

    A file is this pair's when its ``model_name_or_path`` and ``run_id`` keys say so. One without them
    (SWE-bench's own, or written before those keys existed) is taken as this pair's only when no other
    reading of its name, ``<dir>.<run>.json`` split at another ``.``, has a log folder under ``root``."""
    folder = model_dir(model)
    names = [f"{folder}.{run_id}", f"{folder}+{_name_hash(json.dumps([model, run_id]))[:16]}.{run_id}"]
    for number, stem in enumerate(names):
        path = root / f"{stem}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return path
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and "model_name_or_path" in data and "run_id" in data:
            if (data["model_name_or_path"], data["run_id"]) == (model, run_id):
                return path
        elif number == 0 and path.is_file() and not any(
            stem[i + 1 :] != run_id and _RUN_ID.match(stem[i + 1 :]) and stem[:i] not in ("", ".", "..")
            and (root / RUN_EVALUATION_DIR / stem[i + 1 :] / stem[:i]).is_dir()
            for i, c in enumerate(stem) if c == "."
        ):
            return path
    raise UserError(f"every summary file name of {model!r} in run {run_id} is another run's, in {root}",
                    "pass another --report-dir or --run-id")
