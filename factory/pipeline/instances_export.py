"""Every instance — valid, rejected, failed, still pending — as an analysis file that says it is *not* a
SWE-bench dataset (``factory export --format instances``).

Why apart from the dataset export: a SWE-bench dataset promises tasks that fail before the fix and pass
after it. A rejected or failed row has an empty (or meaningless) FAIL_TO_PASS, which every harness grades
as trivially resolved, so it must never sit in a file a harness might be pointed at. This file therefore
has its own name (it must end in ``instances.jsonl``, default ``<dataset>.all-instances.jsonl``) and every
row says what it is: ``export_format`` = :data:`FORMAT`, ``swebench_task`` = whether that row alone would
be a valid task. Rows are the dataset's (``factory.harness.dataset.instance_records``) plus those two
fields, sorted by id, written atomically like the dataset.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from factory.core.errors import UserError
from factory.harness.dataset import instance_records
from factory.store import Store

#: ``export_format`` of every row: an issue-factory analysis file, not a SWE-bench dataset.
FORMAT = "issue-factory/all-instances (not a SWE-bench dataset)"
#: How the file's name must end, so that neither a person nor a glob for ``dataset*.jsonl`` mistakes it.
SUFFIX = "instances.jsonl"


def default_path(dataset_out: Path) -> Path:
    """``dataset.jsonl`` → ``dataset.all-instances.jsonl``: next to the dataset, named for what it is."""
    return dataset_out.with_name(f"{dataset_out.name.removesuffix('.jsonl')}.all-{SUFFIX}")


def check_name(out: Path) -> None:
    if not out.name.endswith(SUFFIX):
        raise UserError(f"{out} would hold rejected and failed instances under a dataset-like name",
                        f"name it for what it is, e.g. --out {default_path(out).name}")


def export_instances(store: Store, out: Path) -> dict[str, int]:
    """Write every stored instance to ``out``; return ``{"instances": n, "swebench_tasks": valid ones}``."""
    out = Path(out)
    check_name(out)
    rows = [{"export_format": FORMAT, "swebench_task": r["status"] == "valid", **r}
            for r in instance_records(store, include_all=True)]
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("".join(json.dumps(r, sort_keys=True, ensure_ascii=False) + "\n" for r in rows),
                       encoding="utf-8")
        tmp.replace(out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc.strerror}", "pass --out with a writable path") from exc
    return {"instances": len(rows), "swebench_tasks": sum(r["swebench_task"] for r in rows)}
