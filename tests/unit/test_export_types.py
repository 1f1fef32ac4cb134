"""The typed exports (``factory export --format parquet | hf``) as the real readers see them: Hugging Face
``datasets`` 5.2 and pandas 3.1 (pinned in the dev extra) load exactly the types ``docs/dataset.md`` documents.

The store holds what defeats type inference on JSONL: Python "3.10" (pandas' float 3.1), a null and a set
``pull_number`` (float/NaN), empty ``flaky_tests`` / ``issue_numbers`` (``list<null>`` in ``datasets``), and a
``created_at`` that ``datasets`` would make a timestamp.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from factory.core.errors import UserError
from factory.core.models import Candidate, Environment, Instance, Status, Validation
from factory.harness import dataset_schema
from factory.harness.dataset import instance_records
from factory.pipeline.export import HF_DATA_FILE, export
from factory.store import Store

ROOT = Path(__file__).resolve().parents[2]


def _fill(store: Store) -> None:
    store.save_environment(Environment(
        fingerprint="fp1", repo="acme/lib", python_version="3.10", python_reason="requires-python",
        base_image="issue-factory/python:3.10", install_commands=["pip install -e ."], dockerfile="FROM x\n",
        image_tag="issue-factory/env.acme__lib:abc", status="built", source_commit="a" * 40))
    for n, pull in ((1, None), (2, 42)):
        iid = f"acme__lib-{n}"
        store.add_candidates([Candidate(
            instance_id=iid, repo="acme/lib", base_commit=f"{n:040x}", fix_commit=f"{n + 9:040x}",
            patch="diff --git a/m.py b/m.py\n", test_patch="diff --git a/t.py b/t.py\n", problem_statement="P",
            created_at=datetime(2024, 3, n, 9, 0, tzinfo=UTC), source="git:/tmp/lib", pull_number=pull,
            issue_numbers=[] if n == 1 else ["7"], test_files=["tests/test_m.py"])])
        store.add_validation(Validation(instance_id=iid, phase="before", run_index=0, exit_code=1, verdict="fail"))
        store.save_instance(Instance(
            instance_id=iid, status=Status.VALID, fingerprint="fp1", image=f"issue-factory/instance.acme__lib:{n}",
            eval_script="#!/bin/bash\n", fail_to_pass=["tests/test_m.py::test_a"],
            pass_to_pass=[] if n == 1 else ["tests/test_m.py::test_b"], builder="heuristic"))


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "f.duckdb") as s:
        _fill(s)
        yield s


def test_datasets_loads_the_hf_layout_with_exactly_the_documented_features(store, tmp_path, monkeypatch) -> None:
    import datasets

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no cache of an earlier run can answer
    assert export(store, tmp_path / "ds", "hf") == 2
    assert sorted(p.relative_to(tmp_path / "ds").as_posix() for p in (tmp_path / "ds").rglob("*")) == [
        "README.md", "data", HF_DATA_FILE]
    ds = datasets.load_dataset(str(tmp_path / "ds"), split="test", cache_dir=str(tmp_path / "hf-cache"))
    assert {name: repr(f) for name, f in ds.features.items()} == dataset_schema.hf_feature_reprs()
    assert list(ds.features) == list(dataset_schema.NAMES)
    # The card's YAML header declares the same features (and names the split's file) as datasets reads them.
    header = yaml.safe_load((tmp_path / "ds" / "README.md").read_text().split("---\n")[1])
    assert header["configs"] == [{"config_name": "default", "data_files": [{"split": "test", "path": HF_DATA_FILE}]}]
    assert datasets.DatasetInfo._from_yaml_dict(header["dataset_info"]).features == ds.features
    assert header["dataset_info"]["splits"] == [{"name": "test", "num_examples": 2}]
    rows = {r["instance_id"]: r for r in ds}
    assert rows["acme__lib-1"]["pull_number"] is None and rows["acme__lib-2"]["pull_number"] == 42
    assert rows["acme__lib-1"]["python_version"] == "3.10"
    assert rows["acme__lib-1"]["created_at"] == "2024-03-01T09:00:00+00:00"
    assert rows["acme__lib-1"]["validation"]["flaky_tests"] == [] and rows["acme__lib-1"]["issue_numbers"] == []
    assert rows["acme__lib-2"]["image_name"] == rows["acme__lib-2"]["image"] == "issue-factory/instance.acme__lib:2"
    # Every value equals what the JSONL export holds: the types change, the data does not.
    assert [dict(r) for r in ds] == instance_records(store)


def test_pandas_reads_the_parquet_export_with_stable_types(store, tmp_path) -> None:
    import pandas as pd

    assert export(store, tmp_path / "ds.parquet", "parquet") == 2
    df = pd.read_parquet(tmp_path / "ds.parquet")
    assert list(df["python_version"]) == ["3.10", "3.10"] and pd.api.types.is_string_dtype(df["python_version"])
    assert str(df["pull_number"].dtype) == "Int64"
    assert df["pull_number"].isna().tolist() == [True, False] and int(df["pull_number"][1]) == 42
    assert list(df["created_at"]) == ["2024-03-01T09:00:00+00:00", "2024-03-02T09:00:00+00:00"]
    assert list(df["validation"][0]["flaky_tests"]) == []
    # The JSONL export of the same store is what pandas misreads without dtype=False: the reason for parquet.
    export(store, tmp_path / "ds.jsonl", "jsonl")
    guessed = pd.read_json(tmp_path / "ds.jsonl", lines=True)
    assert guessed["python_version"][0] != "3.10"
    assert list(pd.read_json(tmp_path / "ds.jsonl", lines=True, dtype=False)["python_version"]) == ["3.10"] * 2


def test_a_row_field_the_schema_does_not_type_is_an_error_not_a_dropped_column() -> None:
    row = {name: "" for name in dataset_schema.NAMES}
    row["validation"] = {f.name: [] for f in dataset_schema.COLUMNS[-1].fields}
    dataset_schema.check_fields([row])
    with pytest.raises(ValueError, match=r"not in the dataset schema \['swe_new_field'\]"):
        dataset_schema.check_fields([{**row, "swe_new_field": "x"}])
    with pytest.raises(ValueError, match=r"validation: .*missing \['unstable_tests'\]"):
        dataset_schema.check_fields([{**row, "validation": {k: v for k, v in row["validation"].items()
                                                             if k != "unstable_tests"}}])


def test_hf_export_replaces_its_own_directory_and_refuses_anything_else(store, tmp_path) -> None:
    target = tmp_path / "ds"
    export(store, target, "hf")
    first = (target / HF_DATA_FILE).read_bytes()
    export(store, target, "hf")  # a rerun replaces it, byte-identical (deterministic output)
    assert (target / HF_DATA_FILE).read_bytes() == first
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(UserError, match="is not a dataset directory"):
        export(store, mine, "hf")
    assert (mine / "notes.txt").read_text() == "keep me"
    with pytest.raises(UserError, match="unknown export format"):
        export(store, tmp_path / "x", "csv")


def test_docs_dataset_md_lists_the_schema() -> None:
    """docs/dataset.md's column table is the schema's own (``python -c 'from factory.harness.dataset_schema
    import markdown_table; print(markdown_table())'`` regenerates it)."""
    text = (ROOT / "docs" / "dataset.md").read_text()
    table = re.search(r"<!-- columns: start -->\n(.*?)<!-- columns: end -->", text, re.S)
    assert table and table.group(1) == dataset_schema.markdown_table()
    assert all(f"`{name}`" in table.group(1) for name in dataset_schema.NAMES)
    features = re.search(r"<!-- features: start -->\n```json\n(.*?)```\n<!-- features: end -->", text, re.S)
    assert features and json.loads(features.group(1)) == dataset_schema.hf_feature_reprs()


def test_cli_export_format_hf_and_a_jsonl_name_for_it_is_refused(store, tmp_path) -> None:
    store.close()
    factory = [str(Path(sys.executable).parent / "factory")]
    db = ["--db", str(tmp_path / "f.duckdb")]
    done = subprocess.run([*factory, "export", "--format", "hf", "--out", str(tmp_path / "hf"), *db],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 2 instance(s)" in done.stdout and (tmp_path / "hf" / HF_DATA_FILE).is_file()
    bad = subprocess.run([*factory, "export", "--format", "parquet", "--out", str(tmp_path / "d.jsonl"), *db],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "does not write JSONL" in bad.stderr and not (tmp_path / "d.jsonl").exists()
