"""Watching and exporting from the command line (issue 16): reads while a writer holds the store, the
build's progress lines off a terminal, the "nothing to do" wording, the LLM builder's explicit switch and
what it says before its first call, and rejected instances kept out of SWE-bench datasets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from factory.cli.build import nothing_to_do
from factory.cli.progress import BuildDisplay
from factory.core.errors import UserError
from factory.core.models import Instance, Status
from factory.core.resolve import resolve
from factory.pipeline.instances_export import FORMAT, default_path, export_instances
from factory.store import Store
from tests.unit.test_store_lock import cand, held

FACTORY = Path(sys.executable).parent / "factory"


def factory(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("FACTORY_DB", "FACTORY_HOME")}
    return subprocess.run([str(FACTORY), *args], cwd=cwd, env={**clean, "COLUMNS": "200", **(env or {})},
                          capture_output=True, text=True, timeout=120, check=False)


def stored(db: Path, statuses: dict[str, tuple[Status, str]]) -> None:
    with Store(db) as store:
        store.add_candidates([cand(n, iid) for n, iid in enumerate(statuses, start=1)])
        for iid, (status, reason) in statuses.items():
            store.save_instance(Instance(instance_id=iid, status=status, reason=reason,
                                         fail_to_pass=["tests/test_m.py::test_fix"] if status is Status.VALID else []))


# ---- reading while a writer holds the store --------------------------------------------------------


def test_status_and_export_read_while_another_process_writes(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    with held(db):  # another process holds the writer lock, as `factory build` does for its whole run
        status = factory("status", "--json", "--db", str(db), cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        payload = json.loads(status.stdout)
        assert payload["total"] == 1 and payload["counts"]["pending"] == 1 and payload["in_progress"] == []
        evals = factory("eval-status", "--json", "--db", str(db), cwd=tmp_path)
        assert evals.returncode == 0, evals.stderr
        assert json.loads(evals.stdout) == []
        exported = factory("export", "--out", str(tmp_path / "d.jsonl"), "--db", str(db), cwd=tmp_path)
        assert exported.returncode == 0, exported.stderr
        assert (tmp_path / "d.jsonl").read_text() == ""  # nothing valid yet
        mined = factory("mine", "--git", str(tmp_path), "--db", str(db), cwd=tmp_path)
    assert mined.returncode == 2  # a second writer: one clear message naming the holder, no traceback
    assert "in use by another factory process (PID" in mined.stderr and "factory status" in mined.stderr
    assert "Traceback" not in mined.stderr


def test_status_lists_instances_in_progress(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    stored(db, {"acme__lib-1": (Status.VALID, ""), "acme__lib-2": (Status.BUILDING, ""),
                "acme__lib-3": (Status.REJECTED, "pass2pass")})
    payload = json.loads(factory("status", "--json", "--db", str(db), cwd=tmp_path).stdout)
    assert payload["total"] == 3
    assert payload["in_progress"] == ["acme__lib-2"]
    assert payload["counts"]["valid"] == 1 and payload["counts"]["rejected"] == {"pass2pass": 1}


# ---- the build's display ---------------------------------------------------------------------------


def plain_display() -> tuple[BuildDisplay, io.StringIO]:
    text = io.StringIO()
    return BuildDisplay(Console(file=text, width=200), "building"), text


def test_plain_lines_count_each_instance_once() -> None:
    display, text = plain_display()
    assert not display.live  # not a terminal: no bar
    with display.shown():
        display.planned(["a__b-1", "a__b-2", "a__b-3"])
        display.started("a__b-1")
        display.started("a__b-2")
        assert display.running_text() == "a__b-1, a__b-2"
        display.done(Instance(instance_id="a__b-2", status=Status.ERROR, reason="docker"))
        display.started("a__b-2")  # Prefect retries the infrastructure error
        display.done(Instance(instance_id="a__b-2", status=Status.VALID))
        display.done(Instance(instance_id="a__b-1", status=Status.REJECTED, reason="pass2pass"))
    assert text.getvalue().splitlines() == [
        "building 3 candidate(s)",
        "[1/3] a__b-2: error(docker)",
        "[1/3] a__b-2: valid",
        "[2/3] a__b-1: rejected(pass2pass)",
    ]
    assert (display.finished, display.valid, display.running_text()) == (2, 1, "")


def test_running_text_is_bounded() -> None:
    display, _ = plain_display()
    for n in range(5):
        display.started(f"a__b-{n}")
    assert display.running_text() == "a__b-0, a__b-1, a__b-2 +2 more"


def test_live_bar_still_prints_each_outcome() -> None:
    text = io.StringIO()
    display = BuildDisplay(Console(file=text, width=200, force_terminal=True), "building")
    assert display.live
    with display.shown():
        display.planned(["a__b-1"])
        display.started("a__b-1")
        display.done(Instance(instance_id="a__b-1", status=Status.VALID))
    assert "[1/1] a__b-1: valid" in text.getvalue()


def test_nothing_to_do_tells_an_empty_store_from_a_finished_one(tmp_path: Path) -> None:
    empty = {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 0}
    said = nothing_to_do(empty, tmp_path / "f.duckdb", only=False)
    assert "no candidates" in said and "factory mine --git" in said and "already built" not in said
    done = {**empty, "valid": 2, "rejected": {"flaky": 1}}
    said = nothing_to_do(done, tmp_path / "f.duckdb", only=False)
    assert "all 3 candidate(s) are already built and validated" in said and "--rebuild" in said


# ---- the LLM builder runs only when asked ----------------------------------------------------------

LLM_ENV = {"OPENAI_MODEL": "gpt-4o-mini", "OPENAI_API_KEY": "sk-canary-123",
           "OPENAI_BASE_URL": "https://user:pw@llm.example.com:8443/v1"}


def test_a_model_in_the_environment_does_not_turn_the_llm_builder_on() -> None:
    from agents.llm.client import describe_llm, llm_settings_for_build

    settings = resolve(None, environ=LLM_ENV)
    assert settings.build.llm is False
    assert llm_settings_for_build(settings) is None
    assert describe_llm(settings) == ""


def test_llm_on_names_model_host_and_budget_never_the_key() -> None:
    from agents.llm.client import describe_llm

    settings = resolve(None, environ=LLM_ENV, flags={"build.llm": True, "build.max_llm_usd": 0.1})
    line = describe_llm(settings)
    assert "gpt-4o-mini" in line and "llm.example.com:8443" in line
    assert "$0.1" in line and "40 call(s)" in line and "3 round(s)" in line
    assert "sk-canary" not in line and "pw" not in line


def test_llm_on_without_a_model_is_a_user_error() -> None:
    from agents.llm.client import describe_llm

    settings = resolve(None, environ={}, flags={"build.llm": True})
    with pytest.raises(UserError) as info:
        describe_llm(settings)
    assert "no model is configured" in info.value.what and "FACTORY_LLM_MODEL" in info.value.fix


def test_build_llm_without_a_model_stops_before_any_work(tmp_path: Path) -> None:
    blank = {name: "" for name in ("FACTORY_LLM_MODEL", "OPENAI_MODEL")}
    done = factory("build", "--llm", "--db", str(tmp_path / "f.duckdb"), cwd=tmp_path, env=blank)
    assert done.returncode == 2, done.stderr
    assert "no model is configured" in done.stderr and "fix:" in done.stderr
    assert not (tmp_path / "f.duckdb").exists()  # stopped before the flow opened the store


def test_project_file_turns_the_llm_builder_on(tmp_path: Path) -> None:
    from agents.llm.client import describe_llm

    toml = tmp_path / "factory.toml"
    toml.write_text('[build]\nllm = true\n[llm]\nmodel = "qwen"\nbase_url = "http://127.0.0.1:9/v1"\n')
    assert describe_llm(resolve(toml, environ={})).startswith("LLM builder on: model qwen at 127.0.0.1:9")


# ---- rejected instances stay out of SWE-bench datasets ---------------------------------------------


def test_export_all_is_refused_and_instances_go_to_their_own_file(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    stored(db, {"acme__lib-1": (Status.VALID, ""), "acme__lib-2": (Status.REJECTED, "pass2pass")})
    refused = factory("export", "--all", "--out", str(tmp_path / "dataset.jsonl"), "--db", str(db), cwd=tmp_path)
    assert refused.returncode == 2 and "--format instances" in refused.stderr
    assert not (tmp_path / "dataset.jsonl").exists()

    wrong = factory("export", "--format", "instances", "--out", str(tmp_path / "dataset.jsonl"), "--db", str(db),
                    cwd=tmp_path)
    assert wrong.returncode == 2 and "dataset.all-instances.jsonl" in wrong.stderr
    assert not (tmp_path / "dataset.jsonl").exists()

    out = tmp_path / "dataset.all-instances.jsonl"
    done = factory("export", "--format", "instances", "--out", str(out), "--db", str(db), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["instance_id"], r["status"], r["swebench_task"]) for r in rows] == [
        ("acme__lib-1", "valid", True), ("acme__lib-2", "rejected", False)]
    assert {r["export_format"] for r in rows} == {FORMAT} and "not a SWE-bench dataset" in FORMAT

    dataset = factory("export", "--out", str(tmp_path / "dataset.jsonl"), "--db", str(db), cwd=tmp_path)
    assert dataset.returncode == 0, dataset.stderr
    assert [json.loads(line)["instance_id"] for line in (tmp_path / "dataset.jsonl").read_text().splitlines()] == [
        "acme__lib-1"]


def test_project_include_all_writes_the_instances_file_beside_the_dataset(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    stored(db, {"acme__lib-1": (Status.VALID, ""), "acme__lib-2": (Status.BUILD_FAILED, "env_build")})
    (tmp_path / "factory.toml").write_text('db = "f.duckdb"\n[export]\nout = "out/data.jsonl"\ninclude_all = true\n')
    done = factory("export", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "out" / "data.jsonl").read_text().splitlines()) == 1
    assert len((tmp_path / "out" / "data.all-instances.jsonl").read_text().splitlines()) == 2


def test_instances_export_refuses_a_dataset_name(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    stored(db, {"acme__lib-1": (Status.REJECTED, "flaky")})
    assert default_path(Path("x/dataset.jsonl")) == Path("x/dataset.all-instances.jsonl")
    with Store(db, read_only=True) as store, pytest.raises(UserError):
        export_instances(store, tmp_path / "train.jsonl")
    assert not (tmp_path / "train.jsonl").exists()
