"""Turn the graded before/after runs of one candidate into its verdict (DESIGN §5).

Pure logic, no Docker: the rules that decide what a valid instance is live here, where a unit test can
pin every branch. A candidate is valid when every before-run fails *because target tests failed or
errored*, every after-run passes, and each test has the same outcome in every run of a phase. A before-run
whose only failures are environment failures (``failure_cause``) is ``error2pass``, never valid.

Test ids are compared only where they are *stable*: present in every run of a phase. A suite that puts the
clock into its ids (``test_parse[06:34:26 2026-12-01]``) gets new ids on each run; such an id is not an
outcome change, so it is left out of PASS_TO_PASS / FAIL_TO_PASS and reported as unstable, and only a stable
id whose outcome differs makes the candidate ``flaky``. A test that failed before the fix and is missing from
some after-run (it ran in one, not in another) is flaky too: a missing id never counts as passing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from factory.core.models import InfraError, Rejection, Status, TestOutcome
from factory.grading.failure_cause import Cause, FixFacts, cause
from factory.grading.verdict import RunGrade

_INFRA_ORDER = [InfraError.INTERNAL, InfraError.DOCKER, InfraError.OOM, InfraError.TIMEOUT,
                InfraError.MARKER_MISSING]
_BAD = (TestOutcome.FAILED, TestOutcome.ERROR)


@dataclass
class Verdict:
    status: Status
    reason: str = ""
    fail_to_pass: list[str] = field(default_factory=list)
    pass_to_pass: list[str] = field(default_factory=list)
    flaky_tests: list[str] = field(default_factory=list)
    unstable_tests: list[str] = field(default_factory=list)
    """Ids present in some but not all runs of a phase (left out of FAIL_TO_PASS / PASS_TO_PASS)."""
    detail: str = ""
    environment: str = ""
    """Evidence that a run's environment is broken (``blame.environment_evidence``); a verdict with it is
    not the candidate's own, so it is never a final rejection. Set by validation, "" when valid."""


def _stable_ids(runs: list[RunGrade]) -> set[str]:
    """Ids present in every run of a phase."""
    return set.intersection(*(set(r.tests) for r in runs)) if runs else set()


def _unstable_ids(runs: list[RunGrade]) -> set[str]:
    """Ids present in some but not all runs of a phase (a new id per run: time or random parameters)."""
    return set().union(*(r.tests for r in runs)) - _stable_ids(runs) if runs else set()


def _inconsistent_tests(runs: list[RunGrade]) -> list[str]:
    """Stable tests whose outcome differs between runs of one phase (an id missing from a run is unstable,
    not an outcome change: see ``_unstable_ids``)."""
    if len(runs) < 2:
        return []
    return sorted(n for n in _stable_ids(runs) if len({r.tests[n] for r in runs}) > 1)


def _vanished_targets(before: list[RunGrade], after: list[RunGrade]) -> set[str]:
    """Tests that failed in every before-run and ran in some after-runs but not in others: the target test
    must be present in every run, so this is an outcome change (ran / did not run), not an unstable id."""
    failed = {t for t in _stable_ids(before) if all(r.tests[t] in _BAD for r in before)}
    return failed & _unstable_ids(after)


def _no_failing_test(run: RunGrade) -> str:
    """Why a failing before-run has no failing target test, for the error2pass detail."""
    if not [t for t, o in run.tests.items() if o is not TestOutcome.SKIPPED]:
        if run.exit_code == 127:
            return "the test command was not found (exit code 127) and no target test ran before the fix"
        return f"no target test ran before the fix ({run.note})"
    return f"the before-run failed without a failing target test ({run.note})"


def _genuine_failures(run: RunGrade, facts: FixFacts) -> tuple[set[str], str]:
    """Target tests (or test files that failed to collect) whose before-failure is genuine, and the
    evidence for the first environment failure seen."""
    genuine, evidence = set(), ""
    for test, outcome in sorted(run.tests.items()):
        if outcome not in _BAD:
            continue
        why, quote = cause(run.failures.get(test, ""), facts)
        if why is Cause.GENUINE:
            genuine.add(test)
        elif not evidence:
            evidence = f"{test}: {quote}"
    return genuine, evidence


def classify(before: list[RunGrade], after: list[RunGrade], facts: FixFacts | None = None) -> Verdict:
    """The verdict on one candidate; ``facts`` (from the gold and test patches) decide which before-failures
    are the repository's own (see ``failure_cause``)."""
    facts = facts or FixFacts()
    runs = before + after
    infra = {r.infra_error for r in runs if r.infra_error}
    for reason in _INFRA_ORDER:
        if reason.value in infra:
            note = next(r.note for r in runs if r.infra_error == reason.value)
            return Verdict(Status.ERROR, reason.value, detail=note or reason.value)
    for r in runs:
        if r.patch_error == "test_patch":
            return Verdict(Status.REJECTED, Rejection.TEST_PATCH_FAILED, detail="the test patch does not apply")
        if r.patch_error == "gold_patch":
            return Verdict(Status.REJECTED, Rejection.GOLD_PATCH_FAILED, detail="the gold patch does not apply")
    if not before or not after:
        raise ValueError("classify needs at least one before-run and one after-run")

    flaky = sorted(set(_inconsistent_tests(before)) | set(_inconsistent_tests(after))
                   | _vanished_targets(before, after))
    unstable = sorted((_unstable_ids(before) | _unstable_ids(after)) - set(flaky))
    phase_mixed = len({r.verdict for r in before}) > 1 or len({r.verdict for r in after}) > 1
    if flaky or phase_mixed:
        detail = f"{len(flaky)} test(s) changed outcome between identical runs" if flaky else (
            "identical runs gave different verdicts")
        return Verdict(Status.REJECTED, Rejection.FLAKY, flaky_tests=flaky, unstable_tests=unstable, detail=detail)

    before_pass = before[0].verdict == "pass"
    after_pass = after[0].verdict == "pass"
    ran_after = [t for t, o in after[0].tests.items() if o is not TestOutcome.SKIPPED]
    if not ran_after:
        return Verdict(Status.REJECTED, Rejection.NO_TESTS_RAN, unstable_tests=unstable,
                       detail="no target test ran after the gold patch")
    if not after_pass:
        reason = Rejection.PASS2FAIL if before_pass else Rejection.FAIL2FAIL
        return Verdict(Status.REJECTED, reason, unstable_tests=unstable, detail=after[0].note)
    if before_pass:
        return Verdict(Status.REJECTED, Rejection.PASS2PASS, unstable_tests=unstable,
                       detail="the target tests already pass before the fix")

    stable_before, stable_after = _stable_ids(before), _stable_ids(after)
    before_tests = {t: o for t, o in before[0].tests.items() if t in stable_before}
    after_tests = {t: o for t, o in after[0].tests.items() if t in stable_after}
    if not any(o in _BAD for o in before_tests.values()):
        return Verdict(Status.REJECTED, Rejection.ERROR2PASS, unstable_tests=unstable,
                       detail=_no_failing_test(before[0]))
    genuine, evidence = _genuine_failures(replace(before[0], tests=before_tests), facts)
    if not genuine:
        return Verdict(Status.REJECTED, Rejection.ERROR2PASS, unstable_tests=unstable,
                       detail=f"the before-run failed only for environment reasons: {evidence}")

    def failed_genuinely(test: str) -> bool:
        # A test absent before counts when its file failed to collect for a genuine reason.
        return test in genuine or (test not in before_tests and test.split("::")[0] in genuine)

    f2p = sorted(t for t, o in after_tests.items() if o is TestOutcome.PASSED and failed_genuinely(t))
    p2p = sorted(
        t for t, o in after_tests.items()
        if o is TestOutcome.PASSED and before_tests.get(t) is TestOutcome.PASSED
    )
    if not f2p:
        return Verdict(Status.REJECTED, Rejection.ERROR2PASS, unstable_tests=unstable,
                       detail="no test goes from failing to passing" + _left_out(unstable))
    return Verdict(Status.VALID, "", f2p, p2p, unstable_tests=unstable,
                   detail=f"{len(f2p)} fail-to-pass, {len(p2p)} pass-to-pass" + _left_out(unstable))


def _left_out(unstable: list[str]) -> str:
    return f"; {len(unstable)} unstable test id(s) left out (not in every run)" if unstable else ""
