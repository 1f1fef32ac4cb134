"""Whether a candidate's runs say its *environment* is broken: the test suite could not start, or every
failure of a run is the environment's (DESIGN §1: a rejection is never based on a broken environment).

Why apart from ``classify``: classify gives the verdict on the candidate from its runs; this module says
whether that verdict may be final. The builder loop reads the evidence (``Verdict.environment``) to try
the next recipe, and when no recipe gets past it the candidate ends ``build_failed(env_broken)`` with
the evidence quoted, never ``rejected(...)``: a rejection is not retried, a broken environment is fixed by
a better recipe. Pure text analysis of each run's grade and log; a run counts, before or after the gold
patch, when

- no target test ran and the log shows why the suite could not start: a conftest that fails to import,
  the test tool itself missing (``No module named pytest``, exit code 127), pytest ending with exit code
  2–5 (interrupted, internal error, usage error such as an unknown option of a missing plugin, nothing
  collected) — each before any target test ran;
- target tests failed or errored, and every one of them for an environment cause of ``failure_cause``
  (a third-party module missing, a name missing from a third-party package of the wrong version).

A run where nothing ran and none of these shows (every target test skipped — unless the skip says a
third-party module is missing —, a test that kills pytest) says nothing about the environment: its verdict
stays the candidate's.
"""

from __future__ import annotations

import re

from factory.core.models import TestOutcome
from factory.grading.failure_cause import Cause, FixFacts, cause
from factory.grading.verdict import RunGrade

_ENV_CAUSES = (Cause.MISSING_MODULE, Cause.THIRD_PARTY_IMPORT)
_BAD = (TestOutcome.FAILED, TestOutcome.ERROR)
_CONFTEST = re.compile(r"ImportError while loading conftest '([^']+)'")
_NO_RUNNER = re.compile(r"No module named '?(pytest|_pytest|py\.test)'?")
_ERROR_LINES = [re.compile(p, re.M) for p in (r"^[^\n:]*: error: .+$", r"^(?:E\s+)?\w+Error: .+$", r"^ERROR: .+$")]
"""Most telling first: argparse's ``pytest: error: unrecognized arguments``, an exception, pytest's ERROR line."""
_SKIPPED = re.compile(r"^SKIPPED \[\d+\] (.+)$", re.M)
"""pytest's short summary of a skip (``-rA``): ``SKIPPED [1] tests/t.py:3: could not import 'x': No module …``."""
_EXIT_MEANING = {2: "interrupted", 3: "internal error", 4: "usage error", 5: "no tests collected"}
_QUOTE = 200


def _first_error(text: str) -> str:
    for pattern in _ERROR_LINES:
        match = pattern.search(text)
        if match:
            return match.group(0).strip()[:_QUOTE]
    return ""


def _could_not_start(run: RunGrade, log: str, facts: FixFacts) -> str:
    """Why a run in which no target test ran could not start its suite ("" when the log does not say)."""
    conftest = _CONFTEST.search(log)
    if conftest:
        section = log[conftest.start():conftest.start() + 4000]
        why, quote = cause(section, facts)
        cannot = re.search(r"cannot import name '(\w+)'|module '[\w.]+' has no attribute '(\w+)'", section)
        if why is Cause.GENUINE and cannot and (cannot.group(1) or cannot.group(2)) in facts.added_names:
            return ""  # the test patch's conftest uses what the fix adds (marshmallow: fields.IPInterface)
        detail = quote or _first_error(section[len(conftest.group(0)):]) or "see the run log"
        return f"conftest {conftest.group(1).removeprefix('/testbed/')} failed to import: {detail}"
    runner = _NO_RUNNER.search(log)
    if runner:
        return f"the test tool is not installed (No module named {runner.group(1)!r})"
    skips = _SKIPPED.findall(log)
    if run.tests or skips:  # the suite started and skipped the target tests (a module-level importorskip)
        for reason in skips:
            why, quote = cause(reason, facts)
            if why in _ENV_CAUSES:
                return f"the target tests were skipped because {quote}"
        return ""
    if run.exit_code == 127:
        return "the test command was not found (exit code 127)"
    if run.exit_code in _EXIT_MEANING:
        said = _first_error(log)
        return (f"pytest exited {run.exit_code} ({_EXIT_MEANING[run.exit_code]}) before any target test ran"
                + (f": {said}" if said else ""))
    return ""


def run_blocker(run: RunGrade, log: str, facts: FixFacts) -> str:
    """The evidence that this one run's environment is broken ("" when its outcome is the candidate's)."""
    if run.infra_error or run.patch_error or run.verdict == "pass":
        return ""
    if not [t for t, o in run.tests.items() if o is not TestOutcome.SKIPPED]:
        return _could_not_start(run, log, facts)
    bad = sorted(t for t, o in run.tests.items() if o in _BAD)
    quotes = []
    for test in bad:
        why, quote = cause(run.failures.get(test, ""), facts)
        if why not in _ENV_CAUSES:
            return ""
        quotes.append(f"{test}: {quote}")
    return f"every failing target test failed for an environment reason ({quotes[0]})" if quotes else ""


def environment_evidence(runs: list[tuple[str, RunGrade, str]], facts: FixFacts) -> str:
    """The evidence of the first run (phase, grade, log) whose environment is broken, as ``before the gold
    patch: …`` / ``after the gold patch: …``; "" when every run's outcome is the candidate's own."""
    for phase, run, log in runs:
        evidence = run_blocker(run, log, facts)
        if evidence:
            return f"{phase} the gold patch: {evidence}"
    return ""
