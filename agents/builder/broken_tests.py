"""Tests this environment breaks whatever the fix does: found in a ``fail2fail`` verdict's own runs.

A target file often holds tests the sandbox cannot pass: psf/requests' ``test_connect_timeout`` expects a
timeout from an unroutable address and gets "network unreachable" (the sandbox has no network), before and
after the gold patch alike. Graded by exit code, the whole file fails after the fix, and a fix whose own
tests go from failing to passing was rejected as ``fail2fail`` (8 of 25 requests fixes). SWE-bench leaves
such tests out of both lists; here they are left out of the runs themselves (``Recipe.deselect``), so the
exit code judges the rest, and the builder validates once more.

Only tests that existed before the test patch qualify: one the test patch adds and the fix does not make
pass is the candidate's own failure, and keeps the ``fail2fail``. And only when the fix still flips at least
one test from failing to passing, and every failure after the fix is such a broken test.
"""

from __future__ import annotations

import re

from factory.core.models import TestOutcome

_BAD = {TestOutcome.FAILED.value, TestOutcome.ERROR.value}
_ADDED_TEST = re.compile(r"^\+\s*(?:async\s+)?def\s+(test\w*)", re.M)


def added_test_names(test_patch: str) -> set[str]:
    """Names of the test functions the test patch defines (its new or rewritten tests)."""
    return set(_ADDED_TEST.findall(test_patch))


def _name(node_id: str) -> str:
    """``tests/t.py::Class::test_x[param]`` -> ``test_x``."""
    return node_id.split("::")[-1].split("[")[0]


def broken_tests(before: list[dict[str, str]], after: list[dict[str, str]], test_patch: str) -> list[str]:
    """The tests to deselect, or [] when a run without them could not change the verdict honestly.

    ``before`` / ``after``: each run's outcomes by node id (``Validation.tests``)."""
    if not before or not after:
        return []
    ids = set.intersection(*(set(run) for run in before + after))

    def always(outcomes: set[str], runs: list[dict[str, str]], test: str) -> bool:
        return all(run[test] in outcomes for run in runs)

    failing_after = {t for run in after for t, o in run.items() if o in _BAD}
    broken = {t for t in ids if always(_BAD, before, t) and always(_BAD, after, t)}
    flipped = {t for t in ids if always(_BAD, before, t) and always({TestOutcome.PASSED.value}, after, t)}
    new = added_test_names(test_patch)
    if not flipped or not broken or failing_after - broken or any(_name(t) in new for t in broken):
        return []
    return sorted(broken)
