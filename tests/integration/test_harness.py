"""The evaluation harness on the example's valid instances, against the real Docker engine.

Reuses the session ``pipeline`` (its export, DB and images). Each test keeps its results in its own
DuckDB file so that content-addressed reuse between tests cannot hide a run. Patches other than gold
are real ``git diff`` output made at each instance's base commit of the example repository.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from factory.harness.dataset import dataset_from_store
from factory.harness.evaluate import evaluate
from factory.pipeline.demo import summary
from factory.store import Store

FILES = {"report.json", "patch.diff", "eval.sh", "test_output.txt", "run_instance.log"}
SUBJECTS = {
    "R": "Round amounts to the nearest cent",  # its test file is new (added by the test patch)
    "D": "Merge pull request #7 from dev/discount-clamp",
    "A": "Accept negative amounts in parentheses",
}


@pytest.fixture(scope="module")
def example(pipeline) -> dict:
    """``{"R"|"D"|"A": export record}`` of the three valid instances."""
    ids = {row.subject: row.instance_id for row in summary(pipeline.store, pipeline.repo)}
    records = {r["instance_id"]: r for r in pipeline.records()}
    assert len(records) == 3, records.keys()
    return {key: records[ids[subject]] for key, subject in SUBJECTS.items()}


def patch_at(repo: Path, base: str, work: Path, edit: Callable[[Path], None]) -> str:
    """``git diff`` of ``edit`` applied to a checkout of ``base``."""
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(repo), str(work)], check=True, capture_output=True)
    subprocess.run(["git", "-C", str(work), "checkout", "-q", base], check=True, capture_output=True)
    edit(work)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True, capture_output=True)
    out = subprocess.run(["git", "-C", str(work), "diff", "--cached", "HEAD"], check=True, capture_output=True)
    assert out.stdout, "the edit changed nothing"
    return out.stdout.decode()


def replace_in(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(work: Path) -> None:
        path = work / rel
        text = path.read_text()
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new))

    return edit


LEDGER = "src/tinyledger/ledger.py"
TOTAL = "        return self.subtotal() - self.discount\n"


def wrong_fix(comment: str = "discounts are applied as given") -> Callable[[Path], None]:
    """Touches the code under test without fixing it: the fail-to-pass test still fails."""
    return replace_in(LEDGER, TOTAL, f"        # {comment}\n{TOTAL}")


def write_jsonl(path: Path, lines: list[dict | str]) -> Path:
    path.write_text("".join((json.dumps(x) if isinstance(x, dict) else x) + "\n" for x in lines))
    return path


def pred(model: str, record: dict, patch: str | None) -> dict:
    return {"instance_id": record["instance_id"], "model_name_or_path": model, "model_patch": patch}


def status(f2p_ok: list[str], f2p_bad: list[str], p2p_ok: list[str], p2p_bad: list[str]) -> dict:
    empty = {"success": [], "failure": []}
    return {
        "FAIL_TO_PASS": {"success": f2p_ok, "failure": f2p_bad},
        "PASS_TO_PASS": {"success": p2p_ok, "failure": p2p_bad},
        "FAIL_TO_FAIL": empty,
        "PASS_TO_FAIL": empty,
    }


def instance_dir(root: Path, run_id: str, model_dir: str, iid: str) -> Path:
    return root / "logs" / "run_evaluation" / run_id / model_dir / iid


def read_report(root: Path, run_id: str, model_dir: str, iid: str) -> dict:
    return json.loads((instance_dir(root, run_id, model_dir, iid) / "report.json").read_text())


def test_gold_resolves_every_valid_instance_from_the_db(pipeline, tmp_path: Path) -> None:
    records = dataset_from_store(pipeline.store)  # no --dataset: the DB's valid instances
    assert [r["instance_id"] for r in records] == [r["instance_id"] for r in pipeline.records()]
    with Store(tmp_path / "eval.duckdb") as store:
        report = evaluate("gold", records, "gold-1", store, pipeline.settings, report_dir=tmp_path, workers=3)
        rows = store.eval_results("gold-1")
    ids = sorted(r["instance_id"] for r in records)
    summary_path = tmp_path / "gold.gold-1.json"
    assert report.summary_paths == {"gold": summary_path}
    data = json.loads(summary_path.read_text())
    assert data["resolved_ids"] == data["completed_ids"] == data["submitted_ids"] == ids
    assert (data["total_instances"], data["resolved_instances"], data["error_ids"]) == (3, 3, [])
    assert data["schema_version"] == 2 and data["unstopped_containers"] == []
    assert report.containers_run == 3
    for record in records:
        iid = record["instance_id"]
        folder = instance_dir(tmp_path, "gold-1", "gold", iid)
        assert {p.name for p in folder.iterdir()} == FILES
        assert (folder / "patch.diff").read_text() == record["patch"]
        assert (folder / "eval.sh").read_text() == record["eval_script"]
        assert read_report(tmp_path, "gold-1", "gold", iid)[iid]["tests_status"] == status(
            record["FAIL_TO_PASS"], [], record["PASS_TO_PASS"], [])
    assert [(r["status"], r["reused_from"]) for r in rows] == [("resolved", "")] * 3
    assert all(r["test_seconds"] and 0 < r["test_seconds"] < r["seconds"] for r in rows), rows


def test_all_empty_predictions_resolve_none_and_run_nothing(pipeline, tmp_path: Path) -> None:
    records = pipeline.records()
    preds = [pred("lazy-agent", r, patch) for r, patch in zip(records, ["", None, ""], strict=True)]
    path = write_jsonl(tmp_path / "empty.jsonl", preds)
    with Store(tmp_path / "eval.duckdb") as store:
        report = evaluate(path, records, "empty-1", store, pipeline.settings, report_dir=tmp_path)
        rows = store.eval_results("empty-1")
    ids = sorted(r["instance_id"] for r in records)
    data = json.loads((tmp_path / "lazy-agent.empty-1.json").read_text())
    assert data["empty_patch_ids"] == data["submitted_ids"] == ids
    assert data["resolved_ids"] == data["unresolved_ids"] == data["completed_ids"] == data["error_ids"] == []
    assert report.containers_run == 0
    assert not (tmp_path / "logs" / "run_evaluation" / "empty-1" / "lazy-agent").exists()
    assert [r["status"] for r in rows] == ["empty"] * 3
    assert [r["report"][r["instance_id"]]["patch_is_None"] for r in rows] == [
        r["instance_id"] == records[1]["instance_id"] for r in rows]


def test_mixed_predictions_give_exactly_the_expected_reports(pipeline, example, tmp_path: Path) -> None:
    R, D, A = example["R"], example["D"], example["A"]  # noqa: N806
    repo = pipeline.repo
    wrong = patch_at(repo, D["base_commit"], tmp_path / "w1", wrong_fix())
    delete_test = patch_at(repo, A["base_commit"], tmp_path / "w2", lambda w: (w / "tests/test_money.py").unlink())
    assert "deleted file mode" in delete_test
    not_applying = (
        "diff --git a/src/tinyledger/money.py b/src/tinyledger/money.py\n--- a/src/tinyledger/money.py\n"
        "+++ b/src/tinyledger/money.py\n@@ -1,2 +1,2 @@\n-\"\"\"This line is not in the file.\"\"\"\n"
        "+\"\"\"Neither is this one.\"\"\"\n \n"
    )
    fake_markers = patch_at(repo, D["base_commit"], tmp_path / "w3", replace_in(LEDGER, TOTAL, (
        '        print("FACTORY_EXIT_CODE=0")\n'
        f'        print("PASSED {D["FAIL_TO_PASS"][0]}")\n{TOTAL}')))
    hang = patch_at(repo, D["base_commit"], tmp_path / "w4", replace_in(
        LEDGER, "from dataclasses import", "import time\n\ntime.sleep(3600)\nfrom dataclasses import"))
    escape = "--- a/../x\n+++ b/../x\n@@ -0,0 +1 @@\n+outside the repository\n"
    lines: list[dict | str] = [
        pred("acme/agent-a", R, R["patch"]),                           # 1 right (gold)
        pred("acme/agent-a", D, wrong),                                # 2 wrong fix
        pred("acme/agent-a", A, delete_test),                          # 3 deletes the failing test's file
        '{"instance_id": "' + D["instance_id"] + '", "model_patch": ',  # 4 malformed
        pred("agent-b", R, not_applying),                              # 5 does not apply
        pred("agent-b", D, fake_markers),                              # 6 prints a fake marker + PASSED line
        pred("agent-b", A, ""),                                        # 7 empty
        pred("agent-c", D, hang),                                      # 8 hangs: timeout (infra error)
        pred("agent-c", A, None),                                      # 9 null
        {**pred("acme/agent-a", R, R["patch"]), "instance_id": "acme__tinyledger-999"},  # 10 unknown
        pred("agent-c", R, escape),                                    # 11 escapes the repository
    ]
    path = write_jsonl(tmp_path / "mixed.jsonl", lines)
    with Store(tmp_path / "eval.duckdb") as store:
        report = evaluate(path, pipeline.records(), "mix-1", store, pipeline.settings, report_dir=tmp_path,
                          workers=3, timeout=20, dataset_name="dataset.jsonl")
        rows = {(r["model"], r["instance_id"]): r for r in store.eval_results("mix-1")}

    assert [p.split(":")[0] for p in report.problems] == ["mixed.jsonl line 4", "mixed.jsonl line 10"]
    assert "not JSON" in report.problems[0]
    assert "acme__tinyledger-999 is not in dataset.jsonl" in report.problems[1]

    r, d, a = R["instance_id"], D["instance_id"], A["instance_id"]
    all_ids = sorted([r, d, a])

    def expected(model, resolved, unresolved, error, empty) -> dict:
        completed = sorted(resolved + unresolved)
        return {
            "model_name_or_path": model, "run_id": "mix-1",
            "total_instances": 3, "submitted_instances": 3, "completed_instances": len(completed),
            "resolved_instances": len(resolved), "unresolved_instances": len(unresolved),
            "empty_patch_instances": len(empty), "error_instances": len(error),
            "completed_ids": completed, "incomplete_ids": [], "empty_patch_ids": sorted(empty),
            "submitted_ids": all_ids, "resolved_ids": sorted(resolved), "unresolved_ids": sorted(unresolved),
            "error_ids": sorted(error), "unstopped_instances": 0, "unstopped_containers": [],
            "unremoved_images": [], "schema_version": 2,
            # swebench 5.x's failure classification: the only error here is the hang, which a patch can cause
            "infra_failure_instances": 0, "infra_failure_ids": [], "ambiguous_failure_instances": len(error),
            "ambiguous_failure_ids": sorted(error), "failure_reasons": {i: "tests_timed_out" for i in error},
        }

    summaries = {
        "acme__agent-a": expected("acme/agent-a", [r], [d, a], [], []),
        "agent-b": expected("agent-b", [], [r, d], [], [a]),
        "agent-c": expected("agent-c", [], [r], [d], [a]),
    }
    for model_dir, want in summaries.items():
        assert json.loads((tmp_path / f"{model_dir}.mix-1.json").read_text()) == want, model_dir
    assert set(report.summaries) == {"acme/agent-a", "agent-b", "agent-c"}

    applied_reports = {
        ("acme__agent-a", r): (True, True, status(R["FAIL_TO_PASS"], [], [], [])),
        ("acme__agent-a", d): (True, False, status([], D["FAIL_TO_PASS"], D["PASS_TO_PASS"], [])),
        ("acme__agent-a", a): (True, False, status([], A["FAIL_TO_PASS"], A["PASS_TO_PASS"], [])),
        ("agent-b", r): (False, False, status([], R["FAIL_TO_PASS"], [], [])),
        ("agent-b", d): (True, False, status([], D["FAIL_TO_PASS"], D["PASS_TO_PASS"], [])),
        ("agent-c", r): (False, False, status([], R["FAIL_TO_PASS"], [], [])),
    }
    for (model_dir, iid), (applied, resolved, tests) in applied_reports.items():
        assert read_report(tmp_path, "mix-1", model_dir, iid) == {iid: {
            "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": applied,
            "resolved": resolved, "tests_status": tests,
        }}, (model_dir, iid)

    # The fake marker and PASSED line really reached the log, and did not win.
    fake_log = (instance_dir(tmp_path, "mix-1", "agent-b", d) / "test_output.txt").read_text()
    assert "FACTORY_EXIT_CODE=0" in fake_log.splitlines()
    assert f"PASSED {D['FAIL_TO_PASS'][0]}" in fake_log.splitlines()
    assert fake_log.splitlines()[-1] == "FACTORY_EXIT_CODE=1"
    # The deleted test file was restored by the eval script and its test ran (and failed).
    assert f"FAILED {A['FAIL_TO_PASS'][0]}" in (
        instance_dir(tmp_path, "mix-1", "acme__agent-a", a) / "test_output.txt").read_text()
    # A patch that does not apply: counted as not applied (a model failure, not an error).
    assert rows[("agent-b", r)]["reason"] == "patch did not apply"
    assert "FACTORY_PATCH_FAILED=model_patch" in (
        instance_dir(tmp_path, "mix-1", "agent-b", r) / "test_output.txt").read_text()
    # The escaping patch never reached a container; its reason is in the log and the DB.
    refused_dir = instance_dir(tmp_path, "mix-1", "agent-c", r)
    assert {p.name for p in refused_dir.iterdir()} == FILES - {"test_output.txt"}
    assert "patch refused, not applied: path 'a/../x' climbs out of the repository" in (
        refused_dir / "run_instance.log").read_text()
    assert rows[("agent-c", r)]["reason"] == "patch refused: path 'a/../x' climbs out of the repository with '..'"
    assert rows[("agent-c", r)]["seconds"] == 0
    # The timeout is an infrastructure error: no report.json (as SWE-bench), the log says why.
    hang_dir = instance_dir(tmp_path, "mix-1", "agent-c", d)
    assert {p.name for p in hang_dir.iterdir()} == FILES - {"report.json"}
    assert rows[("agent-c", d)]["status"] == "error" and rows[("agent-c", d)]["reason"].startswith("timeout")
    # Empty and null predictions never run and get no directory.
    assert not instance_dir(tmp_path, "mix-1", "agent-b", a).exists()
    assert rows[("agent-c", a)]["report"][a]["patch_is_None"] is True
    assert report.containers_run == 6  # a: 3, b: 2 (one did not apply, one ran), c: 1 (the hang)


def test_mini_swe_agent_preds_json_through_the_cli(pipeline, example, run_factory, tmp_path: Path) -> None:
    preds = {
        rec["instance_id"]: {"model_name_or_path": "openai/gpt-5-mini", "instance_id": rec["instance_id"],
                             "model_patch": rec["patch"]}
        for rec in example.values()
    }
    (tmp_path / "preds.json").write_text(json.dumps(preds, indent=2))
    args = ("--dataset", str(pipeline.export_path), "--db", str(tmp_path / "eval.duckdb"))
    done = run_factory("eval", "--predictions", "preds.json", "--run-id", "mini-1", "--workers", "3",
                       "--report-dir", "reports", *args)
    assert done.returncode == 0, done.output
    summary_path = tmp_path / "reports" / "openai__gpt-5-mini.mini-1.json"
    assert f"summary: {Path('reports') / summary_path.name}" in done.stdout
    assert "openai/gpt-5-mini: 3/3 resolved" in done.stdout
    data = json.loads(summary_path.read_text())
    assert data["resolved_ids"] == sorted(preds)
    for iid in preds:
        assert (tmp_path / "reports" / "logs" / "run_evaluation" / "mini-1" / "openai__gpt-5-mini" / iid
                / "report.json").is_file()
    status_json = run_factory("eval-status", "mini-1", "--json", "--db", str(tmp_path / "eval.duckdb"))
    assert status_json.returncode == 0, status_json.output
    assert [r["status"] for r in json.loads(status_json.stdout)["results"]] == ["resolved"] * 3
    runs = run_factory("eval-status", "--json", "--db", str(tmp_path / "eval.duckdb"))
    assert [(r["run_id"], r["model"], r["resolved"]) for r in json.loads(runs.stdout)] == [
        ("mini-1", "openai/gpt-5-mini", 3)]
    unknown = run_factory("eval-status", "nope", "--db", str(tmp_path / "eval.duckdb"))
    assert unknown.returncode == 2 and "no evaluation results for run 'nope'" in unknown.stderr


def test_reuse_is_content_addressed_and_a_changed_patch_reruns(pipeline, example, tmp_path: Path) -> None:
    R, D, A = example["R"], example["D"], example["A"]  # noqa: N806
    records = pipeline.records()
    wrong = patch_at(pipeline.repo, D["base_commit"], tmp_path / "w1", wrong_fix())
    path = write_jsonl(tmp_path / "p.jsonl", [pred("m", R, R["patch"]), pred("m", D, wrong), pred("m", A, A["patch"])])
    d = D["instance_id"]

    def run(run_id: str) -> tuple:
        report = evaluate(path, records, run_id, store, pipeline.settings, report_dir=tmp_path, workers=3)
        rows = {row["instance_id"]: row for row in store.eval_results(run_id)}
        return report, rows

    with Store(tmp_path / "eval.duckdb") as store:
        first, rows1 = run("same")
        assert first.containers_run == 3
        report_d = instance_dir(tmp_path, "same", "m", d) / "report.json"
        before = report_d.read_text()
        output_d = (instance_dir(tmp_path, "same", "m", d) / "test_output.txt").read_text()

        again, rows2 = run("same")  # same run id, same patches: nothing runs
        assert again.containers_run == 0
        assert all(row["reused_from"] == "same" and row["seconds"] == 0 for row in rows2.values()), rows2
        assert [r.status for r in again.results] == [r.status for r in first.results]
        assert report_d.read_text() == before
        assert (instance_dir(tmp_path, "same", "m", d) / "test_output.txt").read_text() == output_d

        other, rows3 = run("other")  # another run id: still reused, the key is the content
        assert other.containers_run == 0
        assert (instance_dir(tmp_path, "other", "m", d) / "test_output.txt").read_text() == output_d
        assert "reused the result of run same" in (instance_dir(tmp_path, "other", "m", d) / "run_instance.log"
                                                   ).read_text()

        changed = patch_at(pipeline.repo, D["base_commit"], tmp_path / "w2", wrong_fix("a different comment"))
        write_jsonl(path, [pred("m", R, R["patch"]), pred("m", D, changed), pred("m", A, A["patch"])])
        third, rows4 = run("same")  # same run id, one patch changed: only that one runs again
        assert third.containers_run == 1
        assert rows4[d]["reused_from"] == "" and rows4[d]["seconds"] > 0
        assert rows4[d]["patch_sha256"] != rows1[d]["patch_sha256"]
        assert all(rows4[i]["reused_from"] == "same" for i in rows4 if i != d)
        assert (instance_dir(tmp_path, "same", "m", d) / "patch.diff").read_text() == changed

        forced = evaluate(path, records, "forced", store, pipeline.settings, report_dir=tmp_path, workers=3,
                          reuse=False)
        assert forced.containers_run == 3


@pytest.mark.parametrize(
    ("extra", "message", "fix"),
    [
        (("--predictions", "missing.jsonl"), "predictions file missing.jsonl not found", "or `gold`"),
        (("--predictions", "gold", "--dataset", "nowhere.jsonl"), "dataset nowhere.jsonl not found",
         "factory export"),
        (("--predictions", "gold", "--instance", "acme__tinyledger-404"),
         "instance acme__tinyledger-404 is not in", "pass --instance with an id of the dataset"),
    ],
)
def test_bad_input_ends_in_a_user_error_with_the_fix(pipeline, run_factory, extra, message, fix) -> None:
    args = list(extra)
    if "--dataset" not in args:
        args += ["--dataset", str(pipeline.export_path)]
    done = run_factory("eval", "--run-id", "bad-1", "--db", "eval.duckdb", *args)
    assert done.returncode == 2, done.output
    assert f"error: {message}" in " ".join(done.stderr.split()), done.stderr
    assert fix in " ".join(done.stderr.split())
