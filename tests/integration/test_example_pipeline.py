"""The whole pipeline on the built-in example, against the real Docker engine (shared session run).

Every example commit must reach exactly what ``examples.tinyledger.EXPECTED`` says; the valid ones
must carry exact FAIL_TO_PASS / PASS_TO_PASS lists, export as SWE-bench records, and their images must
hold no future history and fail their own eval script without the gold patch.
"""

from __future__ import annotations

import subprocess

import pytest

from examples import tinyledger
from factory.core.models import Status
from factory.docker.runtime import owner_id
from factory.pipeline.build import build_pending
from factory.pipeline.demo import summary
from tests.grades import printed

SWE_BENCH_FIELDS = (
    "repo", "instance_id", "base_commit", "patch", "test_patch", "problem_statement", "hints_text",
    "created_at", "version", "FAIL_TO_PASS", "PASS_TO_PASS",
)
FACTORY_FIELDS = ("dockerfile", "eval_script", "image", "language", "validation")

EXPECTED_TESTS = {
    "Round amounts to the nearest cent": (
        ["tests/test_rounding.py::test_half_cent_rounds_up", "tests/test_rounding.py::test_no_float_truncation"],
        [],
    ),
    "Merge pull request #7 from dev/discount-clamp": (
        ["tests/test_ledger.py::test_discount_never_makes_total_negative"],
        ["tests/test_ledger.py::test_total_with_discount"],
    ),
    "Accept negative amounts in parentheses": (
        ["tests/test_money.py::test_parse_accounting_negative"],
        [
            "tests/test_money.py::test_format_amount",
            "tests/test_money.py::test_parse_dollar_sign_and_commas",
            "tests/test_money.py::test_parse_plain",
        ],
    ),
}


def _git(repo, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def _ids_by_subject(pipeline) -> dict[str, str]:
    return {row.subject: row.instance_id for row in summary(pipeline.store, pipeline.repo)}


def _docker_run(image: str, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image, *command],
        capture_output=True, text=True, timeout=timeout,
    )


def test_every_example_commit_reaches_its_expected_outcome(pipeline):
    rows = summary(pipeline.store, pipeline.repo)
    observed = {row.subject: row.observed for row in rows}
    assert observed == tinyledger.EXPECTED
    assert len(pipeline.mined.added) == 7
    assert sorted(pipeline.outcomes) == sorted(pipeline.mined.added)
    assert "acme__tinyledger-12" in pipeline.mined.added  # "Fixes #12" names the instance
    assert "acme__tinyledger-7" in pipeline.mined.added  # "Merge pull request #7"


def test_valid_instances_have_exact_fail_to_pass_and_pass_to_pass(pipeline):
    ids = _ids_by_subject(pipeline)
    assert ids["Accept negative amounts in parentheses"] == "acme__tinyledger-12"
    for subject, (f2p, p2p) in EXPECTED_TESTS.items():
        inst = pipeline.store.instance(ids[subject])
        assert inst.status is Status.VALID, (subject, inst.status, inst.reason, inst.detail)
        assert inst.fail_to_pass == f2p, subject
        assert inst.pass_to_pass == p2p, subject
        assert inst.flaky_tests == []
    twelve = pipeline.store.instance("acme__tinyledger-12")
    assert twelve.fail_to_pass == ["tests/test_money.py::test_parse_accounting_negative"]
    assert len(twelve.pass_to_pass) == 3


def test_build_failure_and_flakiness_are_explained(pipeline):
    ids = _ids_by_subject(pipeline)
    failed = pipeline.store.instance(ids["Group thousands in formatted amounts"])
    assert failed.status is Status.BUILD_FAILED
    assert "tinyledger-fastjson-does-not-exist was not found in the package registry" in failed.detail
    assert pipeline.store.validations(failed.instance_id) == []

    flaky = pipeline.store.instance(ids["Add tag export"])
    assert (flaky.status, flaky.reason) == (Status.REJECTED, "flaky")
    assert flaky.flaky_tests, "a flaky rejection must name the tests that changed outcome"
    assert all(t.startswith("tests/test_tags.py::test_export_is_sorted_") for t in flaky.flaky_tests)


def test_every_validated_instance_has_one_before_and_two_after_runs(pipeline):
    assert pipeline.validations_before_build == 0
    validated = [i for i in pipeline.store.instances() if i.status in (Status.VALID, Status.REJECTED)]
    assert len(validated) == 6
    for inst in validated:
        runs = pipeline.store.validations(inst.instance_id)
        phases = sorted((r.phase, r.run_index) for r in runs)
        assert phases == [("after", 0), ("after", 1), ("before", 0)], inst.instance_id
        assert all(not r.timed_out and not r.infra_error for r in runs), inst.instance_id
    assert pipeline.store.table_counts()["validations"] == 3 * len(validated)
    for inst in pipeline.store.instances():
        if inst.status is Status.VALID:
            verdicts = [(r.phase, r.verdict) for r in pipeline.store.validations(inst.instance_id)]
            assert sorted(verdicts) == [("after", "pass"), ("after", "pass"), ("before", "fail")]


def test_export_has_the_three_valid_instances_as_swe_bench_records(pipeline):
    lines = pipeline.export_path.read_text().splitlines()
    assert pipeline.exported == 3
    assert len(lines) == 3
    records = pipeline.records()
    assert [r["instance_id"] for r in records] == sorted(r["instance_id"] for r in records)
    ids = _ids_by_subject(pipeline)
    assert {r["instance_id"] for r in records} == {ids[s] for s in EXPECTED_TESTS}
    candidates = {c.instance_id: c for c in pipeline.store.candidates()}
    earliest = pipeline.store.candidates()[0]
    for record in records:
        missing = [f for f in (*SWE_BENCH_FIELDS, *FACTORY_FIELDS) if f not in record]
        assert not missing, f"{record['instance_id']} lacks {missing}"
        cand = candidates[record["instance_id"]]
        inst = pipeline.store.instance(record["instance_id"])
        assert record["repo"] == "acme/tinyledger"
        assert record["base_commit"] == cand.base_commit and len(record["base_commit"]) == 40
        assert record["patch"] == cand.patch and record["patch"].startswith("diff --git ")
        assert record["test_patch"] == cand.test_patch and "tests/" in record["test_patch"]
        assert "tests/" not in "".join(
            line for line in record["patch"].splitlines() if line.startswith("diff --git"))
        assert isinstance(record["problem_statement"], str) and record["problem_statement"]
        assert isinstance(record["hints_text"], str)
        assert record["created_at"].startswith("2024-03-")
        assert isinstance(record["version"], str)
        assert isinstance(record["FAIL_TO_PASS"], list) and record["FAIL_TO_PASS"] == inst.fail_to_pass
        assert isinstance(record["PASS_TO_PASS"], list) and record["PASS_TO_PASS"] == inst.pass_to_pass
        assert record["language"] == "python"
        assert record["image"] == inst.image and record["image"].startswith("issue-factory/instance.")
        assert record["dockerfile"].startswith("# issue-factory env image for acme/tinyledger")
        assert "FACTORY_EXIT_CODE" in record["eval_script"]
        assert record["validation"] == {
            "runs_before": 1, "runs_after": 2, "before": ["fail"], "after": ["pass", "pass"], "flaky_tests": [],
            "unstable_tests": [],
        }
        # One env serves all three; it is named after the earliest candidate using it, whichever of the
        # two parallel workers reached it first, so two runs export the same bytes.
        assert record["environment_setup_commit"] == earliest.base_commit


def test_a_second_build_processes_nothing(pipeline):
    counts = pipeline.store.counts()
    again = build_pending(pipeline.store, pipeline.settings, workers=2)
    assert again.processed == []
    assert pipeline.store.counts() == counts
    assert pipeline.store.table_counts()["candidates"] == 7


def test_no_container_is_left_behind(pipeline, leaks):
    assert leaks(owner=owner_id()) == []
    assert leaks() == []


@pytest.mark.parametrize("subject", list(EXPECTED_TESTS))
def test_instance_image_holds_no_future_history(pipeline, subject):
    record = next(r for r in pipeline.records() if r["instance_id"] == _ids_by_subject(pipeline)[subject])
    base = record["base_commit"]
    done = _docker_run(record["image"], "git", "-C", "/testbed", "log", "--all", "--format=%H")
    assert done.returncode == 0, done.stderr
    shas = done.stdout.split()
    assert shas[0] == base, "the newest commit in the image must be base_commit"
    assert set(shas) == set(_git(pipeline.repo, "rev-list", base).split())
    future = set(_git(pipeline.repo, "rev-list", "--all", f"^{base}").split())
    assert future and not future & set(shas)
    refs = _docker_run(record["image"], "git", "-C", "/testbed", "for-each-ref", "--format=%(refname)")
    assert refs.stdout.split() == ["refs/heads/main"]


@pytest.mark.parametrize("subject", list(EXPECTED_TESTS))
def test_exported_eval_script_fails_without_and_passes_with_the_gold_patch(pipeline, subject):
    record = next(r for r in pipeline.records() if r["instance_id"] == _ids_by_subject(pipeline)[subject])
    without = _docker_run(record["image"], "bash", "-c", record["eval_script"])
    code = printed(without.stdout, "FACTORY_EXIT_CODE")
    assert code is not None, f"no FACTORY_EXIT_CODE marker:\n{without.stdout[-2000:]}\n{without.stderr[-2000:]}"
    assert code != "0", without.stdout[-2000:]
    for test in record["FAIL_TO_PASS"]:
        assert test.split("::")[-1] in without.stdout

    apply_then_eval = 'printf "%s" "$1" >/tmp/gold.patch && git apply /tmp/gold.patch && bash -c "$2"'
    with_gold = _docker_run(
        record["image"], "bash", "-c", apply_then_eval, "_", record["patch"], record["eval_script"]
    )
    assert printed(with_gold.stdout, "FACTORY_EXIT_CODE") == "0", with_gold.stdout[-2000:] + with_gold.stderr[-2000:]
