"""Read what a contract-2 run leaves in its root-only results folder: the status, the per-test results.

The status file (``key=value`` lines) is written by root after every process of the test user is gone,
so nothing the tests print or start can change it; the grader takes the exit code, the patch failure,
the canary names and the output sizes from it, never from the log. The per-test results come from the
guard plugin through an fd: they are what pytest reported inside the test process, and the canaries say
whether something in that process rewrote reports (docs/grading.md).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from factory.core.models import TestOutcome
from factory.grading.contract import FAILURE_TEXT_LIMIT


def parse_status(text: str | None) -> dict[str, str]:
    """``key=value`` lines of the status file (the first value of a key wins: root writes each once)."""
    status: dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep and key and key not in status:
            status[key.strip()] = value.strip()
    return status


@dataclass
class StreamResults:
    """Per-test outcomes reported by pytest through the guard plugin, canaries set apart."""

    tests: dict[str, TestOutcome] = field(default_factory=dict)
    """Node id -> outcome, for every test but the canaries (worse outcome of setup/call/teardown wins)."""
    failures: dict[str, str] = field(default_factory=dict)
    """Failure text (pytest's longrepr, bounded) of each failed or errored test."""
    canaries: dict[str, list[TestOutcome]] = field(default_factory=dict)
    """Canary name -> the outcomes reported under that name (exactly one is expected)."""
    placed: dict[str, str] = field(default_factory=dict)
    """Canary name -> the node id the plugin gave it, or ``absent: <why>`` when it could not run it."""
    armed: bool = False
    """The plugin placed the canaries."""
    note: str = ""
    """What the plugin said when it could not arm (no module collected), or why the stream is unreadable."""
    exitstatus: int | None = None
    """The exit status pytest itself reported at session end (before the process exited)."""
    broken: str = ""
    """Why the stream cannot be trusted (cut at its cap, not JSON): such a run never grades a pass."""
    collected: list[str] | None = None
    """Node ids pytest collected, canaries left out (``--collect-only`` runs: the node-id check)."""
    running: str | None = None
    """The test that started and never reached its teardown report: the one running when the process died."""


_RANK = {TestOutcome.PASSED: 0, TestOutcome.SKIPPED: 1, TestOutcome.FAILED: 2, TestOutcome.ERROR: 3}


def _outcome(record: dict) -> TestOutcome | None:
    when, outcome = record.get("when"), record.get("outcome")
    if outcome == "failed":
        return TestOutcome.FAILED if when == "call" and not record.get("xfail") else TestOutcome.ERROR
    if outcome == "skipped":
        return TestOutcome.SKIPPED
    if outcome == "passed" and when == "call":
        return TestOutcome.PASSED
    return None  # setup / teardown passed: says nothing on its own


def parse_stream(text: str | None, canary_names: tuple[str, ...] | set[str]) -> StreamResults:
    """Aggregate the plugin's JSON lines into per-test outcomes; canaries are kept apart by name."""
    out = StreamResults()
    if not text:
        return out
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        out.broken = "the per-test results were cut at their size limit"
        lines.pop()
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            out.broken = "the per-test results hold a line that is not JSON"
            continue
        if not isinstance(record, dict):
            out.broken = "the per-test results hold a line that is not an object"
            continue
        if isinstance(record.get("canary"), str):
            where = record.get("nodeid") if isinstance(record.get("nodeid"), str) else None
            out.placed.setdefault(record["canary"], where or f"absent: {record.get('absent', '?')}")
            continue
        if "guard" in record:
            out.armed = out.armed or record["guard"] == "armed"
            if record["guard"] != "armed":
                out.note = str(record["guard"])
            continue
        if isinstance(record.get("collected"), list):
            out.collected = [c for c in record["collected"] if isinstance(c, str)]
            continue
        if "exitstatus" in record:
            out.exitstatus = record["exitstatus"] if isinstance(record["exitstatus"], int) else None
            continue
        if isinstance(record.get("start"), str):
            out.running = record["start"]
            continue
        nodeid = record.get("nodeid")
        if nodeid == out.running and record.get("when") == "teardown":
            out.running = None
        outcome = _outcome(record)
        if not isinstance(nodeid, str) or not nodeid or outcome is None:
            continue
        name = nodeid.rsplit("::", 1)[-1]
        if name in canary_names and "::" in nodeid:
            out.canaries.setdefault(name, []).append(outcome)
            continue
        known = out.tests.get(nodeid)
        if known is None or _RANK[outcome] > _RANK[known]:  # a teardown error after a pass is an error
            out.tests[nodeid] = outcome
        if outcome in (TestOutcome.FAILED, TestOutcome.ERROR) and nodeid not in out.failures:
            out.failures[nodeid] = str(record.get("text") or "")[-FAILURE_TEXT_LIMIT:]
    return out


Canary = tuple[str, str, str]
"""``(kind, module, name)``: ``fail``/``pass``, the test module whose source it was appended to (``*``: placed
by the plugin), its name."""


def status_canaries(status: dict[str, str]) -> list[Canary]:
    """The canaries root drew for a run, from its status (``canary_<n>=kind<TAB>module<TAB>name``)."""
    found: list[Canary] = []
    for key, value in status.items():
        parts = value.split("\t")
        if key.startswith("canary_") and len(parts) == 3 and parts[0] in ("fail", "pass"):
            found.append((parts[0], parts[1], parts[2]))
    return found


def _module_skipped(results: StreamResults, nodeid: str) -> bool:
    """Every other test of the canary's module (or class) was skipped too: a skip mark on the module."""
    prefix = nodeid.rsplit("::", 1)[0] + "::"
    others = [o for t, o in results.tests.items() if t.startswith(prefix)]
    return all(o is TestOutcome.SKIPPED for o in others)


def canary_problem(results: StreamResults, canaries: list[Canary]) -> str:
    """Why the canaries show that reports were rewritten or the guard was bypassed (``""``: they did not).

    Each canary must have been placed by the plugin and reported exactly once: a failing one failed, a
    passing one passed; skipped only together with every other test of its module. A canary is excused
    only when its module was not collected at all (it failed to import, or was skipped whole): that run
    cannot pass its tests either. A module that was collected without the function appended to its source
    was replaced.
    """
    if not canaries:
        return "the run has no canaries"
    for kind, _module, name in canaries:
        where = results.placed.get(name)
        if where is None:
            return "a canary test was never placed: the guard plugin did not run, or its results were replaced"
        if where.startswith("absent: "):
            if where.endswith("not in its module"):
                return "a test module was collected without the canary appended to its source: it was replaced"
            continue
        seen = results.canaries.get(name, [])
        if len(seen) != 1:
            return f"the canary test that must {kind} was reported {len(seen)} times, not once"
        want = TestOutcome.FAILED if kind == "fail" else TestOutcome.PASSED
        if seen[0] is want or (seen[0] is TestOutcome.SKIPPED and _module_skipped(results, where)):
            continue
        return f"the canary test that must {kind} was reported {seen[0].value}: reports were rewritten"
    return ""


def mask_canaries(log: str, canaries: list[Canary]) -> str:
    """The log as stored: canary names replaced by ``test_canary_<kind>_<n>`` and the run's temporary folder
    names made stable, so two runs with the same outcome store the same text (LLM evidence replays match,
    people see at once which lines are the grader's). Done after the run: the next run draws new names."""
    for n, (kind, _module, name) in enumerate(canaries, start=1):
        log = log.replace(name, f"test_canary_{kind}_{n}")
    return _TEMP_DIRS.sub(r"\1", log)


_TEMP_DIRS = re.compile(r"(/tmp/factory-(?:guard|junit))\.[A-Za-z0-9]{6}")
