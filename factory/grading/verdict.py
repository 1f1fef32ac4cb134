"""Grade one run of an eval script from the files its root-only results folder holds.

The exit code, a patch failure and the canary names come from the status file root wrote once nothing of
the test user was left running; per-test outcomes from the guard plugin's stream; the JUnit report is the
cross-check. A run that exits 0 but ran no target test, whose canaries or JUnit report show rewritten
results, or whose per-test results contradict the exit code, is not a pass (docs/grading.md). The log is
for people: the ``FACTORY_EXIT_CODE=`` / ``FACTORY_TEST_SECONDS=`` lines it ends with decide nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from factory.core.models import TestOutcome
from factory.grading.contract import JUNIT_FILE, RESULTS_FILE, STATUS_FILE
from factory.grading.junit import parse_junit
from factory.grading.results import canary_problem, parse_status, parse_stream, status_canaries


@dataclass
class RunGrade:
    verdict: str
    """``pass`` | ``fail`` | ``error``."""
    exit_code: int | None
    tests: dict[str, TestOutcome] = field(default_factory=dict)
    infra_error: str = ""
    patch_error: str = ""
    note: str = ""
    test_seconds: float | None = None
    """Wall seconds of the test command alone (``FACTORY_TEST_SECONDS``), None when not printed."""
    failures: dict[str, str] = field(default_factory=dict)
    """Failure text of each failed or errored test (the error2pass rule reads it; not stored)."""
    tampered: str = ""
    """Why the run shows that reports were rewritten (canaries, contradictions); never a pass."""
    output_cut: int = 0
    """Bytes of test output cut by the eval script's cap (0: the log holds all of it)."""


def _by_exit_code(code: int, tests: dict[str, TestOutcome]) -> RunGrade:
    """A run that ended on its own: its exit code, cross-checked with the per-test outcomes."""
    bad = sorted(t for t, o in tests.items() if o in (TestOutcome.FAILED, TestOutcome.ERROR))
    ran = [t for t, o in tests.items() if o is not TestOutcome.SKIPPED]
    if code != 0:
        return RunGrade("fail", code, tests, note=f"exit code {code}; {len(bad)} failing test(s)")
    if not ran:
        return RunGrade("fail", code, tests, note="exit code 0 but no target test ran")
    if bad:
        return RunGrade("fail", code, tests, note=f"exit code 0 but pytest reported failures: {', '.join(bad[:5])}")
    return RunGrade("pass", code, tests)


def grade_files(log: str, files: dict[str, bytes], *, timed_out: bool = False, oom: bool = False) -> RunGrade:
    """Verdict of one contract-2 run from the files its root-only results folder holds (``eval_contract``).

    The exit code, a patch failure and the canary names come from the status file root wrote once nothing
    of the test user was left running; per-test outcomes from the guard plugin's results, with the JUnit
    report as a cross-check. The log's markers are for people: fake ones change nothing.
    """
    def text(path: str) -> str | None:
        data = files.get(path)
        return data.decode("utf-8", "replace") if data is not None else None

    status = parse_status(text(STATUS_FILE))
    canaries = status_canaries(status)
    names = {name for _, _, name in canaries}
    stream = parse_stream(text(RESULTS_FILE), names)
    code = int(status["exit_code"]) if status.get("exit_code", "").isdigit() else None
    cut = int(status["output_cut"]) if status.get("output_cut", "").isdigit() else 0
    seconds = _seconds(status.get("test_seconds"))
    tests, failures = stream.tests, stream.failures
    note = ""
    if timed_out or oom:
        grade = RunGrade("error", code, tests, infra_error="timeout" if timed_out else "oom")
    elif status.get("patch_failed"):
        name = status["patch_failed"]
        grade = RunGrade("fail", code, tests, patch_error=name, note=f"{name} did not apply")
    elif code is None:
        grade = RunGrade("error", None, tests, infra_error="marker_missing",
                         note="the eval script wrote no exit code to its results folder")
    elif crash := _guard_crash(log):
        grade = RunGrade("error", code, tests, infra_error="internal", note=(
            "the grader's own pytest guard failed in this environment (our bug, not the candidate's): "
            + crash.group(0).strip()[:300]))
    elif crashed := _candidate_crash(log, code):
        grade = _crashed_run(code, stream, crashed, set(names))
        tests, failures = grade.tests, grade.failures
    else:
        tampered = canary_problem(stream, canaries) or stream.broken
        tampered = tampered or _junit_contradiction(text(JUNIT_FILE), tests, canaries)
        if tampered:
            grade = RunGrade("fail", code, tests, note=f"tampered: {tampered}", tampered=tampered)
        else:
            grade = _by_exit_code(code, tests)
            note = stream.note if stream.note and grade.verdict != "pass" else ""
    if note:
        grade.note = f"{grade.note}; {note}" if grade.note else note
    if cut:
        said = f"test output cut by {cut} bytes"
        grade.note = f"{grade.note}; {said}" if grade.note else said
    grade.failures, grade.test_seconds, grade.output_cut = failures, seconds, cut
    return grade


_GUARD_CRASH = re.compile(
    r'^(?:INTERNALERROR>)?\s*File "/tmp/factory-guard[^"]*/factory_(?:guard|launch)\.py", line \d+.*(?:\n.*){0,3}',
    re.M)
"""A Python traceback through the launcher or the guard plugin (pytest's INTERNALERROR, or the launcher's own):
the guard met a Python or pytest it does not support. Never blamed on the candidate."""


_FAULT_DUMP = re.compile(r"Fatal Python error: .*\n(?:.*\n){0,3}?(?:Current thread|Thread) 0x[0-9a-f]+ "
                         r"\(most recent call first\):\n((?:  File .*\n?)+)", re.M)
"""faulthandler's dump of a crashed process (after pytest's progress dots, so not at a line start): every
frame, innermost first — the launcher is always the last."""


def _guard_crash(log: str) -> re.Match | None:
    """A traceback through our launcher or plugin, leaving out crash dumps whose innermost frame is not ours:
    pallets/markupsafe's test segfaulted in the very C code its fix repairs, and the dump lists our launcher
    at the bottom of the stack like every crash does — that crash is the candidate's, a failing run."""
    for dump in _FAULT_DUMP.finditer(log):
        innermost = dump.group(1).splitlines()[0]
        if "/tmp/factory-guard" not in innermost:
            log = log.replace(dump.group(0), "")
    return _GUARD_CRASH.search(log)


def _candidate_crash(log: str, code: int) -> str:
    """The first line of faulthandler's dump (``Fatal Python error: Segmentation fault``) when the test process
    died of a signal (exit code above 128) in a frame that is not ours, else ""."""
    if code <= 128:
        return ""
    for dump in _FAULT_DUMP.finditer(log):
        if "/tmp/factory-guard" not in dump.group(1).splitlines()[0]:
            return dump.group(0).splitlines()[0].strip()
    return ""


def _crashed_run(code: int, stream, crash: str, canary_names: set[str]) -> RunGrade:
    """A run whose test process crashed in the candidate's code: a failing run, never a pass, whatever the
    stream holds (so the canaries, which the crash kept from reporting, need no check), and the test that
    was running is failed by the crash — pallets/markupsafe's fix repairs the C code its new test
    segfaulted in: before the fix that test fails by crashing, after it passes."""
    tests, failures = dict(stream.tests), dict(stream.failures)
    running = stream.running
    where = ""
    if running and running.rsplit("::", 1)[-1] not in canary_names:
        tests[running] = TestOutcome.FAILED
        failures[running] = f"the test process crashed while it ran: {crash}"
        where = f" while {running} ran"
    return RunGrade("fail", code, tests, failures=failures, note=f"exit code {code}: {crash}{where}")


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _junit_contradiction(junit_xml: str | None, tests: dict[str, TestOutcome], canaries: list) -> str:
    """A test the JUnit report says failed while the per-test results say it passed (or a failing canary
    JUnit says passed): two records written by one pytest process disagree, so one was rewritten."""
    if not junit_xml:
        return ""
    try:
        junit = parse_junit(junit_xml)
    except ValueError as exc:
        return f"the JUnit report is unreadable ({exc})"
    kinds = {name: kind for kind, _, name in canaries}
    bad = (TestOutcome.FAILED, TestOutcome.ERROR)
    for test_id, outcome in sorted(junit.items()):
        name = test_id.rsplit("::", 1)[-1]
        if kinds.get(name) == "fail":
            if outcome is TestOutcome.PASSED:
                return "the JUnit report says a canary test that must fail passed"
            continue
        if name in kinds:
            continue
        if outcome in bad and tests.get(test_id) is TestOutcome.PASSED:
            return f"the JUnit report says {test_id} {outcome.value}, the per-test results say passed"
    return ""
