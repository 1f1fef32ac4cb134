"""Graded runs for tests, made the way the product grades: a root-only results folder (status file, the guard
plugin's per-test stream with its two canaries placed and reported, optionally a JUnit report) handed to
:func:`factory.grading.verdict.grade_files`. So a test about classification or the failure cause gets exactly
the :class:`RunGrade` a real run with those outcomes would get."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from factory.core.models import TestOutcome
from factory.grading.contract import JUNIT_FILE, RESULTS_FILE, STATUS_FILE
from factory.grading.junit import junit_results
from factory.grading.verdict import RunGrade, grade_files

CANARIES = (("fail", "tests/test_canary.py", "test_read_write_value"),
            ("pass", "tests/test_canary.py", "test_sort_key_path"))
_STREAM_OUTCOME = {TestOutcome.PASSED: ("call", "passed"), TestOutcome.FAILED: ("call", "failed"),
                   TestOutcome.ERROR: ("setup", "failed"), TestOutcome.SKIPPED: ("setup", "skipped")}


def results_folder(exit_code: int | None, tests: dict[str, TestOutcome] | None = None,
                   failures: dict[str, str] | None = None, patch_failed: str = "",
                   junit: str | None = None) -> dict[str, bytes]:
    """The files a run leaves in its results folder (``None`` exit code: the script wrote none)."""
    status = "".join(f"canary_{n}={k}\t{m}\t{name}\n" for n, (k, m, name) in enumerate(CANARIES, start=1))
    if exit_code is not None:
        status += f"exit_code={exit_code}\n"
    if patch_failed:
        status += f"patch_failed={patch_failed}\n"
    records: list[dict] = [{"guard": "armed"}]
    for kind, module, name in CANARIES:
        nodeid = f"{module}::{name}"
        records += [{"canary": name, "nodeid": nodeid},
                    {"nodeid": nodeid, "when": "call", "outcome": "failed" if kind == "fail" else "passed"}]
    for nodeid, outcome in (tests or {}).items():
        when, said = _STREAM_OUTCOME[outcome]
        records.append({"nodeid": nodeid, "when": when, "outcome": said, "text": (failures or {}).get(nodeid, "")})
    files = {STATUS_FILE: status.encode(), RESULTS_FILE: "".join(json.dumps(r) + "\n" for r in records).encode()}
    if junit is not None:
        files[JUNIT_FILE] = junit.encode()
    return files


def graded(exit_code: int | None, tests: dict[str, TestOutcome] | None = None,
           failures: dict[str, str] | None = None, *, patch_failed: str = "", timed_out: bool = False,
           oom: bool = False, log: str = "") -> RunGrade:
    """The grade of a run that exited ``exit_code`` with these per-test outcomes (and failure texts)."""
    return grade_files(log, results_folder(exit_code, tests, failures, patch_failed), timed_out=timed_out, oom=oom)


def printed(log: str, marker: str) -> str | None:
    """The value of the last whole ``MARKER=value`` line an eval script printed for people (``FACTORY_EXIT_CODE``,
    ``FACTORY_TEST_SECONDS``, ``FACTORY_PATCH_FAILED``): what someone running an exported script by hand reads.
    The factory's verdict never comes from these lines."""
    values = re.findall(rf"^{re.escape(marker)}=(\S+)\s*$", log, re.M)
    return values[-1] if values else None


def pytest_graded(root: Path, files: dict[str, str], pythonpath: str = "src", *,
                  python: tuple[str, ...] = (sys.executable,), args: tuple[str, ...] = ()) -> tuple[RunGrade, str]:
    """Write ``files`` under ``root``, run pytest on the ``tests/`` files like the eval script does (JUnit
    options, collection errors continue), and grade it: the run's grade and its log (stdout + stderr).
    ``python``: the interpreter command (``(sys.executable, "-I", "-S")`` has no pytest); ``args``: more options."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    junit = root / "junit.xml"
    targets = sorted(n for n in files if n.startswith("tests/") and n.endswith(".py") and "conftest" not in n)
    proc = subprocess.run(
        [*python, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
         "--continue-on-collection-errors", f"--junitxml={junit}", *args, *targets],
        cwd=root, capture_output=True, text=True, env={"PYTHONPATH": str(root / pythonpath), "PATH": "/usr/bin:/bin"},
    )
    tests, failures = junit_results(junit.read_text()) if junit.exists() else ({}, {})
    log = proc.stdout + proc.stderr
    return graded(proc.returncode, tests, failures, log=log), log
