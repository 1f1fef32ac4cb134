"""Export instances as a SWE-bench-compatible dataset (plus the factory's own fields), in three formats.

SWE-bench fields keep their names and meaning; FAIL_TO_PASS / PASS_TO_PASS are lists. Extras a harness
needs to rerun an instance without us — the Dockerfiles, the eval script, the image tag — and a
validation summary ride along. The row format itself (:func:`instance_records`) lives in
``factory.harness.dataset``, next to the harness that reads it back; its types in
``factory.harness.dataset_schema``.

- ``jsonl``: one JSON object per line (what ``swebench`` and ``factory eval --dataset`` read);
- ``parquet``: one file with the explicit schema, so pandas and ``datasets`` read the documented types;
- ``hf``: a directory ``datasets.load_dataset(DIR, split="test")`` loads (mini-swe-agent's ``--subset``):
  ``data/test-00000-of-00001.parquet`` and a dataset card ``README.md`` declaring the same features.

Output is deterministic (sorted ids and keys, no timings), so two runs that reached the same verdicts
write identical files. Written atomically: a crash never leaves half a dataset behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from factory.core.errors import UserError
from factory.core.templates import render
from factory.harness.dataset import instance_records
from factory.harness.dataset_schema import arrow_schema, check_fields, hf_features
from factory.store import Store

FORMATS = ("jsonl", "parquet", "hf")
HF_DATA_FILE = "data/test-00000-of-00001.parquet"
"""Where the hf layout keeps its one split (the file name ``datasets`` maps to split ``test`` by itself)."""
_HF_ENTRIES = {"README.md", "data"}


def export(store: Store, out: Path, fmt: str = "jsonl") -> int:
    """Write the dataset of valid instances to ``out`` in ``fmt`` (one of :data:`FORMATS`); return the number
    of instances. Every other instance goes to a file of its own (``factory.pipeline.instances_export``):
    a rejected one has no FAIL_TO_PASS, and any SWE-bench harness would grade it resolved."""
    writers: dict[str, Callable[[Store, Path], int]] = {
        "jsonl": export_jsonl, "parquet": export_parquet, "hf": export_hf}
    if fmt not in writers:
        raise UserError(f"unknown export format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    return writers[fmt](store, Path(out))


def export_jsonl(store: Store, out: Path) -> int:
    """Write the dataset to ``out`` as JSONL; return the number of instances written."""
    records = instance_records(store)
    out = Path(out)

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8") as fh:
            for record in records:
                fh.write(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n")

    _atomic_file(out, write)
    return len(records)


def export_parquet(store: Store, out: Path) -> int:
    """Write the dataset to ``out`` as one parquet file with the explicit schema; return the count."""
    records = instance_records(store)
    _atomic_file(Path(out), lambda tmp: _write_parquet(records, tmp))
    return len(records)


def export_hf(store: Store, out: Path) -> int:
    """Write the Hugging Face layout to the directory ``out``; return the number of instances.

    The directory is built beside ``out`` and swapped in whole. An existing ``out`` is replaced only when it
    is empty or holds nothing but an earlier export's ``README.md`` and ``data/``: never a user's folder."""
    records = instance_records(store)
    out = Path(out)
    if out.exists() and not (out.is_dir() and set(os.listdir(out)) <= _HF_ENTRIES):
        raise UserError(f"{out} exists and is not a dataset directory written by `factory export --format hf`",
                        "pass --out with a new (or empty) directory")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / HF_DATA_FILE).parent.mkdir(parents=True)
        _write_parquet(records, tmp / HF_DATA_FILE)
        card = render("dataset_card.md.j2", features=hf_features(), data_file=HF_DATA_FILE,
                      num_examples=len(records))
        (tmp / "README.md").write_text(card, encoding="utf-8")
        if out.exists():
            out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not out.exists():
            old.rename(out)
        raise UserError(f"cannot write {out}: {exc.strerror}", "pass --out with a writable directory") from exc
    return len(records)


def _write_parquet(records: list[dict], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_fields(records)
    table = pa.Table.from_pylist(records, schema=arrow_schema())
    pq.write_table(table, path)


def _atomic_file(out: Path, write: Callable[[Path], None]) -> None:
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write(tmp)
        tmp.replace(out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {exc.strerror}", "pass --out with a writable path") from exc
