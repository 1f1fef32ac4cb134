"""Recipes, drift control and the loop's blame rule: which outcomes send the builder to the next recipe."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from agents.builder.environment_manager import exclude_newer_date, plan_env, scm_version, under_drift_control
from agents.builder.llm_io import extract_json
from agents.builder.loop import Trial
from factory.core.models import Candidate, Status
from factory.core.recipe import Recipe, fingerprint

RECIPE = Recipe(python_version="3.11", install_commands=["python -m pip install '.[test]'"])


def cand() -> Candidate:
    return Candidate(instance_id="o__r-1", repo="o/r", base_commit="a" * 40, fix_commit="b" * 40, patch="",
                     test_patch="", problem_statement="", created_at=datetime(2024, 3, 17, 12, tzinfo=UTC),
                     source="git:/x")


@pytest.mark.parametrize(("status", "reason", "after", "blamed"), [
    (Status.BUILD_FAILED, "env_build", {}, True),
    (Status.REJECTED, "error2pass", {"t": "passed"}, True),
    (Status.REJECTED, "no_tests_ran", {}, True),
    (Status.ERROR, "marker_missing", {}, True),
    (Status.REJECTED, "fail2fail", {"t.py": "error"}, True),
    (Status.REJECTED, "fail2fail", {"t.py::a": "failed", "t.py::b": "error"}, False),
    (Status.REJECTED, "pass2pass", {"t": "passed"}, False),
    (Status.REJECTED, "flaky", {"t": "failed"}, False),
    (Status.REJECTED, "gold_patch_failed", {}, False),
    (Status.ERROR, "timeout", {}, False),
    (Status.VALID, "", {"t": "passed"}, False),
])
def test_which_outcomes_blame_the_environment(status, reason, after, blamed) -> None:
    trial = Trial("heuristic", RECIPE, status, reason, after_tests=after)
    assert trial.blames_environment() is blamed


def test_recipe_rejects_unknown_python_and_bad_names() -> None:
    with pytest.raises(ValidationError, match="python_version"):
        Recipe(python_version="3.12", install_commands=[])
    with pytest.raises(ValidationError, match="environment variable"):
        Recipe(python_version="3.11", install_commands=[], test_env={"BAD-NAME": "1"})
    with pytest.raises(ValidationError, match="Debian package"):
        Recipe(python_version="3.11", install_commands=[], system_packages=["jq; rm -rf /"])


def test_fingerprint_depends_on_env_part_files_and_cutoff_only() -> None:
    files = {"pyproject.toml": "ab"}
    base = fingerprint(RECIPE, files)
    assert fingerprint(RECIPE.model_copy(update={"test_env": {"X": "1"}}), files) == base
    assert fingerprint(RECIPE.model_copy(update={"system_packages": ["jq"]}), files) != base
    assert fingerprint(RECIPE, {"pyproject.toml": "cd"}) != base
    assert fingerprint(RECIPE, files, "2024-03-01T00:00:00Z") != base


def test_drift_control_cutoff_and_pip_rewrite() -> None:
    assert exclude_newer_date(datetime(2024, 3, 17, 12, tzinfo=UTC)) == "2024-03-18T00:00:00Z"
    assert under_drift_control("python -m pip install -r req.txt") == "uv pip install -r req.txt"
    assert under_drift_control("pip install x") == "uv pip install x"
    assert under_drift_control("make deps") == "make deps"
    plan = plan_env(cand(), RECIPE.model_copy(update={"system_packages": ["jq"], "env": {"A": "b c"}}), "f" * 64,
                    cand().created_at)
    assert "UV_EXCLUDE_NEWER=2024-03-18T00:00:00Z" in plan.dockerfile
    assert "RUN uv pip install '.[test]'" in plan.dockerfile
    assert "apt-get install -y --no-install-recommends jq" in plan.dockerfile
    assert 'ENV A="b c"' in plan.dockerfile
    # git-versioned projects (setuptools-scm, hatch-vcs) build from a source copy without .git
    assert "ARG SETUPTOOLS_SCM_PRETEND_VERSION=0.0.0" in plan.dockerfile
    off = plan_env(cand(), RECIPE, "f" * 64, None)
    assert "UV_EXCLUDE_NEWER" not in off.dockerfile and "RUN python -m pip install '.[test]'" in off.dockerfile
    assert off.image_tag != plan.image_tag


def test_a_git_versioned_project_is_built_as_its_release_line() -> None:
    """attrs at a 2024 commit built as 0.0.0 made uv pick a 2016 hypothesis (every newer one requires
    attrs>=22.2): the pretended version is the candidate's release line, and part of the fingerprint."""
    assert scm_version("24.2") == "24.2" and scm_version("v1.0") == "1.0"
    assert scm_version("") == "0.0.0" and scm_version("nightly") == "0.0.0"
    released = plan_env(cand().model_copy(update={"version": "24.2"}), RECIPE, "f" * 64, cand().created_at)
    assert "ARG SETUPTOOLS_SCM_PRETEND_VERSION=24.2" in released.dockerfile
    assert fingerprint(RECIPE, {"a": "b"}, "", "24.2") != fingerprint(RECIPE, {"a": "b"}, "", "24.1")
    assert fingerprint(RECIPE, {"a": "b"}) == fingerprint(RECIPE, {"a": "b"}, "", "")


@pytest.mark.parametrize(("text", "value"), [
    ('{"a": 1}', {"a": 1}),
    ('Sure!\n```json\n{"a": [1, 2]}\n```\nDone.', {"a": [1, 2]}),
    ('prefix {"a": {"b": 2}} suffix', {"a": {"b": 2}}),
])
def test_extract_json(text, value) -> None:
    assert extract_json(text) == value


@pytest.mark.parametrize("text", ["no json here", "[1, 2]", "{broken"])
def test_extract_json_refuses(text) -> None:
    with pytest.raises(ValueError):
        extract_json(text)
