"""Export instances as SWE-bench-compatible JSONL (plus the factory's own fields).

SWE-bench fields keep their names and meaning; FAIL_TO_PASS / PASS_TO_PASS are JSON lists. Extras a
harness needs to rerun an instance without us — the Dockerfiles, the eval script, the image tag — and
a validation summary ride along. Output is deterministic (sorted ids and keys, no timings), so two
runs that reached the same verdicts write byte-identical files. Written atomically: a crash never
leaves half a dataset behind. The row format itself (:func:`instance_records`) lives in
``factory.harness.dataset``, next to the harness that reads it back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from factory.core.errors import UserError
from factory.harness.dataset import instance_records
from factory.store import Store


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
