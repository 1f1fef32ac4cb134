"""Grade one run of an eval script: exit-code marker, per-test JUnit results, and the cross-check.

The verdict is the exit code the eval script printed itself (the **last** ``FACTORY_EXIT_CODE=<n>`` line,
so text a test prints earlier cannot decide it), cross-checked with the JUnit file pytest wrote: a run
that exits 0 but ran no target test, or whose JUnit file records a failure, is not a pass.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from factory.core.models import TestOutcome
from factory.grading.contract import FAILURE_TEXT_LIMIT, JUNIT_FILE, RESULTS_FILE, STATUS_FILE
from factory.grading.results import canary_problem, parse_status, parse_stream, status_canaries

MARKER = "FACTORY_EXIT_CODE"
PATCH_FAILED_MARKER = "FACTORY_PATCH_FAILED"
TEST_SECONDS_MARKER = "FACTORY_TEST_SECONDS"
_MARKER_LINE = re.compile(rf"^{MARKER}=(\d+)\s*$", re.M)
_PATCH_FAILED_LINE = re.compile(rf"^{PATCH_FAILED_MARKER}=(\w+)\s*$", re.M)
_TEST_SECONDS_LINE = re.compile(rf"^{TEST_SECONDS_MARKER}=(\d+(?:\.\d+)?)\s*$", re.M)


def last_exit_code(log: str) -> int | None:
    """Exit code from the last marker line, or None if the script never printed one."""
    codes = _MARKER_LINE.findall(log)
    return int(codes[-1]) if codes else None


def command_seconds(log: str) -> float | None:
    """Wall seconds of the test command alone, from the last ``FACTORY_TEST_SECONDS=<s>`` line the eval
    script printed just before its exit-code marker (None for scripts that do not time it). A measurement
    only: it never decides a verdict."""
    hits = _TEST_SECONDS_LINE.findall(log)
    return float(hits[-1]) if hits else None


def patch_failure(log: str) -> str:
    """``test_patch`` or ``gold_patch`` when the run stopped because that patch did not apply."""
    hits = _PATCH_FAILED_LINE.findall(log)
    return hits[-1] if hits else ""


def _is_test_module(part: str) -> bool:
    """Whether a dotted classname part names a module by pytest's default ``python_files``
    (``test_*.py``, ``*_test.py``). Not ``tests``: a folder of that name is not a test module."""
    return part.startswith("test_") or part.endswith("_test")


def _split_classname(parts: list[str]) -> tuple[str, list[str]]:
    """The collecting file of a dotted xunit classname (``tests.unit.test_x.TestFoo``), and the class
    names after it: the longest prefix ending in a default test-module name (``tests/unit/test_x.py``,
    ``[TestFoo]``); failing that (a module named by a custom ``python_files`` or passed explicitly), the
    parts before the first capitalized one, since classes are ``Test*`` by default and modules lowercase."""
    split = max((i for i, p in enumerate(parts) if _is_test_module(p)), default=None)
    if split is None:
        split = next((i - 1 for i, p in enumerate(parts) if i and p[:1].isupper()), len(parts) - 1)
    return "/".join(parts[: split + 1]) + ".py", parts[split + 1 :]


def _test_id(case: ET.Element) -> str:
    """The pytest node id ``path/to/test_file.py::Class::name`` of a JUnit testcase.

    pytest writes ``classname`` from the node id (its path dotted, ``.py`` dropped, then the classes) and
    ``file`` from where the test function is *defined*. Those differ for a test inherited from a base class
    or imported from another module (``classname="tests.test_a.TestA"``, ``file="tests/base.py"``): the node
    id names the collecting file, so ``file`` is used only when its dotted path is a prefix of
    ``classname``; otherwise (and in xunit2 reports, which have no ``file``) the path comes from
    ``classname`` itself.
    """
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file") or ""
    module = ".".join(PurePosixPath(file).with_suffix("").parts) if file else ""
    if not classname:  # a module or directory that failed to collect: its node id is its path
        if file and name == module:
            return file
        parts = name.split(".")
        return "/".join(parts) + (".py" if _is_test_module(parts[-1]) else "")
    if module and (classname == module or classname.startswith(module + ".")):
        path, classes = file, classname[len(module) :].lstrip(".").split(".")
    else:
        path, classes = _split_classname(classname.split("."))
    return "::".join(p for p in (path, *classes, name) if p)


def parse_junit(xml_text: str) -> dict[str, TestOutcome]:
    """Per-test outcomes from a JUnit XML report; raises ValueError if it is not one."""
    return junit_results(xml_text)[0]


_FAILURE_TEXT_LIMIT = FAILURE_TEXT_LIMIT


def junit_results(xml_text: str) -> tuple[dict[str, TestOutcome], dict[str, str]]:
    """Per-test outcomes, and the failure text (message + traceback) of each failed or errored test."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError(f"not a JUnit XML report: {exc}") from exc
    results: dict[str, TestOutcome] = {}
    texts: dict[str, str] = {}
    for case in root.iter("testcase"):
        problem = case.find("error")
        outcome = TestOutcome.ERROR
        if problem is None:
            problem, outcome = case.find("failure"), TestOutcome.FAILED
        if problem is None:
            outcome = TestOutcome.SKIPPED if case.find("skipped") is not None else TestOutcome.PASSED
        test_id = _test_id(case)
        # A test that passes its call but errors in teardown appears twice: the worse outcome wins.
        if results.get(test_id) in (TestOutcome.ERROR, TestOutcome.FAILED):
            continue
        results[test_id] = outcome
        if problem is not None:
            text = f"{problem.get('message', '')}\n{problem.text or ''}"
            texts[test_id] = text[-_FAILURE_TEXT_LIMIT:]
    return results, texts


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


def grade_run(log: str, junit_xml: str | None, *, timed_out: bool = False, oom: bool = False) -> RunGrade:
    """Verdict of one run from its log and JUnit report (None when the run wrote none)."""
    tests: dict[str, TestOutcome] = {}
    failures: dict[str, str] = {}
    note = ""
    if junit_xml:
        try:
            tests, failures = junit_results(junit_xml)
        except ValueError as exc:
            note = str(exc)
    grade = _verdict(log, last_exit_code(log), tests, "", timed_out, oom)
    if note:  # whatever the verdict, say that the JUnit report was unreadable
        grade.note = f"{grade.note}; {note}" if grade.note else note
    grade.failures = failures
    grade.test_seconds = command_seconds(log)
    return grade


def _verdict(log: str, code: int | None, tests: dict[str, TestOutcome], note: str, timed_out: bool,
             oom: bool) -> RunGrade:
    if timed_out:
        return RunGrade("error", code, tests, infra_error="timeout")
    if oom:
        return RunGrade("error", code, tests, infra_error="oom")
    failed_patch = patch_failure(log)
    if failed_patch:
        return RunGrade("fail", code, tests, patch_error=failed_patch, note=f"{failed_patch} did not apply")
    if code is None:
        return RunGrade("error", None, tests, infra_error="marker_missing", note="no FACTORY_EXIT_CODE marker")
    bad = sorted(t for t, o in tests.items() if o in (TestOutcome.FAILED, TestOutcome.ERROR))
    ran = [t for t, o in tests.items() if o is not TestOutcome.SKIPPED]
    if code != 0:
        return RunGrade("fail", code, tests, note=f"exit code {code}; {len(bad)} failing test(s)")
    if not ran:
        return RunGrade("fail", code, tests, note="exit code 0 but no target test ran")
    if bad:
        return RunGrade("fail", code, tests, note=f"exit code 0 contradicted by JUnit: {', '.join(bad[:5])}")
    return RunGrade("pass", code, tests, note=note)


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
    elif crash := _GUARD_CRASH.search(log):
        grade = RunGrade("error", code, tests, infra_error="internal", note=(
            "the grader's own pytest guard failed in this environment (our bug, not the candidate's): "
            + crash.group(0).strip()[:300]))
    else:
        tampered = canary_problem(stream, canaries) or stream.broken
        tampered = tampered or _junit_contradiction(text(JUNIT_FILE), tests, canaries)
        if tampered:
            grade = RunGrade("fail", code, tests, note=f"tampered: {tampered}", tampered=tampered)
        else:
            grade = _verdict("", code, tests, "", False, False)
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
        junit, _ = junit_results(junit_xml)
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
