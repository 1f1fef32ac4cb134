"""Loading predictions (factory.harness.predictions): SWE-bench's formats, empty patches, malformed lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.harness.predictions import load

PATCH = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"


def record(iid: str, patch: str | None = PATCH, model: str = "acme/agent-7b") -> dict:
    return {"instance_id": iid, "model_name_or_path": model, "model_patch": patch}


def write_jsonl(path: Path, lines: list[str | dict]) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def test_jsonl_records_in_order_with_their_line_numbers(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "preds.jsonl", [record("a__b-1"), "", record("a__b-2", "")])
    loaded = load(path)
    assert loaded.problems == []
    assert [(p.instance_id, p.model, p.line) for p in loaded.items] == [
        ("a__b-1", "acme/agent-7b", 1), ("a__b-2", "acme/agent-7b", 3)
    ]
    assert loaded.items[0].patch == PATCH and not loaded.items[0].empty


def test_json_list_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "preds.json"
    path.write_text(json.dumps([record("a__b-1"), record("a__b-2")], indent=2))
    loaded = load(path)
    assert [p.instance_id for p in loaded.items] == ["a__b-1", "a__b-2"]
    assert [p.line for p in loaded.items] == [2, 7]  # where each object starts in the file


def test_mini_swe_agent_preds_json_dict_keyed_by_id_is_accepted_as_is(tmp_path: Path) -> None:
    # mini-swe-agent / SWE-agent write {instance_id: {model_name_or_path, instance_id, model_patch}}.
    preds = {
        "a__b-1": {"model_name_or_path": "openai/gpt-5-mini", "instance_id": "a__b-1", "model_patch": PATCH},
        "a__b-2": {"model_name_or_path": "openai/gpt-5-mini", "instance_id": "a__b-2", "model_patch": ""},
    }
    path = tmp_path / "preds.json"
    path.write_text(json.dumps(preds, indent=2))
    loaded = load(path)
    assert loaded.problems == []
    assert [(p.instance_id, p.model, p.empty) for p in loaded.items] == [
        ("a__b-1", "openai/gpt-5-mini", False), ("a__b-2", "openai/gpt-5-mini", True)
    ]


def test_dict_values_may_omit_instance_id_but_must_not_contradict_the_key(tmp_path: Path) -> None:
    path = tmp_path / "preds.json"
    path.write_text(json.dumps({
        "a__b-1": {"model_name_or_path": "m", "model_patch": PATCH},
        "a__b-2": {"model_name_or_path": "m", "instance_id": "a__b-9", "model_patch": PATCH},
    }, indent=1))
    loaded = load(path)
    assert [p.instance_id for p in loaded.items] == ["a__b-1"]
    assert loaded.problems == ["preds.json line 6: instance_id 'a__b-9' differs from its key 'a__b-2'"]


@pytest.mark.parametrize("patch", ["", None, "  \n"])
def test_empty_null_or_blank_patches_are_empty(tmp_path: Path, patch: str | None) -> None:
    loaded = load(write_jsonl(tmp_path / "p.jsonl", [record("a__b-1", patch)]))
    (pred,) = loaded.items
    assert pred.empty
    assert pred.patch == patch  # null stays None: the report says patch_is_None


def test_malformed_lines_are_reported_with_line_numbers_and_skipped(tmp_path: Path) -> None:
    lines = [
        record("a__b-1"),
        '{"instance_id": "a__b-2", "model_patch": ',  # truncated JSON
        '["not", "an", "object"]',
        {"instance_id": "a__b-3", "model_patch": PATCH},  # no model
        record("a__b-4", patch=42),  # type: ignore[arg-type]
        {"instance_id": "", "model_name_or_path": "m", "model_patch": PATCH},
        record("a__b-1"),  # duplicate of line 1
        record("a__b-5"),
        record("a__b-6", model=".."),
    ]
    loaded = load(write_jsonl(tmp_path / "preds.jsonl", lines))
    assert [p.instance_id for p in loaded.items] == ["a__b-1", "a__b-5"]
    assert [p.split(":")[0] for p in loaded.problems] == [
        f"preds.jsonl line {n}" for n in (2, 3, 4, 5, 6, 7, 9)
    ]
    assert "not JSON" in loaded.problems[0]
    assert "expected an object" in loaded.problems[1]
    assert "missing model_name_or_path" in loaded.problems[2]
    assert "model_patch must be a string or null" in loaded.problems[3]
    assert "instance_id must be a non-empty string" in loaded.problems[4]
    assert "second prediction for a__b-1 by acme/agent-7b (first on line 1)" in loaded.problems[5]
    assert "cannot name a report directory" in loaded.problems[6]


def test_same_instance_by_two_models_is_two_predictions(tmp_path: Path) -> None:
    loaded = load(write_jsonl(tmp_path / "p.jsonl", [record("a__b-1", model="x"), record("a__b-1", model="y")]))
    assert [(p.model, p.instance_id) for p in loaded.items] == [("x", "a__b-1"), ("y", "a__b-1")]
    assert loaded.problems == []


def test_a_json_file_holding_json_lines_is_read_as_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "all_preds.json", [record("a__b-1"), "{oops", record("a__b-2")])
    loaded = load(path)
    assert [p.instance_id for p in loaded.items] == ["a__b-1", "a__b-2"]
    assert loaded.problems[0].startswith("all_preds.json line 2: not JSON")


def test_gold_uses_the_dataset_patches() -> None:
    loaded = load("gold", [{"instance_id": "a__b-1", "patch": PATCH}, {"instance_id": "a__b-2", "patch": ""}])
    assert [(p.instance_id, p.model, p.patch, p.empty) for p in loaded.items] == [
        ("a__b-1", "gold", PATCH, False), ("a__b-2", "gold", "", True)
    ]


def test_unreadable_inputs_are_user_errors_with_a_fix(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found") as missing:
        load(tmp_path / "nope.jsonl")
    assert "gold" in missing.value.fix
    bad = tmp_path / "preds.json"
    bad.write_text('{"a__b-1": {"model_patch": "x",\n  }')
    with pytest.raises(UserError, match=r"not valid JSON: .* at line 2"):
        load(bad)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("42")
    with pytest.raises(UserError, match="not a list or an object"):
        load(scalar)
