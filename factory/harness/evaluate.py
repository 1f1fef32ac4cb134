"""Evaluate an agent's predictions on a dataset, with SWE-bench's reports (and more trustworthy verdicts).

Per prediction: refuse a patch whose paths escape the repository (``patch_safety``), else run the
instance's eval script in its image with the model patch applied first (``validation.run_eval``: fresh
sandboxed container, network off, limits, a timeout that kills). The eval script resets the target
test files to base_commit, removes files the test patch creates and applies the test patch itself, so
a patch that edits or deletes the tests cannot win; the verdict comes from the last exit-code marker the
script prints and the JUnit report, so fake markers or PASSED lines cannot win either.

resolved = the run graded ``pass`` (exit code 0, JUnit agrees) and every FAIL_TO_PASS and PASS_TO_PASS
test passed. A patch that does not apply (or is refused) is a model failure: completed, unresolved,
``patch_successfully_applied: false``. Infrastructure failures (timeout, OOM, Docker, marker missing,
image missing) are ``error``, never ``unresolved``, and get no report.json, exactly as SWE-bench counts them.

Output is SWE-bench's layout under ``report_dir``:
``logs/run_evaluation/<run_id>/<model dir>/<instance_id>/{report.json, patch.diff, eval.sh,
test_output.txt, run_instance.log}`` and the run summary ``<model dir>.<run_id>.json`` (schema_version 2);
the model dir is SWE-bench's ``/`` -> ``__`` for plain names and ``stem+hash`` otherwise (``model_dir``:
two model names never share a folder or a summary).
Every result is also a row of ``eval_results``. Resume is content-addressed: a graded result is reused,
without starting a container, only when the instance, the patch bytes (sha256), the image id and the
eval script are all unchanged — whatever run id produced it; anything else runs again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from factory.core.errors import UserError
from factory.core.models import TestOutcome
from factory.core.settings import Settings
from factory.grading import patch_safety
from factory.grading.runner import run_eval
from factory.grading.verdict import RunGrade
from factory.harness.predictions import Prediction, Predictions
from factory.harness.predictions import load as load_predictions
from factory.store import Store

RUN_EVALUATION_DIR = Path("logs") / "run_evaluation"
RUN_LABEL = "issue-factory.eval-run"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_BUCKETS = ("FAIL_TO_PASS", "PASS_TO_PASS", "FAIL_TO_FAIL", "PASS_TO_FAIL")

# ---- dataset ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalInstance:
    """What the harness needs of one dataset record (our export's fields)."""

    instance_id: str
    image: str
    eval_script: str
    patch: str
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]


def _test_list(value: object, field_name: str, iid: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):  # the Hub stores the lists JSON-encoded
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            value = None
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise UserError(f"{where}: {field_name} of {iid} is not a list of test ids",
                        "export the dataset again with `factory export`")
    return tuple(value)


def instances_from_records(records: Iterable[dict], where: str) -> list[EvalInstance]:
    out: list[EvalInstance] = []
    for record in records:
        iid = record.get("instance_id")
        if not isinstance(iid, str) or not iid or "/" in iid or iid in (".", ".."):
            raise UserError(f"{where}: a record has no usable instance_id ({iid!r})",
                            "export the dataset again with `factory export`")
        missing = [k for k in ("image", "eval_script") if not record.get(k)]
        if missing:
            raise UserError(
                f"{where}: {iid} has no {' / '.join(missing)} (a dataset not exported by issue-factory?)",
                "evaluate on a dataset written by `factory export`, or omit --dataset to use the DB",
            )
        out.append(EvalInstance(
            iid, record["image"], record["eval_script"], record.get("patch") or "",
            _test_list(record.get("FAIL_TO_PASS", []), "FAIL_TO_PASS", iid, where),
            _test_list(record.get("PASS_TO_PASS", []), "PASS_TO_PASS", iid, where),
        ))
    return out


def load_dataset(path: Path) -> list[dict]:
    """Records of a dataset JSONL file (a JSON list is accepted too); any bad line is an error."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"dataset {path} not found",
                        "write one with `factory export --out dataset.jsonl`, or omit --dataset to use the DB")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UserError(f"dataset {path} is not valid JSON (line {exc.lineno}: {exc.msg})",
                            "export it again with `factory export`") from exc
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"dataset {path} line {number} is not JSON ({exc.msg})",
                                "export it again with `factory export`") from exc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise UserError(f"dataset {path} is not a list of instance records", "export it with `factory export`")
    if not records:
        raise UserError(f"dataset {path} holds no instance", "export valid instances with `factory export`")
    return records


def dataset_from_store(store: Store) -> list[dict]:
    """The store's valid instances as export records (what ``factory export`` would write)."""
    from factory.pipeline.export import instance_records

    records = instance_records(store)
    if not records:
        raise UserError(f"the database {store.path} has no valid instance to evaluate on",
                        "run `factory build` first, or pass --dataset dataset.jsonl")
    return records


# ---- grading (pure) --------------------------------------------------------------------------------


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


def run_summary(
    instances: list[EvalInstance], preds: dict[str, Prediction], results: dict[str, InstanceResult],
    unstopped: list[str],
) -> dict:
    """SWE-bench's run summary (``reporting.make_run_report``, schema_version 2) for one model."""
    ids = [i.instance_id for i in instances]
    by = {s: sorted(i for i, r in results.items() if r.status == s) for s in ("resolved", "unresolved", "error")}
    empty = sorted(i for i, p in preds.items() if p.empty)
    return {
        "total_instances": len(ids),
        "submitted_instances": len(preds),
        "completed_instances": len(by["resolved"]) + len(by["unresolved"]),
        "resolved_instances": len(by["resolved"]),
        "unresolved_instances": len(by["unresolved"]),
        "empty_patch_instances": len(empty),
        "error_instances": len(by["error"]),
        "completed_ids": sorted(by["resolved"] + by["unresolved"]),
        "incomplete_ids": sorted(i for i in ids if i not in preds),
        "empty_patch_ids": empty,
        "submitted_ids": sorted(preds),
        "resolved_ids": by["resolved"],
        "unresolved_ids": by["unresolved"],
        "error_ids": by["error"],
        "schema_version": 2,
        "unstopped_instances": len(unstopped),
        "unstopped_containers": sorted(unstopped),
        "unremoved_images": [],  # the harness builds no image: instance images belong to the dataset
    }


# ---- the run ---------------------------------------------------------------------------------------


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
            grade = RunGrade("error", None, infra_error="image_missing",
                             note=f"image {inst.image} is not on the engine; rebuild it with `factory build`")
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
        log.append(f"container ran {seconds:.2f}s (timeout {self.settings.run_timeout}s); test command "
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
                              seconds, grade.test_seconds if grade else None, reused_from, log_dir)


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


def evaluate(
    predictions: str | Path | Predictions,
    records: list[dict],
    run_id: str,
    store: Store,
    settings: Settings,
    *,
    report_dir: Path = Path("."),
    instance_ids: Iterable[str] | None = None,
    workers: int = 1,
    timeout: int | None = None,
    reuse: bool = True,
    client=None,
    on_plan: Callable[[int], None] | None = None,
    on_done: Callable[[InstanceResult], None] | None = None,
    dataset_name: str = "dataset",
) -> EvalReport:
    """Grade ``predictions`` (a file, ``gold`` or loaded ones) on the dataset ``records``; write SWE-bench's
    reports under ``report_dir`` and one ``eval_results`` row per prediction; return what happened."""
    started = time.monotonic()
    if not _RUN_ID.match(run_id or "") or run_id in (".", ".."):
        raise UserError(f"run id {run_id!r} cannot name a report directory",
                        "use letters, digits, '.', '_' and '-' only, e.g. --run-id my-agent-v1")
    if workers < 1:
        raise UserError(f"--workers {workers} is not a number of workers", "pass --workers 1 or more")
    instances = instances_from_records(records, dataset_name)
    known = {i.instance_id: i for i in instances}
    if instance_ids is not None:
        wanted = list(dict.fromkeys(instance_ids))
        unknown = [i for i in wanted if i not in known]
        if unknown:
            sample = ", ".join(sorted(known)[:5])
            raise UserError(f"instance {', '.join(unknown)} is not in {dataset_name}",
                            f"pass --instance with an id of the dataset (e.g. {sample})")
        instances = [known[i] for i in wanted]
    selected = {i.instance_id for i in instances}

    loaded = predictions if isinstance(predictions, Predictions) else load_predictions(predictions, records)
    report = EvalReport(run_id, problems=list(loaded.problems))
    by_model: dict[str, dict[str, Prediction]] = {}
    for pred in loaded.items:
        if pred.instance_id not in known:
            where = f"{Path(loaded.source).name} line {pred.line}" if pred.line else loaded.source
            report.problems.append(f"{where}: instance {pred.instance_id} is not in {dataset_name}")
        elif pred.instance_id in selected:
            by_model.setdefault(pred.model, {})[pred.instance_id] = pred
    if not loaded.items:
        first = f" ({loaded.problems[0]})" if loaded.problems else ""
        raise UserError(f"no usable prediction in {loaded.source}{first}",
                        "each record needs instance_id, model_name_or_path and model_patch")
    if not by_model:
        raise UserError(f"none of the predictions in {loaded.source} names an instance of {dataset_name}"
                        + (" selected by --instance" if instance_ids is not None else ""),
                        "pass the --dataset the predictions were made for (or check --instance)")

    root = Path(report_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the report directory {root}: {exc.strerror}",
                        "pass --report-dir with a writable directory") from exc
    if client is None:
        from factory.docker.runtime import connect

        client = connect()
    from factory.docker.runtime import reap_leaked_containers

    report.reaped_containers = reap_leaked_containers(client)
    if timeout is not None:
        if timeout < 1:
            raise UserError(f"--timeout {timeout} is not a number of seconds", "pass --timeout 1 or more")
        settings = settings.model_copy(update={"run_timeout": timeout})
    image_ids = _image_ids(client, (i.image for i in instances))
    runner = _Runner(run_id, root, store, settings, client, reuse, image_ids)
    tasks = [(inst, by_model[m][inst.instance_id]) for m in sorted(by_model) for inst in instances
             if inst.instance_id in by_model[m]]
    if on_plan:
        on_plan(len(tasks))
    results: list[InstanceResult] = []

    def done(result: InstanceResult) -> None:
        results.append(result)
        if on_done:
            on_done(result)

    if workers <= 1:
        for inst, pred in tasks:
            done(runner(inst, pred))
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="factory-eval")
        try:
            for future in as_completed([pool.submit(runner, inst, pred) for inst, pred in tasks]):
                done(future.result())
        except BaseException:
            # Ctrl-C or a failing worker: stop now. Finished results are stored; a rerun reuses them.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    report.results = sorted(results, key=lambda r: (r.model, r.instance_id))
    unstopped = _unstopped(client, run_id)
    for model, preds in sorted(by_model.items()):
        mine = {r.instance_id: r for r in report.results if r.model == model}
        # Two extra keys (SWE-bench readers ignore them) say whose summary a file is.
        summary = {**run_summary(instances, preds, mine, unstopped), "model_name_or_path": model, "run_id": run_id}
        path = _summary_path(root, model, run_id)
        _write(path, json.dumps(summary, indent=4) + "\n")
        report.summaries[model], report.summary_paths[model] = summary, path
    report.seconds = time.monotonic() - started
    return report
