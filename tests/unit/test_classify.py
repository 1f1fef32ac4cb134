"""Every branch of factory.grading.classify.classify: graded before/after runs -> candidate verdict."""

from __future__ import annotations

import pytest

from factory.core.models import InfraError, Rejection, Status
from factory.core.models import TestOutcome as Outcome
from factory.grading.classify import classify
from factory.grading.verdict import RunGrade
from tests.grades import graded

P, F, E, S = Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.SKIPPED


def run(
    verdict: str,
    tests: dict[str, Outcome] | None = None,
    *,
    code: int | None = None,
    infra: str = "",
    patch: str = "",
    note: str = "",
) -> RunGrade:
    if code is None and verdict != "error":
        code = 0 if verdict == "pass" else 1
    return RunGrade(verdict, code, dict(tests or {}), infra_error=infra, patch_error=patch, note=note)


GOOD_BEFORE = run("fail", {"t::a": F, "t::b": P})
GOOD_AFTER = run("pass", {"t::a": P, "t::b": P})


# ---- infrastructure errors ------------------------------------------------------------------------


@pytest.mark.parametrize("reason", list(InfraError))
@pytest.mark.parametrize("where", ["before", "after"])
def test_each_infra_error_is_an_error(reason: InfraError, where: str) -> None:
    bad = run("error", infra=reason.value, note=f"{reason.value} happened")
    before = [bad] if where == "before" else [GOOD_BEFORE]
    after = [GOOD_AFTER, bad] if where == "after" else [GOOD_AFTER, GOOD_AFTER]
    verdict = classify(before, after)
    assert verdict.status is Status.ERROR
    assert verdict.reason == reason.value
    assert verdict.detail == f"{reason.value} happened"
    assert verdict.fail_to_pass == [] and verdict.pass_to_pass == []


def test_infra_error_without_note_uses_reason_as_detail() -> None:
    verdict = classify([run("error", infra="oom")], [GOOD_AFTER])
    assert (verdict.status, verdict.reason, verdict.detail) == (Status.ERROR, "oom", "oom")


def test_infra_errors_are_reported_in_a_fixed_order() -> None:
    verdict = classify([run("error", infra="marker_missing")], [run("error", infra="docker")])
    assert verdict.reason == InfraError.DOCKER


def test_infra_error_wins_over_a_patch_failure() -> None:
    verdict = classify([run("fail", patch="test_patch")], [run("error", infra="timeout")])
    assert (verdict.status, verdict.reason) == (Status.ERROR, "timeout")


def test_graded_infra_errors_reach_classify() -> None:
    before = graded(1, timed_out=True)
    verdict = classify([before], [GOOD_AFTER])
    assert (verdict.status, verdict.reason) == (Status.ERROR, InfraError.TIMEOUT)


# ---- patches that do not apply --------------------------------------------------------------------


def test_test_patch_failed() -> None:
    bad = graded(1, patch_failed="test_patch")
    verdict = classify([bad], [GOOD_AFTER, GOOD_AFTER])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.TEST_PATCH_FAILED)


def test_gold_patch_failed() -> None:
    bad = graded(1, patch_failed="gold_patch")
    verdict = classify([GOOD_BEFORE], [bad, bad])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.GOLD_PATCH_FAILED)


def test_classify_needs_both_phases() -> None:
    with pytest.raises(ValueError):
        classify([], [GOOD_AFTER])
    with pytest.raises(ValueError):
        classify([GOOD_BEFORE], [])


# ---- flaky ---------------------------------------------------------------------------------------


def test_flaky_when_a_test_changes_outcome_between_after_runs() -> None:
    # Both runs fail overall, so the verdicts agree; only the per-test outcomes differ.
    after = [run("fail", {"t::a": P, "t::b": F}), run("fail", {"t::a": F, "t::b": F})]
    verdict = classify([GOOD_BEFORE], after)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.FLAKY)
    assert verdict.flaky_tests == ["t::a"]


def test_an_id_missing_from_one_after_run_is_unstable_not_flaky() -> None:
    # t::b passed before and in one after-run and is absent from the other: not an outcome change.
    after = [run("pass", {"t::a": P, "t::b": P}), run("pass", {"t::a": P})]
    verdict = classify([GOOD_BEFORE], after)
    assert verdict.status is Status.VALID
    assert (verdict.fail_to_pass, verdict.pass_to_pass) == (["t::a"], [])
    assert verdict.unstable_tests == ["t::b"] and verdict.flaky_tests == []
    assert "1 unstable test id(s) left out" in verdict.detail


def test_time_parametrized_ids_are_left_out_not_flaky() -> None:
    # The reported case: every outcome PASSED after, but the ids carry the clock, so each run has new ones.
    def ids(stamp: str) -> dict[str, Outcome]:
        return {f"tests/test_dt.py::test_invalid_datetime_deserialization[{stamp}]": P,
                f"tests/test_dt.py::test_other[{stamp}]": P}
    before = graded(1, {"tests/test_dt.py::test_fixed": F, "tests/test_dt.py::test_same": P, **ids("06:34:26")},
                    {"tests/test_dt.py::test_fixed": "E   AssertionError: assert 1 == 2"})
    after = [graded(0, {"tests/test_dt.py::test_fixed": P, "tests/test_dt.py::test_same": P, **ids(s)})
             for s in ("06:34:40", "06:34:52")]
    verdict = classify([before], after)
    assert verdict.status is Status.VALID, verdict.detail
    assert verdict.fail_to_pass == ["tests/test_dt.py::test_fixed"]
    assert verdict.pass_to_pass == ["tests/test_dt.py::test_same"]
    assert verdict.flaky_tests == []
    assert len(verdict.unstable_tests) == 4 and all("06:34:" in t for t in verdict.unstable_tests)


def test_a_target_missing_from_one_after_run_is_flaky_never_passing() -> None:
    # t::a failed before, passed in one after-run and did not run in the other (whose verdict still says pass).
    after = [run("pass", {"t::a": P, "t::b": P}), run("pass", {"t::b": P})]
    verdict = classify([GOOD_BEFORE], after)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.FLAKY)
    assert verdict.flaky_tests == ["t::a"] and verdict.fail_to_pass == []


def test_a_new_test_present_in_only_one_after_run_is_never_fail_to_pass() -> None:
    # The test file failed to collect before; after, one of its tests is in one run only.
    before = run("fail", {"tests/test_new.py": E})
    after = [run("pass", {"tests/test_new.py::test_a": P, "tests/test_new.py::test_b": P}),
             run("pass", {"tests/test_new.py::test_a": P})]
    verdict = classify([before], after)
    assert verdict.status is Status.VALID
    assert verdict.fail_to_pass == ["tests/test_new.py::test_a"]
    assert verdict.unstable_tests == ["tests/test_new.py::test_b"]


def test_an_unstable_id_in_the_before_runs_is_no_pass_to_pass() -> None:
    before = [run("fail", {"t::a": F, "t::b": P, "t::c": P}), run("fail", {"t::a": F, "t::b": P})]
    after = [run("pass", {"t::a": P, "t::b": P, "t::c": P})]
    verdict = classify(before, after)
    assert verdict.status is Status.VALID
    assert verdict.pass_to_pass == ["t::b"] and verdict.unstable_tests == ["t::c"]


def test_flaky_in_the_before_runs() -> None:
    before = [run("fail", {"t::a": F, "t::b": P}), run("fail", {"t::a": F, "t::b": F})]
    verdict = classify(before, [GOOD_AFTER])
    assert verdict.reason == Rejection.FLAKY
    assert verdict.flaky_tests == ["t::b"]


def test_flaky_when_identical_runs_give_different_verdicts() -> None:
    # Same per-test outcomes, but one run exited nonzero: the verdicts differ.
    after = [run("pass", {"t::a": P, "t::b": P}), run("fail", {"t::a": P, "t::b": P}, code=1)]
    verdict = classify([GOOD_BEFORE], after)
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.FLAKY)
    assert verdict.flaky_tests == []
    assert "different verdicts" in verdict.detail


def test_one_run_per_phase_is_never_flaky() -> None:
    assert classify([GOOD_BEFORE], [GOOD_AFTER]).status is Status.VALID


# ---- rejections of consistent runs ----------------------------------------------------------------


@pytest.mark.parametrize("after_tests", [{}, {"t::a": S, "t::b": S}])
def test_no_tests_ran(after_tests: dict[str, Outcome]) -> None:
    after = run("fail", after_tests, code=5)
    verdict = classify([GOOD_BEFORE], [after, after])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.NO_TESTS_RAN)


def test_pass2pass() -> None:
    before = run("pass", {"t::a": P, "t::b": P})
    verdict = classify([before], [GOOD_AFTER, GOOD_AFTER])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.PASS2PASS)


def test_pass2fail() -> None:
    before = run("pass", {"t::a": P})
    after = run("fail", {"t::a": F}, note="exit code 1; 1 failing test(s)")
    verdict = classify([before], [after, after])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.PASS2FAIL)
    assert verdict.detail == "exit code 1; 1 failing test(s)"


def test_fail2fail() -> None:
    after = run("fail", {"t::a": F, "t::b": P})
    verdict = classify([GOOD_BEFORE], [after, after])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.FAIL2FAIL)


def test_error2pass_when_the_before_run_failed_without_a_failing_test() -> None:
    # Exit code 1 but every target test passed: the failure is not the tests' doing.
    before = run("fail", {"t::a": P, "t::b": P, "t::c": S}, note="exit code 1; 0 failing test(s)")
    verdict = classify([before], [GOOD_AFTER, GOOD_AFTER])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.ERROR2PASS)
    assert "exit code 1; 0 failing test(s)" in verdict.detail


def test_error2pass_when_the_before_run_reported_no_test_at_all() -> None:
    before = graded(4, log="ImportError: boom\n")
    verdict = classify([before], [GOOD_AFTER])
    assert verdict.reason == Rejection.ERROR2PASS


def test_error2pass_when_no_test_goes_from_failing_to_passing() -> None:
    # The failing test before is not among the (passing) tests after.
    before = run("fail", {"t::gone": F, "t::b": P})
    after = run("pass", {"t::b": P})
    verdict = classify([before], [after, after])
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.ERROR2PASS)


# ---- valid ---------------------------------------------------------------------------------------


def test_valid_with_exact_fail_to_pass_and_pass_to_pass() -> None:
    before = run(
        "fail",
        {
            "tests/test_core.py::test_fixed": F,
            "tests/test_core.py::TestC::test_errored": E,
            "tests/test_core.py::test_same": P,
            "tests/test_core.py::test_skipped": S,
            # A module the test patch adds, importing what the fix adds: one collection-error testcase.
            "tests/test_new.py": E,
        },
    )
    after_tests = {
        "tests/test_core.py::test_fixed": P,
        "tests/test_core.py::TestC::test_errored": P,
        "tests/test_core.py::test_same": P,
        "tests/test_core.py::test_skipped": S,
        "tests/test_new.py::test_added[1]": P,
        "tests/test_new.py::test_added[2]": P,
    }
    after = [run("pass", after_tests), run("pass", after_tests)]
    verdict = classify([before], after)
    assert verdict.status is Status.VALID
    assert verdict.reason == ""
    assert verdict.fail_to_pass == [
        "tests/test_core.py::TestC::test_errored",
        "tests/test_core.py::test_fixed",
        "tests/test_new.py::test_added[1]",
        "tests/test_new.py::test_added[2]",
    ]
    assert verdict.pass_to_pass == ["tests/test_core.py::test_same"]
    assert verdict.flaky_tests == []
    assert verdict.detail == "4 fail-to-pass, 1 pass-to-pass"


def test_valid_from_real_grades() -> None:
    # before: the new test module does not collect (an error under its path); after: its test passes
    before = graded(2, {"tests/test_new.py": Outcome.ERROR}, {"tests/test_new.py": "E   ImportError: cannot import"})
    after = graded(0, {"tests/test_new.py::test_a": Outcome.PASSED})
    verdict = classify([before], [after, after])
    assert verdict.status is Status.VALID
    assert verdict.fail_to_pass == ["tests/test_new.py::test_a"]
    assert verdict.pass_to_pass == []


def test_a_rejection_still_names_its_unstable_ids() -> None:
    before = run("pass", {"t::a": P})
    after = [run("pass", {"t::a": P, "t::x[1]": P}), run("pass", {"t::a": P, "t::x[2]": P})]
    verdict = classify([before], after)
    assert verdict.reason == Rejection.PASS2PASS
    assert verdict.unstable_tests == ["t::x[1]", "t::x[2]"]
