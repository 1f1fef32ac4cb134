"""The eval-script contract: what runs in a test container, where the verdict is written, and its limits.

One place for the facts the script templates (``docker_templates/eval.sh.j2``, ``run.sh.j2``,
``guard.sh.j2``) and the grader share: the contract version, the root-only results folder and its files,
the unprivileged test user, the output caps, and which paths count as test machinery (restored to
base_commit before every run, whatever the patch under test did to them). The rules and why they hold are
in docs/grading.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath

from factory.mining.split import TEST_DIRS, file_diffs

CONTRACT = 2
"""Eval scripts carry ``# factory-eval-contract: <n>``; the grader refuses scripts of an older contract."""
CONTRACT_LINE = re.compile(r"^# factory-eval-contract: (\d+)\s*$", re.M)

RESULTS_DIR = "/run/factory"
"""Root-only folder (mode 700) where the run's verdict lands; the test user cannot read or write it."""
STATUS_FILE = f"{RESULTS_DIR}/status"
"""``key=value`` lines written by root: exit_code, test_seconds, patch_failed, canary names, output sizes."""
RESULTS_FILE = f"{RESULTS_DIR}/tests.jsonl"
"""Per-test results from the guard plugin (one JSON object per report), through an inherited fd."""
JUNIT_FILE = f"{RESULTS_DIR}/junit.xml"
"""pytest's JUnit report, copied by root once no process of the test user is left (a cross-check)."""
OUTPUT_FILES = [f"{RESULTS_DIR}/out.head", f"{RESULTS_DIR}/out.tail"]
"""The capped test output as captured so far: the log of a run killed at its timeout is taken from here."""
COLLECTED = [RESULTS_DIR]
"""Copied out of the container after it stopped, in one call: the whole results folder."""

TESTER = "factory"
"""The unprivileged user (uid 10001) that applies patches and runs tests; owns /testbed but not .git."""

OUTPUT_HEAD = 1 << 20
OUTPUT_TAIL = 1 << 20
"""Test output kept: the first and the last MiB (pytest's summary is at the end); the rest is cut with a
note, in memory and on disk alike."""
RESULTS_CAP = 32 << 20
"""Bytes kept of the per-test results and of the JUnit file; a longer one is cut and cannot grade a pass."""
FAILURE_TEXT_LIMIT = 8000
"""Characters kept of one failure text: enough for the exception line at its end (the cause rule)."""

GUARDED_DIRS = r"/(" + "|".join(sorted(TEST_DIRS)) + r"|__pycache__|\.pytest_cache)(/|$)"
"""A path (with a leading ``/``) with one of these components is test machinery: test folders, bytecode
caches."""
GUARDED_METADATA = r"/[^/]*\.(dist-info|egg-info|egg-link)(/|$)"
"""Packaging metadata, matched regardless of case as ``importlib.metadata`` does: a ``pytest11`` entry point
there would load a plugin."""
GUARDED_NAMES = (
    r"^(test_.*\.py|.*_tests?\.py|tests?\.py|conftest\.py|pytest\.ini|\.pytest\.ini|tox\.ini|setup\.cfg"
    r"|pyproject\.toml|sitecustomize\.py|usercustomize\.py|.*\.pth|.*\.py[co])$"
)
"""File names that are test machinery wherever they are: test modules, conftest files, every file pytest
reads its configuration from, and what Python runs at interpreter start."""
RUNNER_NAMES = r"^(pytest|_pytest|pluggy|py|iniconfig)(\.py)?$"
"""Modules that would shadow the test runner (guarded unless base_commit has them: pytest's own repo)."""

SWEBENCH_LOG_START = ">>>>> Start Test Output"
SWEBENCH_LOG_END = ">>>>> End Test Output"
"""What SWE-bench's grader (swebench 5.x ``harness/grading.py``) slices the test log between; the eval script
prints them around the replayed test output and nowhere else, so that harness grades our export unchanged.
Its ``record_test_exit_code`` inserts ``SWEBENCH_TEST_EXIT_CODE=$?`` before the first line holding the end
marker, so the line before it returns the test command's exit code. Our own grader never reads them."""
SWEBENCH_MARK = ">>>>> "
"""Every SWE-bench log marker starts so (start/end, test exit code, patch apply failed, tests errored ...).
In the replayed test output it is rewritten to :data:`SWEBENCH_MARK_NEUTRAL`: the tests' output cannot
forge a marker for a log-reading grader either (their PASSED lines still can: docs/grading.md)."""
SWEBENCH_MARK_NEUTRAL = ">>>>_ "
"""Ends in ``_ ``, so no rewrite can glue with what precedes it into a new :data:`SWEBENCH_MARK`."""
SWEBENCH_LOG_PARSER = "parse_log_pytest_v2"
"""swebench's parser (``harness/log_parsers``) for our logs: it reads ``WORD node-id`` summary lines, which our
guard plugin prints for every test even where pytest's own ``-rA`` prints no PASSED lines (pytest 3), and,
unlike ``parse_log_pytest``, keeps a node id with spaces whole (marshmallow's ``[rfc-Sun, 10 Nov 2013 …]``,
flask's ``[cliapp.factory- create_app () -app]``): on 10 real instances the first parser resolved 4."""
SWEBENCH_EVAL_TYPE = "pass_and_fail"
"""swebench's ``EvalType``: every FAIL_TO_PASS and PASS_TO_PASS test must be seen passing (fail_only would
count an absent test as a success)."""

CANARY_WORDS = (
    "add", "after", "all", "apply", "args", "async", "base", "basic", "before", "bytes", "cache", "call",
    "case", "check", "child", "clean", "close", "config", "copy", "count", "create", "data", "date",
    "default", "delete", "dict", "empty", "encode", "entry", "error", "event", "field", "file", "filter",
    "first", "format", "get", "group", "handle", "header", "index", "init", "input", "item", "key", "last",
    "limit", "list", "load", "merge", "name", "nested", "none", "order", "parse", "path", "query", "read",
    "remove", "reset", "result", "save", "set", "size", "sort", "split", "state", "string", "text", "type",
    "update", "user", "value", "write",
)
"""Canary test names are three of these words drawn at run time (``test_<w>_<w>_<w>``): plausible names
the patch under test cannot know in advance."""


def is_guarded(path: str, exists_at_base: Callable[[str], bool]) -> bool:
    """The Python twin of the guard's ``factory_is_guarded`` (``guard.sh.j2``): test machinery or not."""
    if re.search(GUARDED_DIRS, "/" + path) or re.search(GUARDED_NAMES, PurePosixPath(path).name):
        return True
    if re.search(GUARDED_METADATA, "/" + path, re.IGNORECASE):
        return True
    parts = path.split("/")
    for i, part in enumerate(parts):
        if re.search(RUNNER_NAMES, part):
            return not exists_at_base("/".join(parts[: i + 1]))
    return False


def machinery_hunks(gold_patch: str, exists_at_base: Callable[[str], bool]) -> str:
    """The file blocks of the gold patch that change test machinery (pytest configuration in
    ``pyproject.toml`` / ``setup.cfg`` / ``tox.ini`` / ``pytest.ini``, say). The eval script applies them
    with the test patch: they belong to the tests' environment, so the gold patch keeps them in effect in
    validation and a model patch needs none of them."""
    return "".join(
        f.text for f in file_diffs(gold_patch)
        if any(is_guarded(p, exists_at_base) for p in (f.old_path, f.new_path) if p)
    )


def template_values() -> dict[str, object]:
    """What every script template of the contract is rendered with."""
    return {
        "contract": CONTRACT, "tester": TESTER, "guarded_dirs": GUARDED_DIRS, "guarded_names": GUARDED_NAMES,
        "guarded_metadata": GUARDED_METADATA,
        "runner_names": RUNNER_NAMES, "canary_words": CANARY_WORDS, "output_head": OUTPUT_HEAD,
        "output_tail": OUTPUT_TAIL, "results_cap": RESULTS_CAP, "log_start": SWEBENCH_LOG_START,
        "log_end": SWEBENCH_LOG_END, "log_mark": SWEBENCH_MARK, "log_mark_neutral": SWEBENCH_MARK_NEUTRAL,
    }


def contract_of(eval_script: str) -> int:
    """The contract an eval script was written for (0: before contracts were numbered)."""
    match = CONTRACT_LINE.search(eval_script)
    return int(match.group(1)) if match else 0


def run_driver(patch_name: str) -> str:
    """Container entry script: apply ``/factory/fix.patch`` (named ``patch_name`` in markers), run eval."""
    from factory.core.templates import render

    return render("run.sh.j2", patch_name=patch_name, **template_values())
