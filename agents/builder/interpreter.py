"""Which interpreter a candidate is validated on, beyond what the explorer reads: the base commit's date, and
whether the fix only shows on some Pythons.

Why apart from the explorer: both questions need facts the explorer does not have — the commit's date (a
Python released after it is one the project never supported, and dependencies resolved as of that date
may not run on it: a 2021 pytest's ``py`` breaks on 3.11) and the verdict of a first try (a fix that adds
behaviour only on Python >= 3.10 passes trivially on 3.9: ``pass2pass``; a target test marked "requires
Python 3.13+" is *skipped* and proves nothing). The builder loop asks :func:`dated_facts` once, and
:func:`retry_python` after a try, which then runs the same recipe on the newest allowed interpreter.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from agents.builder import explorer
from factory.core.models import Candidate, Rejection, Status, TestOutcome
from factory.core.settings import DEBIAN_PYTHONS
from factory.mining.mirror import Snapshot

_VERSION_CONDITIONAL = re.compile(
    r"sys\.version_info|sys\.version\b|platform\.python_version|\bPY_?3_?\d{1,2}\b|\bpython_version\s*[<>=!~]"
    r"|requires?\s+python\s*3\.\d+|python\s*3\.\d+\s*\+|python\s*>=\s*3\.\d+",
    re.I,
)
_CI_FILE = re.compile(r"^(\.github/workflows/.*\.ya?ml|\.travis\.yml|\.circleci/.*|azure-pipelines.*\.ya?ml|"
                      r"tox\.ini|noxfile\.py|\.gitlab-ci\.yml|appveyor\.yml)$")
_CI_VERSIONS = re.compile(r"\b3\.\d+\b|\bpy3\d+\b|python-version|envlist", re.I)
_DIFF_FILE = re.compile(r"^diff --git a/\S+ b/(\S+)$", re.M)


def _changed_lines(diff: str) -> dict[str, list[str]]:
    """Added and removed lines of a unified diff, by path."""
    out: dict[str, list[str]] = {}
    starts = list(_DIFF_FILE.finditer(diff))
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(diff)
        out[match.group(1)] = [
            line[1:] for line in diff[match.end():end].splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
    return out


def version_sensitive(candidate: Candidate) -> bool:
    """Whether the fix or its tests depend on the interpreter version: ``sys.version_info`` / ``PY310`` /
    ``python_version`` markers / "requires Python 3.x" in the changed lines of the patch or test patch, or a
    change to the CI version matrix."""
    for diff in (candidate.patch, candidate.test_patch):
        for path, lines in _changed_lines(diff).items():
            if _CI_FILE.match(path) and any(_CI_VERSIONS.search(line) for line in lines):
                return True
            if any(_VERSION_CONDITIONAL.search(line) for line in lines):
                return True
    return False


def python_constraints(snapshot: Snapshot) -> tuple[str | None, set[str]]:
    """(requires-python, declared versions) at the commit, read where the explorer reads them."""
    pyproject, cfg = explorer._pyproject(snapshot), explorer._setup_cfg(snapshot)
    setup_py = snapshot.read("setup.py") or ""
    project = pyproject.get("project", {})
    requires = project.get("requires-python") or cfg.get("options", "python_requires", fallback=None)
    if not requires and (match := explorer._SETUP_PY_REQUIRES.search(setup_py)):
        requires = match.group(1)
    text = "\n".join(project.get("classifiers", [])) + cfg.get("metadata", "classifiers", fallback="") + setup_py
    declared = set(explorer._CLASSIFIER.findall(text))
    declared.update(f"3.{m}" for m in explorer._TOX_ENV.findall(snapshot.read("tox.ini") or ""))
    for path in snapshot.files():
        if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
            for group in explorer._CI_VERSIONS.findall(snapshot.read(path) or ""):
                declared.update(re.findall(r"3\.\d+", group))
    return requires, declared


def dated_facts(facts: explorer.SetupFacts, snapshot: Snapshot, base_date: datetime, default: str,
                enabled: bool = True) -> explorer.SetupFacts:
    """``facts`` with an interpreter released by the base commit's date (the newest declared one, when one
    is), since its dependencies are resolved as of that date. ``enabled`` False (no cut-off): unchanged."""
    if not enabled:
        return facts
    requires, declared = python_constraints(snapshot)
    day = base_date.astimezone(UTC).date() if base_date.tzinfo else base_date.date()
    version, reason = explorer.choose_python(requires, declared, default, released_before=day)
    return dataclasses.replace(facts, python_version=version, python_reason=reason)


def newest_python(snapshot: Snapshot) -> str:
    """The newest available interpreter requires-python allows (the newest available one if none does)."""
    requires, _ = python_constraints(snapshot)
    try:
        spec = SpecifierSet(requires or "")
    except InvalidSpecifier:
        spec = SpecifierSet()
    allowed = [v for v in DEBIAN_PYTHONS if spec.contains(Version(v))] or list(DEBIAN_PYTHONS)
    return max(allowed, key=lambda v: Version(v))


def retry_python(status: Status, reason: str, after_tests: dict[str, str], python_version: str,
                 candidate: Candidate, newest: str) -> str | None:
    """The interpreter to try again on, or None: a ``pass2pass`` / ``no_tests_ran`` verdict proves nothing
    when target tests were skipped or the fix is version-conditional, unless it came from the newest one."""
    if status is not Status.REJECTED or reason not in (Rejection.PASS2PASS, Rejection.NO_TESTS_RAN):
        return None
    if python_version == newest:
        return None
    skipped = TestOutcome.SKIPPED.value in after_tests.values()
    return newest if skipped or version_sensitive(candidate) else None
