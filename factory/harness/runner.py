"""The container side of ``factory eval``: run one (model, instance) prediction and record it.

Per prediction: refuse a patch whose paths escape the repository (``patch_safety``), else run the
instance's eval script in its image with the model patch applied first (``grading.runner.run_eval``: fresh
sandboxed container, network off, limits, a timeout that kills). The eval script resets the target
test files to base_commit, removes files the test patch creates and applies the test patch itself, so
a patch that edits or deletes the tests cannot win; the verdict comes from the root-only status file and
per-test results (docs/grading.md), never from the log, so fake markers (ours or SWE-bench's) or PASSED
lines cannot win either.

Each prediction's files go to its log folder and its result to a row of ``eval_results``. Resume is
content-addressed: a graded result is reused, without starting a container, only when the instance, the
patch bytes (sha256), the image id and the eval script are all unchanged — whatever run id produced it;
anything else runs again. Also here: the engine look-ups around a run (image ids, containers left over).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.grading import patch_safety
from factory.grading.runner import run_eval
from factory.grading.verdict import RunGrade
from factory.harness.dataset import EvalInstance
from factory.harness.judge import Verdict, judge, model_dir, sha256
from factory.harness.predictions import Prediction
from factory.harness.reports import RUN_EVALUATION_DIR, InstanceResult, _write, grade_from_json, grade_to_json
from factory.store import Store

RUN_LABEL = "issue-factory.eval-run"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class _Runner:
    """Evaluates one (model, instance) prediction: files, reuse, container run, verdict, DB row."""

    def __init__(self, run_id: str, root: Path, store: Store, settings: Settings, client, reuse: bool,
                 image_ids: dict[str, str]):
        self.run_id, self.root, self.store, self.settings = run_id, root, store, settings
        self.client, self.reuse, self.image_ids = client, reuse, image_ids

    def __call__(self, inst: EvalInstance, pred: Prediction) -> InstanceResult:
        log_dir = self.root / RUN_EVALUATION_DIR / self.run_id / model_dir(pred.model) / inst.instance_id
        (log_dir / "report.json").unlink(missing_ok=True)  # an earlier result of this run id must not survive
        patch_sha, script_sha = sha256(pred.patch), sha256(inst.eval_script)
        image_id = self.image_ids.get(inst.image, "")
        note = f"image {inst.image} is not on the engine; rebuild it with `factory build`"
        if image_id and inst.image_digest and image_id != inst.image_digest:
            # the tag names another image than the one the dataset's verdicts came from: nothing runs
            note = (f"image {inst.image} is {image_id}, not {inst.image_digest} as the dataset pins; "
                    "load the saved images (`factory images load DIR`)")
            image_id = ""
        if pred.empty:
            (log_dir / "test_output.txt").unlink(missing_ok=True)
            verdict = judge(inst, pred, None)
            return self._finish(inst, pred, verdict, None, log_dir=None, patch_sha=patch_sha, image_id=image_id,
                                script_sha=script_sha, log=[])
        log_dir.mkdir(parents=True, exist_ok=True)
        _write(log_dir / "patch.diff", pred.patch or "")
        _write(log_dir / "eval.sh", inst.eval_script)
        log = [
            f"{_now()} run {self.run_id}: {inst.instance_id} by {pred.model}",
            f"image {inst.image} ({image_id or 'not found'})",
            f"patch sha256 {patch_sha} ({len((pred.patch or '').encode())} bytes); eval script sha256 {script_sha}",
        ]
        refused = patch_safety.refusal(pred.patch or "")
        if refused or not image_id:
            (log_dir / "test_output.txt").unlink(missing_ok=True)  # nothing runs
        if refused:
            log.append(f"patch refused, not applied: {refused}")
            return self._finish(inst, pred, judge(inst, pred, None, refused), None, log_dir=log_dir,
                                patch_sha=patch_sha, image_id=image_id, script_sha=script_sha, log=log)
        if not image_id:
            grade = RunGrade("error", None, infra_error="image_missing", note=note)
            log.append(grade.note)
            return self._finish(inst, pred, judge(inst, pred, grade), grade, log_dir=log_dir, patch_sha=patch_sha,
                                image_id=image_id, script_sha=script_sha, log=log)
        stored = self.store.reusable_eval_result(inst.instance_id, patch_sha, image_id, script_sha) if self.reuse \
            else None
        if stored is not None and stored["grade"]:
            origin = stored["reused_from"] or stored["run_id"]
            grade = grade_from_json(stored["grade"])
            log.append(f"reused the result of run {origin} (same instance, patch bytes, image id and eval script):"
                       " no container started")
            old_output = Path(stored["log_dir"]) / "test_output.txt" if stored["log_dir"] else None
            if old_output is not None and old_output.parent != log_dir:
                if old_output.is_file():
                    _write(log_dir / "test_output.txt", old_output.read_text(encoding="utf-8", errors="replace"))
                else:
                    (log_dir / "test_output.txt").unlink(missing_ok=True)
            return self._finish(inst, pred, judge(inst, pred, grade), grade, log_dir=log_dir, patch_sha=patch_sha,
                                image_id=image_id, script_sha=script_sha, log=log, reused_from=origin)
        result, grade = run_eval(
            self.client, inst.image, inst.eval_script, pred.patch or "", "model_patch", self.settings,
            {RUN_LABEL: self.run_id, "issue-factory.instance": inst.instance_id, "issue-factory.phase": "eval"},
        )
        _write(log_dir / "test_output.txt", result.log if result else grade.note)
        seconds = round(result.seconds, 3) if result else 0.0
        log.append(f"container ran {seconds:.2f}s (timeout {self.settings.build.run_timeout}s); test command "
                   f"{grade.test_seconds if grade.test_seconds is not None else '?'}s; exit code {grade.exit_code}")
        return self._finish(inst, pred, judge(inst, pred, grade), grade, log_dir=log_dir, patch_sha=patch_sha,
                            image_id=image_id, script_sha=script_sha, log=log, seconds=seconds)

    def _finish(self, inst: EvalInstance, pred: Prediction, verdict: Verdict, grade: RunGrade | None, *,
                log_dir: Path | None, patch_sha: str, image_id: str, script_sha: str, log: list[str],
                seconds: float = 0.0, reused_from: str = "") -> InstanceResult:
        if log_dir is not None:
            body = verdict.report[inst.instance_id]
            log.append(f"patch applied: {body['patch_successfully_applied']}; "
                       f"verdict: {verdict.status}{' (' + verdict.reason + ')' if verdict.reason else ''}")
            if verdict.status in ("resolved", "unresolved"):  # errors get no report.json, as in SWE-bench
                _write(log_dir / "report.json", json.dumps(verdict.report, indent=4) + "\n")
            _write(log_dir / "run_instance.log", "\n".join(log) + "\n")
        self.store.save_eval_result({
            "run_id": self.run_id, "model": pred.model, "instance_id": inst.instance_id,
            "patch_sha256": patch_sha, "image_id": image_id, "eval_script_sha256": script_sha,
            "status": verdict.status, "reason": verdict.reason, "resolved": verdict.status == "resolved",
            "report": verdict.report, "grade": grade_to_json(grade) if grade else {},
            "exit_code": grade.exit_code if grade else None, "test_seconds": grade.test_seconds if grade else None,
            "seconds": seconds, "reused_from": reused_from, "log_dir": str(log_dir) if log_dir else "",
        })
        return InstanceResult(inst.instance_id, pred.model, verdict.status, verdict.reason, verdict.report,
                              seconds, grade.test_seconds if grade else None, reused_from, log_dir,
                              grade.infra_error if grade is not None and verdict.status == "error" else "")


def _image_ids(client, images: Iterable[str]) -> dict[str, str]:
    """Engine image id (``sha256:…``) per image tag; ``""`` for an image the engine does not have."""
    import requests
    from docker.errors import DockerException, ImageNotFound

    ids: dict[str, str] = {}
    for tag in sorted(set(images)):
        try:
            ids[tag] = client.images.get(tag).id
        except ImageNotFound:
            ids[tag] = ""
        except (DockerException, requests.RequestException) as exc:
            raise UserError(f"the Docker engine failed while looking up {tag}: {exc}",
                            "check `factory doctor`, then run the same command again (finished results are kept)"
                            ) from exc
    return ids


def _unstopped(client, run_id: str) -> list[str]:
    """Containers of this run still on the engine (each run removes its own, so normally none)."""
    import requests
    from docker.errors import DockerException

    try:
        return [c.name for c in client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})]
    except (DockerException, requests.RequestException):
        return []
