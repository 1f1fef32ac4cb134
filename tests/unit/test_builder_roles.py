"""Heuristic builder roles without Docker: explorer facts, eval script, recipes, build-failure summaries.

Repositories are real (tiny git repos read through a mirror); the eval script is run with bash in a real
checkout, with the venv's pytest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.builder import explorer, test_manager
from agents.builder.environment_manager import write_env_recipe, write_instance_recipe
from agents.builder.explorer import SetupFacts, choose_python, explore
from agents.builder.test_analyst import explain_build_failure
from factory.classify import classify
from factory.grading import grade_run, parse_junit
from factory.mining.mirror import Snapshot, open_mirror
from factory.mining.split import split_diff
from factory.models import Candidate, Status
from factory.models import TestOutcome as Outcome

SETUPTOOLS = "python -m pip install --upgrade setuptools wheel"
PYTEST = "python -m pip install pytest"
AVAILABLE = ("3.9", "3.11", "3.13")
DIFF_ARGS = ("diff", "--binary", "--full-index", "--no-color", "--no-ext-diff")


def snapshot_of(repo, tmp_path: Path, sha: str | None = None) -> Snapshot:
    mirror = open_mirror(str(repo.root), tmp_path / "mirrors")
    return Snapshot(mirror, sha or repo.text("rev-parse", "HEAD"))


def explored(make_repo, tmp_path: Path, files: dict[str, str]) -> SetupFacts:
    repo = make_repo()
    repo.commit("init", {"src/pkg/__init__.py": "", **files})
    return explore(snapshot_of(repo, tmp_path))


# ---- choose_python --------------------------------------------------------------------------------


def test_choose_python_default_when_allowed() -> None:
    version, reason = choose_python(None, set(), "3.11", AVAILABLE)
    assert version == "3.11"
    assert "default" in reason
    assert choose_python(">=3.8", set(), "3.11", AVAILABLE)[0] == "3.11"


def test_choose_python_requires_excludes_default() -> None:
    version, reason = choose_python(">=3.12", set(), "3.11", AVAILABLE)
    assert version == "3.13"
    assert ">=3.12" in reason
    assert choose_python("<3.10", set(), "3.11", AVAILABLE)[0] == "3.9"
    assert choose_python(">=3.6,<3.10", set(), "3.11", AVAILABLE)[0] == "3.9"


def test_choose_python_old_declared_versions_pick_the_nearest() -> None:
    version, reason = choose_python(None, {"3.6", "3.7", "3.8"}, "3.11", AVAILABLE)
    assert version == "3.9"
    assert "3.6, 3.7, 3.8" in reason


def test_choose_python_declared_default_wins_ties() -> None:
    assert choose_python(None, {"3.10", "3.11", "3.12"}, "3.11", AVAILABLE)[0] == "3.11"
    # 3.11 and 3.13 are both one minor away from 3.12: the default breaks the tie.
    assert choose_python(None, {"3.12"}, "3.11", AVAILABLE)[0] == "3.11"
    assert choose_python(None, {"3.13"}, "3.11", AVAILABLE)[0] == "3.13"


def test_choose_python_declared_respects_requires() -> None:
    assert choose_python(">=3.10", {"3.8", "3.9", "3.10"}, "3.11", AVAILABLE)[0] == "3.11"


@pytest.mark.parametrize(
    ("requires", "declared", "expected"),
    [
        (">=3.14", set(), "3.13"),
        (">3.13", set(), "3.13"),
        ("<3.0", set(), "3.9"),
        ("==2.7.*", set(), "3.9"),
        ("<3.8", {"3.6", "3.7"}, "3.9"),
        (">=3.14", {"3.14"}, "3.13"),
    ],
)
def test_choose_python_unsatisfiable_gives_nearest_with_reason(
    requires: str, declared: set[str], expected: str
) -> None:
    version, reason = choose_python(requires, declared, "3.11", AVAILABLE)
    assert version == expected
    assert "no available Python satisfies" in reason
    assert requires in reason
    assert f"nearest is {expected}" in reason


def test_choose_python_invalid_spec_is_ignored() -> None:
    assert choose_python("not a spec", set(), "3.11", AVAILABLE)[0] == "3.11"
