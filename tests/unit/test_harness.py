"""The evaluation harness's pure parts (factory.harness: dataset, judge, reports, evaluate): verdicts,
reports, summaries, the reuse key, and the eval-script timing line — no Docker
(tests/integration/test_harness.py runs the real thing)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from factory.core.errors import UserError
from factory.core.models import TestOutcome as O
from factory.core.templates import render
from factory.grading.verdict import RunGrade
from factory.harness.dataset import EvalInstance, instances_from_records
from factory.harness.evaluate import evaluate
from factory.harness.judge import judge, model_dir
from factory.harness.predictions import Prediction, Predictions
from factory.harness.reports import InstanceResult, grade_from_json, grade_to_json, run_summary
from factory.store import Store
from tests.grades import printed

INST = EvalInstance("acme__x-1", "img", "script", "gold", ("t.py::f2p_a", "t.py::f2p_b"), ("t.py::p2p",))
PRED = Prediction("acme__x-1", "m", "diff --git a/x b/x\n")
ALL_PASS = {"t.py::f2p_a": O.PASSED, "t.py::f2p_b": O.PASSED, "t.py::p2p": O.PASSED}


def status_of(verdict) -> dict:
    return verdict.report["acme__x-1"]["tests_status"]


def test_resolved_needs_a_passing_run_and_every_listed_test_passed() -> None:
    v = judge(INST, PRED, RunGrade("pass", 0, dict(ALL_PASS)))
    assert (v.status, v.reason) == ("resolved", "")
    assert v.report == {"acme__x-1": {
        "patch_is_None": False, "patch_exists": True, "patch_successfully_applied": True, "resolved": True,
        "tests_status": {
            "FAIL_TO_PASS": {"success": ["t.py::f2p_a", "t.py::f2p_b"], "failure": []},
            "PASS_TO_PASS": {"success": ["t.py::p2p"], "failure": []},
            "FAIL_TO_FAIL": {"success": [], "failure": []},
            "PASS_TO_FAIL": {"success": [], "failure": []},
        },
    }}


@pytest.mark.parametrize(
    ("tests", "f2p_failure", "p2p_failure"),
    [
        ({**ALL_PASS, "t.py::f2p_b": O.FAILED}, ["t.py::f2p_b"], []),
        ({**ALL_PASS, "t.py::p2p": O.ERROR}, [], ["t.py::p2p"]),
        ({k: v for k, v in ALL_PASS.items() if k != "t.py::f2p_a"}, ["t.py::f2p_a"], []),  # did not run
        ({**ALL_PASS, "t.py::f2p_a": O.SKIPPED}, ["t.py::f2p_a"], []),
    ],
)
def test_a_listed_test_that_did_not_pass_is_a_failure(tests, f2p_failure, p2p_failure) -> None:
    v = judge(INST, PRED, RunGrade("fail", 1, tests))
    assert v.status == "unresolved"
    assert status_of(v)["FAIL_TO_PASS"]["failure"] == f2p_failure
    assert status_of(v)["PASS_TO_PASS"]["failure"] == p2p_failure
    assert "not passing" in v.reason


def test_every_listed_test_passing_is_not_enough_when_the_run_failed() -> None:
    # Exit code 1 with all listed tests passed (another test in the target files failed): the exit code
    # cross-check keeps it unresolved, with the grader's note as the reason.
    v = judge(INST, PRED, RunGrade("fail", 1, {**ALL_PASS, "t.py::other": O.FAILED}, note="exit code 1"))
    assert (v.status, v.reason) == ("unresolved", "exit code 1")
    assert status_of(v)["FAIL_TO_PASS"]["failure"] == []


def test_a_patch_that_does_not_apply_is_a_completed_unresolved_not_an_error() -> None:
    v = judge(INST, PRED, RunGrade("fail", None, {}, patch_error="model_patch"))
    assert (v.status, v.reason) == ("unresolved", "patch did not apply")
    body = v.report["acme__x-1"]
    assert body["patch_successfully_applied"] is False and body["resolved"] is False
    assert status_of(v)["FAIL_TO_PASS"] == {"success": [], "failure": ["t.py::f2p_a", "t.py::f2p_b"]}
    assert status_of(v)["PASS_TO_PASS"] == {"success": [], "failure": ["t.py::p2p"]}


def test_a_test_patch_broken_by_the_model_patch_is_unresolved() -> None:
    v = judge(INST, PRED, RunGrade("fail", None, dict(ALL_PASS), patch_error="test_patch"))
    assert v.status == "unresolved"
    assert v.report["acme__x-1"]["patch_successfully_applied"] is True
    assert status_of(v)["FAIL_TO_PASS"]["success"] == []  # nothing counts from a run that stopped early


@pytest.mark.parametrize("infra", ["timeout", "oom", "docker", "marker_missing", "image_missing"])
def test_infrastructure_failures_are_errors(infra: str) -> None:
    v = judge(INST, PRED, RunGrade("error", 0, dict(ALL_PASS), infra_error=infra, note="details"))
    assert (v.status, v.reason) == ("error", f"{infra}: details")
    assert v.report["acme__x-1"]["resolved"] is False


def test_empty_null_and_refused_patches() -> None:
    empty = judge(INST, Prediction("acme__x-1", "m", ""), None)
    assert (empty.status, empty.report["acme__x-1"]["patch_is_None"]) == ("empty", False)
    null = judge(INST, Prediction("acme__x-1", "m", None), None)
    assert (null.status, null.report["acme__x-1"]["patch_is_None"]) == ("empty", True)
    assert null.report["acme__x-1"]["patch_exists"] is False
    refused = judge(INST, PRED, None, refused="absolute path '/etc/x'")
    assert (refused.status, refused.reason) == ("unresolved", "patch refused: absolute path '/etc/x'")
    assert refused.report["acme__x-1"]["patch_successfully_applied"] is False


def test_run_summary_has_swe_bench_schema_v2_fields() -> None:
    insts = [INST, *(EvalInstance(f"acme__x-{n}", "i", "s", "", (), ()) for n in range(2, 7))]
    preds = {"acme__x-1": PRED, "acme__x-2": Prediction("acme__x-2", "m", None),
             **{f"acme__x-{n}": Prediction(f"acme__x-{n}", "m", "p") for n in (3, 5, 6)}}
    results = {
        "acme__x-1": InstanceResult("acme__x-1", "m", "resolved", "", {}),
        "acme__x-2": InstanceResult("acme__x-2", "m", "empty", "", {}),
        "acme__x-3": InstanceResult("acme__x-3", "m", "error", "timeout", {}, infra_error="timeout"),
        "acme__x-5": InstanceResult("acme__x-5", "m", "error", "docker: gone", {}, infra_error="docker"),
        "acme__x-6": InstanceResult("acme__x-6", "m", "unresolved", "1/1 FAIL_TO_PASS not passing", {}),
    }
    assert run_summary(insts, preds, results, ["c1"]) == {
        "total_instances": 6, "submitted_instances": 5, "completed_instances": 2, "resolved_instances": 1,
        "unresolved_instances": 1, "empty_patch_instances": 1, "error_instances": 2,
        "completed_ids": ["acme__x-1", "acme__x-6"], "incomplete_ids": ["acme__x-4"], "empty_patch_ids": ["acme__x-2"],
        "submitted_ids": ["acme__x-1", "acme__x-2", "acme__x-3", "acme__x-5", "acme__x-6"],
        "resolved_ids": ["acme__x-1"], "unresolved_ids": ["acme__x-6"], "error_ids": ["acme__x-3", "acme__x-5"],
        "unstopped_instances": 1, "unstopped_containers": ["c1"], "unremoved_images": [], "schema_version": 2,
        # swebench 5.x's keys: only errors are classified, from the run's own error (never the log); only
        # what no patch can cause (the engine failed) is an infrastructure failure
        "infra_failure_instances": 1, "infra_failure_ids": ["acme__x-5"],
        "ambiguous_failure_instances": 1, "ambiguous_failure_ids": ["acme__x-3"],
        "failure_reasons": {"acme__x-3": "tests_timed_out", "acme__x-5": "container_unavailable"},
    }


def test_a_stored_grade_round_trips() -> None:
    grade = RunGrade("fail", 1, {"a": O.FAILED, "b": O.PASSED}, patch_error="", note="n", test_seconds=1.25)
    again = grade_from_json(json.loads(json.dumps(grade_to_json(grade))))
    assert again == grade


def test_dataset_records_accept_json_encoded_lists_and_need_image_and_eval_script() -> None:
    record = {"instance_id": "a__b-1", "image": "img", "eval_script": "s", "patch": "p",
              "FAIL_TO_PASS": '["t::a"]', "PASS_TO_PASS": []}
    (inst,) = instances_from_records([record], "ds")
    assert (inst.fail_to_pass, inst.pass_to_pass) == (("t::a",), ())
    with pytest.raises(UserError, match="a__b-1 has no image"):
        instances_from_records([{**record, "image": ""}], "ds")
    with pytest.raises(UserError, match="FAIL_TO_PASS of a__b-1 is not a list"):
        instances_from_records([{**record, "FAIL_TO_PASS": "t::a"}], "ds")


# ---- the reuse key in the store ---------------------------------------------------------------------


def row(**overrides) -> dict:
    base = dict(run_id="r1", model="m", instance_id="i", patch_sha256="p", image_id="sha256:img",
                eval_script_sha256="e", status="unresolved", reason="", resolved=False, report={}, grade={},
                exit_code=1, test_seconds=0.5, seconds=2.0, reused_from="", log_dir="")
    return {**base, **overrides}


def test_a_result_is_reusable_only_with_the_same_instance_patch_image_and_script(tmp_path: Path) -> None:
    with Store(tmp_path / "f.duckdb") as store:
        store.save_eval_result(row())
        store.save_eval_result(row(run_id="r2", instance_id="j", status="error"))  # errors are retried
        assert store.reusable_eval_result("i", "p", "sha256:img", "e")["run_id"] == "r1"
        for key in (("x", "p", "sha256:img", "e"), ("i", "q", "sha256:img", "e"),
                    ("i", "p", "sha256:other", "e"), ("i", "p", "sha256:img", "f"), ("j", "p", "sha256:img", "e")):
            assert store.reusable_eval_result(*key) is None, key
        store.save_eval_result(row(seconds=0.0, reused_from="r1"))  # same run again: replaced, not added
        assert len(store.eval_results("r1")) == 1
        assert store.eval_runs()[0]["instances"] == 1


# ---- the eval script's timing line ------------------------------------------------------------------


def render_eval(test_command: str, test_patch: str = "", new_files: tuple[str, ...] = ()) -> str:
    from factory.grading.contract import template_values

    patch = test_patch if not test_patch or test_patch.endswith("\n") else test_patch + "\n"
    return render(
        "eval.sh.j2", instance_id="a__b-1", repo="a/b", base_commit="HEAD", test_patch=patch,
        delimiter="FACTORY_EOF", pre_test_commands=[], test_env={}, test_command=test_command,
        run_as_root=False, canary_modules=[], **template_values(),
    )


def run_local(script: str, where: Path) -> str:
    path = where.parent / f"{where.name}-eval.sh"
    path.write_text(script.replace("cd /testbed", f"cd {where}").replace("/tmp/factory-", f"{where.parent}/f-"))
    done = subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


def test_the_eval_script_times_the_test_command_alone_before_its_marker(tmp_path: Path) -> None:
    work = tmp_path / "testbed"
    work.mkdir()
    log = run_local(render_eval("sleep 0.3; echo FACTORY_EXIT_CODE=0; (exit 3)"), work)
    lines = log.splitlines()
    assert lines[-1] == "FACTORY_EXIT_CODE=3" and printed(log, "FACTORY_EXIT_CODE") == "3"
    assert lines[-2].startswith("FACTORY_TEST_SECONDS=")
    assert 0.3 <= float(printed(log, "FACTORY_TEST_SECONDS")) < 5


def test_files_the_test_patch_creates_replace_what_a_model_patch_put_there(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    repo.commit("init", {"src/m.py": "x = 1\n"})
    repo.write({"tests/test_new.py": "def test_new():\n    assert False\n"})
    repo("add", "-A")
    test_patch = repo("diff", "--cached", "HEAD").decode()
    repo("reset", "-q", "--hard")
    (repo.root / "tests").mkdir(exist_ok=True)
    (repo.root / "tests" / "test_new.py").write_text("def test_new():\n    assert True  # the model's version\n")
    log = run_local(render_eval("cat tests/test_new.py", test_patch, ("tests/test_new.py",)), repo.root)
    assert "FACTORY_PATCH_FAILED" not in log, log
    assert "assert False" in log and "the model's version" not in log
    assert printed(log, "FACTORY_EXIT_CODE") == "0"


def test_the_timing_line_is_masked_in_llm_evidence_so_replays_still_match() -> None:
    from agents.llm.ledger import steady

    a = steady("collected 2 items\nFACTORY_TEST_SECONDS=0.948363665\nFACTORY_EXIT_CODE=1\n")
    b = steady("collected 2 items\nFACTORY_TEST_SECONDS=12.000000001\nFACTORY_EXIT_CODE=1\n")
    assert a == b and "FACTORY_EXIT_CODE=1" in a


# ---- report names: model directories and summary files ---------------------------------------------

_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9._+-]{1,128}")


def assert_safe_component(folder: str) -> None:
    assert _SAFE_COMPONENT.fullmatch(folder) and folder not in (".", ".."), repr(folder)


@pytest.mark.parametrize(
    ("model", "folder"),
    [("openai/gpt-4.1", "openai__gpt-4.1"), ("gold", "gold"), ("claude-3.5_sonnet", "claude-3.5_sonnet"),
     ("my_agent/v2", "my_agent__v2"), ("acme/agent-a", "acme__agent-a"), ("a/b/c", "a__b__c"),
     ("20240620_sweagent_claude3.5sonnet", "20240620_sweagent_claude3.5sonnet"), (".hidden", ".hidden"),
     ("x" * 128, "x" * 128)],
)
def test_a_plain_model_name_gets_swe_bench_s_directory(model: str, folder: str) -> None:
    assert model_dir(model) == folder == model.replace("/", "__")


@pytest.mark.parametrize(
    "model",
    ["a__b", "_a", "a_", "a/_b", "a_/b", "a//b", "/a", "a/", "", ".", "..", "...", "a/../b", "../..", "a/./b",
     "a\0b", "a\nb", "a\x7fb", "a b", "a+b", "a\\b", "模型", "\ud800", "x" * 129, "x/" * 100 + "x", "x" * 10_000],
)
def test_any_other_model_name_gets_a_hashed_single_safe_component(model: str) -> None:
    folder = model_dir(model)
    assert_safe_component(folder)
    assert "+" in folder and len(folder.rpartition("+")[2]) == 16
    assert folder != model.replace("/", "__")


def test_model_directories_are_injective_exhaustively_over_a_crafted_alphabet() -> None:
    # Every string of up to 6 characters over the characters that matter to the mapping ("_" and "/" for
    # SWE-bench's replace, "." for "." / "..", "+" for the hash separator), plus the parametrized ones.
    names = [""] + ["".join(p) for n in range(1, 7) for p in itertools.product("a_/.-+", repeat=n)]
    names += ["a" * 127, "a" * 128, "a" * 129, "a/" * 63 + "a", "a/" * 64 + "a", "\0", "\x01", "\ud800", "é"]
    folders: dict[str, str] = {}
    for name in names:
        folder = model_dir(name)
        assert_safe_component(folder)
        assert folders.setdefault(folder, name) == name, f"{name!r} and {folders[folder]!r} share {folder!r}"
    plain = [n for n in names if "+" not in model_dir(n)]
    assert len(plain) > 1000 and all(model_dir(n) == n.replace("/", "__") for n in plain)


def test_every_model_directory_stays_inside_the_report_root(tmp_path: Path) -> None:
    for model in ("..", ".", "../x", "a/../../b", "/etc/passwd", "a\0b", "x" * 10_000, "a" * 128):
        target = tmp_path / model_dir(model)
        target.mkdir()
        assert target.resolve().parent == tmp_path.resolve()


class _NoImages:
    """A Docker client without containers or images: every prediction is an image_missing error."""

    def __init__(self) -> None:
        from docker.errors import ImageNotFound

        def missing(tag: str):
            raise ImageNotFound(tag)

        self.api = SimpleNamespace(containers=lambda **_: [])
        self.images = SimpleNamespace(get=missing)
        self.containers = SimpleNamespace(list=lambda **_: [])


def evaluate_models(root: Path, store: Store, settings, run_id: str, *models: str):
    records = [{"instance_id": "acme__x-1", "image": "img", "eval_script": "s", "patch": "p",
                "FAIL_TO_PASS": [], "PASS_TO_PASS": []}]
    preds = Predictions([Prediction("acme__x-1", m, "diff --git a/x b/x\n") for m in models], [], "preds.jsonl")
    return evaluate(preds, records, run_id, store, settings, report_dir=root, client=_NoImages())


def test_models_sharing_a_swe_bench_directory_get_their_own_logs_and_summaries(tmp_path: Path, store,
                                                                              settings) -> None:
    report = evaluate_models(tmp_path, store, settings, "r1", "a/b", "a__b")
    folders = {m: r.log_dir.parent.name for m in ("a/b", "a__b") for r in report.results if r.model == m}
    assert folders["a/b"] == "a__b" and folders["a__b"] != "a__b"
    assert report.summary_paths["a/b"] == tmp_path / "a__b.r1.json"
    assert report.summary_paths["a__b"] == tmp_path / f"{folders['a__b']}.r1.json"
    for model, path in report.summary_paths.items():
        data = json.loads(path.read_text())
        assert (data["model_name_or_path"], data["run_id"], data["error_ids"]) == (model, "r1", ["acme__x-1"])
        assert data == report.summaries[model]


def test_a_summary_file_of_another_model_and_run_id_is_never_overwritten(tmp_path: Path, store,
                                                                         settings) -> None:
    first = evaluate_models(tmp_path, store, settings, "c", "a.b")
    second = evaluate_models(tmp_path, store, settings, "b.c", "a")
    assert first.summary_paths["a.b"] == tmp_path / "a.b.c.json"  # SWE-bench's name for both pairs
    other = second.summary_paths["a"]
    assert other != first.summary_paths["a.b"] and other.name.startswith("a+") and other.name.endswith(".b.c.json")
    assert json.loads((tmp_path / "a.b.c.json").read_text())["model_name_or_path"] == "a.b"
    assert json.loads(other.read_text())["model_name_or_path"] == "a"
    # Running either pair again rewrites its own file, nothing else.
    assert evaluate_models(tmp_path, store, settings, "b.c", "a").summary_paths["a"] == other
    assert evaluate_models(tmp_path, store, settings, "c", "a.b").summary_paths["a.b"] == tmp_path / "a.b.c.json"
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(["a.b.c.json", other.name])


def test_a_summary_without_owner_keys_is_replaced_only_when_its_name_has_one_reading(tmp_path: Path, store,
                                                                                    settings) -> None:
    legacy = {"schema_version": 2, "resolved_ids": ["legacy"]}  # SWE-bench's summary: no owner keys
    (tmp_path / "m.r1.json").write_text(json.dumps(legacy))
    assert evaluate_models(tmp_path, store, settings, "r1", "m").summary_paths["m"] == tmp_path / "m.r1.json"
    # "a.b.c.json" could be (a.b, c) or (a, b.c); with a log folder for (a, b.c) it may be theirs.
    (tmp_path / "logs" / "run_evaluation" / "b.c" / "a").mkdir(parents=True)
    (tmp_path / "a.b.c.json").write_text(json.dumps(legacy))
    path = evaluate_models(tmp_path, store, settings, "c", "a.b").summary_paths["a.b"]
    assert path != tmp_path / "a.b.c.json"
    assert json.loads((tmp_path / "a.b.c.json").read_text()) == legacy
    # Without that folder the one reading left is (a.b, c): this pair's own older summary.
    (tmp_path / "x.y.z.json").write_text(json.dumps(legacy))
    assert evaluate_models(tmp_path, store, settings, "z", "x.y").summary_paths["x.y"] == tmp_path / "x.y.z.json"


def test_an_image_other_than_the_pinned_digest_is_not_run(tmp_path: Path, store, settings) -> None:
    """A row's ``image_digest`` pins the image its verdicts came from: a different image under the same tag
    is an image_missing error that names both IDs and the fix; no container is started (this client has none)."""
    client = _NoImages()
    client.images = SimpleNamespace(get=lambda tag: SimpleNamespace(id="sha256:" + "a" * 64))
    records = [{"instance_id": "acme__x-1", "image": "img", "eval_script": "s", "patch": "p",
                "FAIL_TO_PASS": [], "PASS_TO_PASS": [], "image_digest": "sha256:" + "b" * 64}]
    preds = Predictions([Prediction("acme__x-1", "m", "diff --git a/x b/x\n")], [], "preds.jsonl")
    report = evaluate(preds, records, "pin", store, settings, report_dir=tmp_path, client=client)
    (result,) = report.results
    assert (result.status, result.infra_error) == ("error", "image_missing")
    log = (result.log_dir / "run_instance.log").read_text()
    assert "sha256:" + "a" * 64 in log and "not sha256:" + "b" * 64 in log and "factory images load" in log
