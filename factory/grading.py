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

from factory.models import TestOutcome

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


def _test_id(case: ET.Element) -> str:
    """SWE-bench style id ``path/to/test_file.py::Class::name`` from a pytest (xunit1) testcase."""
    name = case.get("name", "")
    classname = case.get("classname", "")
    file = case.get("file")
    if file:
        module = ".".join(PurePosixPath(file).with_suffix("").parts)
        if not classname and name == module:  # a module that failed to collect
            return file
        rest = classname[len(module) :].lstrip(".") if classname.startswith(module) else ""
        return "::".join(p for p in (file, rest.replace(".", "::"), name) if p)
    # No file attribute (xunit2): best effort from the dotted classname.
    parts = classname.split(".")
    split = next((i for i, p in enumerate(parts) if p.startswith("test")), len(parts) - 1)
    path = "/".join(parts[: split + 1]) + ".py"
    return "::".join(p for p in (path, "::".join(parts[split + 1 :]), name) if p)


def parse_junit(xml_text: str) -> dict[str, TestOutcome]:
    """Per-test outcomes from a JUnit XML report; raises ValueError if it is not one."""
    return junit_results(xml_text)[0]


_FAILURE_TEXT_LIMIT = 8000
"""Characters kept of one failure text: enough for the exception line at its end (the cause rule)."""


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
    grade = _verdict(log, last_exit_code(log), tests, note, timed_out, oom)
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
