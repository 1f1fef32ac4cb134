"""Export instances as SWE-bench-compatible JSONL (plus the factory's own fields).

SWE-bench fields keep their names and meaning; FAIL_TO_PASS / PASS_TO_PASS are JSON lists. Extras a
harness needs to rerun an instance without us — the Dockerfiles, the eval script, the image tag — and
a validation summary ride along. Output is deterministic (sorted ids and keys, no timings), so two
runs that reached the same verdicts write byte-identical files. Written atomically: a crash never
leaves half a dataset behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from factory.core.errors import UserError
from factory.core.models import Status
from factory.store import Store


def instance_records(store: Store, include_all: bool = False) -> list[dict]:
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
            "version": cand.version,
            "environment_setup_commit": env.source_commit if env else cand.base_commit,
            "FAIL_TO_PASS": inst.fail_to_pass,
            "PASS_TO_PASS": inst.pass_to_pass,
            "issue_numbers": cand.issue_numbers,
            "pull_number": cand.pull_number,
            "language": cand.language,
            "source": cand.source,
            "status": inst.status.value,
            "reason": inst.reason,
            "image": inst.image,
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
            },
        }
        records.append(record)
    return sorted(records, key=lambda r: r["instance_id"])


def export_jsonl(store: Store, out: Path, include_all: bool = False) -> int:
    """Write the dataset to ``out``; return the number of instances written."""
    records = instance_records(store, include_all)
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")
        tmp.replace(out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}", "pass --out with a writable path") from exc
    return len(records)
