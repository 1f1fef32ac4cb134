"""The dataset side of ``factory eval``: which instances there are to grade, and what each one is.

A dataset comes from a JSONL file written by ``factory export`` (:func:`load_dataset`) or straight from
the store (:func:`dataset_from_store`); either way its records are SWE-bench rows plus our extras (image,
eval script). :func:`instance_records` builds those rows from the store, here on the harness side so that
the export stage (``factory.pipeline.export``) and the harness share one definition of the row format;
the row carries what swebench 5.x's ``make_test_spec`` reads (``image``, ``eval_script``, ``log_parser``,
``eval_type``, a non-empty ``version``), so its ``run_evaluation`` grades an export unchanged.
:func:`instances_from_records` checks each record and keeps only what grading needs (:class:`EvalInstance`);
a record we cannot grade is a :class:`UserError` naming the file, never a silent skip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from factory.core.errors import UserError
from factory.core.models import Status
from factory.grading.contract import SWEBENCH_EVAL_TYPE, SWEBENCH_LOG_PARSER
from factory.mining.mirror import is_remote
from factory.store import Store

NO_VERSION = "0.0"
"""``version`` of an instance whose base commit reaches no ``X.Y`` tag: swebench ≤ 4.1 keys its specs by
``(repo, version)`` and refuses an empty one; 5.x only carries it. Never a made-up release number."""


@dataclass(frozen=True)
class EvalInstance:
    """What the harness needs of one dataset record (our export's fields)."""

    instance_id: str
    image: str
    eval_script: str
    patch: str
    fail_to_pass: tuple[str, ...]
    pass_to_pass: tuple[str, ...]
    image_digest: str = ""
    """The image ID the dataset pins (``image_digest`` of an export row; empty: any image under the tag)."""


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
            str(record.get("image_digest") or ""),
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


def public_source(source: str) -> str:
    """``source`` as an export may show it: a local path (``git:/home/me/repo``, ``git:file:///…``) names
    the miner's disk and means nothing elsewhere, so it becomes ``git``; a URL (already without credentials,
    ``factory.mining.mirror.redact``) or ``github:<owner>/<repo>`` stays."""
    kind, _, where = source.partition(":")
    if kind == "git" and (not is_remote(where) or where.startswith("file:")):
        return "git"
    return source


def instance_records(store: Store, include_all: bool = False) -> list[dict]:
    """The store's instances (valid ones unless ``include_all``) as SWE-bench dataset rows, sorted by id."""
    records = []
    for inst in store.instances():
        if not include_all and inst.status is not Status.VALID:
            continue
        cand = store.candidate(inst.instance_id)
        env = store.environment(inst.fingerprint) if inst.fingerprint else None
        runs = store.validations(inst.instance_id)
        record = {
            "repo": cand.repo,
            "instance_id": cand.instance_id,
            "base_commit": cand.base_commit,
            "patch": cand.patch,
            "test_patch": cand.test_patch,
            "problem_statement": cand.problem_statement,
            "hints_text": cand.hints_text,
            "created_at": cand.created_at.isoformat(),
            "version": cand.version or NO_VERSION,
            "environment_setup_commit": env.source_commit if env else cand.base_commit,
            "FAIL_TO_PASS": inst.fail_to_pass,
            "PASS_TO_PASS": inst.pass_to_pass,
            "issue_numbers": cand.issue_numbers,
            "pull_number": cand.pull_number,
            "language": cand.language,
            "source": public_source(cand.source),
            "status": inst.status.value,
            "reason": inst.reason,
            "image": inst.image,
            "image_name": inst.image,  # the field mini-swe-agent's SWE-bench runner reads (else a docker.io name)
            "image_digest": inst.image_id,
            "log_parser": SWEBENCH_LOG_PARSER,
            "eval_type": SWEBENCH_EVAL_TYPE,
            "builder": inst.builder,
            "env_image": env.image_tag if env else "",
            "python_version": env.python_version if env else "",
            "dockerfile": env.dockerfile if env else "",
            "eval_script": inst.eval_script,
            "validation": {
                "runs_before": sum(r.phase == "before" for r in runs),
                "runs_after": sum(r.phase == "after" for r in runs),
                "before": [r.verdict for r in runs if r.phase == "before"],
                "after": [r.verdict for r in runs if r.phase == "after"],
                "flaky_tests": inst.flaky_tests,
                "unstable_tests": inst.unstable_tests,
            },
        }
        records.append(record)
    return sorted(records, key=lambda r: r["instance_id"])


def dataset_from_store(store: Store) -> list[dict]:
    """The store's valid instances as export records (what ``factory export`` would write)."""
    records = instance_records(store)
    if not records:
        raise UserError(f"the database {store.path} has no valid instance to evaluate on",
                        "run `factory build` first, or pass --dataset dataset.jsonl")
    return records
