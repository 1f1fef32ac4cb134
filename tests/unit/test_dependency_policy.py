"""The dependency policy (factory/core/dependency_policy.py): one cut-off for the project's packages and their
build requirements, the install toolchain exempt, the test tooling resolved for the interpreter, and all of it
in the env and instance Dockerfiles and in the fingerprint."""

from __future__ import annotations

import subprocess
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from agents.builder.environment_manager import plan_env, plan_instance, under_drift_control
from factory.core import recipe as recipe_module
from factory.core.dependency_policy import (
    UNCUT,
    editable_setuptools,
    exclude_newer_date,
    released_by,
    tooling_cutoff,
    uv_config,
)
from factory.core.recipe import Recipe, fingerprint
from factory.core.settings import DEBIAN_PYTHONS, PYTHON_RELEASES
from tests.unit.test_recipe_and_loop import cand

RECIPE = Recipe(python_version="3.11", install_commands=["python -m pip install --upgrade setuptools wheel",
                                                         "python -m pip install '.[test]'"])


def test_the_cutoff_is_the_day_after_the_commit_not_the_start_of_its_month() -> None:
    # A pin released later in the commit's month (here: the same day) must still resolve.
    assert exclude_newer_date(datetime(2021, 6, 17, 9, 30, tzinfo=UTC)) == "2021-06-18T00:00:00Z"
    # The commit's UTC day: 23:30 at UTC-5 is already the next day in UTC.
    late = datetime(2021, 6, 17, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert exclude_newer_date(late) == "2021-06-19T00:00:00Z"
    # Never more than a day after the commit.
    commit = datetime(2019, 12, 31, 23, 59, tzinfo=UTC)
    assert datetime.fromisoformat(exclude_newer_date(commit)) - commit <= timedelta(days=1)


def test_every_debian_python_has_a_release_date() -> None:
    assert set(PYTHON_RELEASES) == set(DEBIAN_PYTHONS)
    assert released_by("3.11", date(2022, 10, 24)) and not released_by("3.11", date(2021, 6, 17))
    assert not released_by("3.99", date(2100, 1, 1))


def test_installers_are_never_cut_off_and_build_and_test_tooling_follow_the_interpreter() -> None:
    config = tomllib.loads("\n".join(uv_config("3.11", "2021-06-18T00:00:00Z")))
    assert config["compile-bytecode"] is True  # as pip does: flask's filterwarnings=error met raw sources
    assert config["exclude-newer"] == "2021-06-18T00:00:00Z"
    per_package = config["exclude-newer-package"]
    assert per_package["pip"] is False and per_package["uv"] is False
    # A 2021 pytest (and its `py`) breaks on Python 3.11: the tooling comes from after 3.11's release.
    floor = tooling_cutoff("3.11", "2021-06-18T00:00:00Z")
    assert floor > "2022-10-24"
    assert per_package["pytest"] == per_package["py"] == per_package["setuptools"] == per_package["wheel"] == floor
    # A 2013 cut-off on 3.9: setuptools from after 3.9's release (so `setuptools>=40.8` exists, and it runs on
    # 3.9), yet not the newest one, which has no pkg_resources for the cut-off's setuptools_scm.
    old = tomllib.loads("\n".join(uv_config("3.9", "2013-05-02T00:00:00Z")))["exclude-newer-package"]
    assert "2020-10-05" < old["setuptools"] < "2021-06-01"
    # A commit well after the interpreter's release: everything but the installers has the project's cut-off.
    recent = tomllib.loads("\n".join(uv_config("3.11", "2026-01-02T00:00:00Z")))
    assert set(recent["exclude-newer-package"]) == set(UNCUT)
    assert tooling_cutoff("3.11", "2026-01-02T00:00:00Z") == "2026-01-02T00:00:00Z"


def test_the_env_dockerfile_writes_that_config_and_points_uv_and_pip_at_it() -> None:
    plan = plan_env(cand(), RECIPE, "f" * 64, datetime(2021, 6, 17, 12, tzinfo=UTC))
    [line] = [x for x in plan.dockerfile.splitlines() if x.startswith("RUN mkdir -p /etc/uv")]
    printf = line.removeprefix("RUN mkdir -p /etc/uv && ").removesuffix(" >/etc/uv/uv.toml")
    written = subprocess.run(["bash", "-c", printf], capture_output=True, text=True, check=True).stdout
    assert tomllib.loads(written) == tomllib.loads("\n".join(uv_config("3.11", "2021-06-18T00:00:00Z")))
    assert "UV_CONFIG_FILE=/etc/uv/uv.toml" in plan.dockerfile
    assert "PIP_NO_INDEX=1" in plan.dockerfile  # pip (setup_requires, easy_install) cannot go around uv
    assert "RUN uv pip install --upgrade setuptools wheel" in plan.dockerfile


def test_every_pip_install_of_a_chained_command_runs_under_uv() -> None:
    assert under_drift_control("pip install -U pip && pip install -r req.txt; python -m pip install x") == (
        "uv pip install -U pip && uv pip install -r req.txt; uv pip install x")
    assert under_drift_control("echo 'pip install'") == "echo 'pip install'"


def test_the_instance_image_installs_the_project_under_the_same_policy() -> None:
    # The old instance image ran `pip install -e .`, whose setup_requires fetched packages from 2026.
    dockerfile = plan_instance(cand(), RECIPE, "env:1").dockerfile
    assert 'if [ -n "${UV_CONFIG_FILE:-}" ]; then' in dockerfile
    assert ("uv pip install --no-deps --no-build-isolation -e . \\\n"
            "        || uv pip install --no-deps -e .") in dockerfile
    assert "|| PIP_NO_INDEX=1 python -m pip install --no-deps --no-build-isolation -e ." in dockerfile
    # The isolated editable build gets a setuptools with PEP 660, whatever the cut-off (a real 2019 build's
    # env setuptools 51 has no build_editable); the env image says which.
    assert '--exclude-newer-package "setuptools=$FACTORY_EDITABLE_SETUPTOOLS"' in dockerfile
    # so does every other backend: hukkin/tomli's 2021 poetry-core had no build_editable (all 15 fixes lost)
    for backend in ("poetry-core", "flit-core", "hatchling", "pdm-backend"):
        assert f'--exclude-newer-package "{backend}=$FACTORY_EDITABLE_SETUPTOOLS"' in dockerfile
    env = plan_env(cand(), RECIPE, "f" * 64, datetime(2019, 3, 5, tzinfo=UTC)).dockerfile
    assert f"FACTORY_EDITABLE_SETUPTOOLS={editable_setuptools('3.11', '2019-03-06T00:00:00Z')}" in env
    assert editable_setuptools("3.9", "2019-03-06T00:00:00Z") == "2023-07-01T00:00:00Z"
    assert editable_setuptools("3.13", "2026-01-02T00:00:00Z") == "2026-01-02T00:00:00Z"


def test_what_the_policy_installs_is_part_of_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"setup.py": "0" * 64}
    on = fingerprint(RECIPE, files, "2021-06-18T00:00:00Z")
    assert on != fingerprint(RECIPE, files, "2021-06-19T00:00:00Z") != fingerprint(RECIPE, files)
    # The tooling cut-off follows from python + cut-off, both in the fingerprint.
    assert on != fingerprint(RECIPE.model_copy(update={"python_version": "3.13"}), files, "2021-06-18T00:00:00Z")
    monkeypatch.setattr(recipe_module, "POLICY", "another policy")
    assert fingerprint(RECIPE, files, "2021-06-18T00:00:00Z") != on
