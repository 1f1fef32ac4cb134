"""The real SWE-bench harness (``swebench`` 5.0.2, the dev extra) grades our export unchanged.

``python -m swebench.harness.run_evaluation`` runs in a subprocess on the session ``pipeline``'s export
(the demo's three valid instances, their images already on the engine) exactly as a user would run it:

    python -m swebench.harness.run_evaluation --dataset_name dataset.jsonl --predictions_path gold \
        --run_id <id> --max_workers 3 --timeout 300 --report_dir <dir>

No option keeps it off Docker Hub: it pulls an image only when the engine lacks the row's ``image``
(``create_container``), and ours are local tags the build made. It writes ``logs/run_evaluation/`` under
its working directory and ``<model>.<run_id>.json`` under ``--report_dir``; both go to ``tmp_path``.
Gold must resolve 3/3; a patch that applies but fixes nothing must resolve 0/3. swebench runs its
container as root in ``/testbed`` and calls ``git`` there (apply, diff): the instance image's system-wide
``safe.directory`` is what lets it, and the run's own log shows git's diff of the patch.
"""

from __future__ import annotations

import json
from pathlib import Path

import docker

from tests.swebench_tools import swebench_eval

NOT_A_FIX = "NOTES.md"
"""A wrong prediction: it adds this file (it applies everywhere) and fixes nothing."""


def test_swebench_resolves_gold_and_nothing_else(pipeline, tmp_path: Path, docker_client: docker.DockerClient):
    records = pipeline.records()
    ids = sorted(r["instance_id"] for r in records)
    assert len(ids) == 3
    for r in records:  # what swebench 5.x's make_test_spec reads, straight from the export
        assert (r["log_parser"], r["eval_type"]) == ("parse_log_pytest_v2", "pass_and_fail")
        assert r["version"] and r["image"] and r["eval_script"] and r["source"] == "git"
        assert docker_client.images.get(r["image"])  # local: nothing to pull

    gold, printed, seconds = swebench_eval(pipeline.export_path, "gold", "sb-gold", tmp_path)
    assert "Instances resolved: 3" in printed, printed[-3000:]
    assert (gold["resolved_ids"], gold["completed_ids"], gold["error_ids"]) == (ids, ids, []), gold
    assert gold["unstopped_containers"] == [] and gold["infra_failure_ids"] == []
    for record in records:
        folder = tmp_path / "logs" / "run_evaluation" / "sb-gold" / "gold" / record["instance_id"]
        report = json.loads((folder / "report.json").read_text())[record["instance_id"]]
        assert report["tests_status"]["FAIL_TO_PASS"] == {"success": record["FAIL_TO_PASS"], "failure": []}
        assert report["tests_status"]["PASS_TO_PASS"] == {"success": record["PASS_TO_PASS"], "failure": []}
        run_log = (folder / "run_instance.log").read_text()
        assert "dubious ownership" not in run_log
        changed = record["patch"].split("\n", 1)[0]  # "diff --git a/<file> b/<file>" of the gold patch
        assert changed in run_log.split("Git diff before:", 1)[1], run_log[-3000:]  # root's git diff in /testbed

    wrong = [{"instance_id": r["instance_id"], "model_name_or_path": "not-a-fix",
              "model_patch": f"diff --git a/{NOT_A_FIX} b/{NOT_A_FIX}\nnew file mode 100644\n--- /dev/null\n"
                             f"+++ b/{NOT_A_FIX}\n@@ -0,0 +1 @@\n+not a fix\n"} for r in records]
    preds = tmp_path / "preds.json"
    preds.write_text(json.dumps({p["instance_id"]: p for p in wrong}))  # mini-swe-agent's preds.json shape
    summary, printed, wrong_seconds = swebench_eval(pipeline.export_path, str(preds), "sb-wrong", tmp_path)
    assert "Instances resolved: 0" in printed, printed[-3000:]
    assert (summary["resolved_ids"], summary["unresolved_ids"], summary["error_ids"]) == ([], ids, []), summary
    for record in records:
        folder = tmp_path / "logs" / "run_evaluation" / "sb-wrong" / "not-a-fix" / record["instance_id"]
        report = json.loads((folder / "report.json").read_text())[record["instance_id"]]
        assert report["patch_successfully_applied"] and not report["resolved"]
        assert report["tests_status"]["FAIL_TO_PASS"]["failure"] == record["FAIL_TO_PASS"]
    print(f"\nswebench run_evaluation: gold 3/3 in {seconds:.0f} s, not-a-fix 0/3 in {wrong_seconds:.0f} s")
