"""Evaluate an agent's predictions on a dataset, with SWE-bench's reports (and more trustworthy verdicts).

This module is the orchestration of ``factory eval`` and nothing else: check the run id and options,
select the instances, match predictions to them, connect to the engine, run every (model, instance) pair
(in a thread pool when ``workers`` > 1) and write one run summary per model. The parts live next to it:
``dataset`` (what the instances are), ``predictions`` (what the agent submitted), ``judge`` (the verdict
of one graded run), ``runner`` (the container run, resume and the ``eval_results`` row) and ``reports``
(the result types and SWE-bench's report files). Infrastructure failures are ``error``, never
``unresolved``; Ctrl-C or a failing worker stops the run, and a rerun reuses every finished result.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.harness.dataset import instances_from_records
from factory.harness.predictions import Prediction, Predictions
from factory.harness.predictions import load as load_predictions
from factory.harness.reports import _RUN_ID, EvalReport, InstanceResult, _summary_path, _write, run_summary
from factory.harness.runner import _image_ids, _Runner, _unstopped
from factory.store import Store


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
        settings = settings.model_copy(update={"build": settings.build.model_copy(update={"run_timeout": timeout})})
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
