"""The blame rule (factory.grading.blame + the builder loop's order and final verdict) on real pytest runs.

Each run is a real pytest process over a tiny project, graded the way the product grades
(``tests/grades.py``); its log and grade give the environment evidence, and the loop's ``run`` decides the
final outcome from trials holding those verdicts. Only the Docker part of a try (``Builder.attempt``) is
replaced, by the verdict the scripted runs give.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agents.builder.loop import BuildContext, Builder, Trial
from factory.core.models import BuildFailure, Candidate, Rejection, Status
from factory.core.models import TestOutcome as Outcome
from factory.core.recipe import Recipe
from factory.core.settings import Settings
from factory.grading.blame import environment_evidence, run_blocker
from factory.grading.classify import Verdict, classify
from factory.grading.failure_cause import FixFacts, fix_facts
from factory.grading.verdict import RunGrade
from factory.store import Store
from tests.grades import graded, pytest_graded
from tests.unit.conftest import GitRepo
from tests.unit.test_builder_roles import snapshot_of

TEST = "from pkg import feature\n\n\ndef test_feature():\n    assert feature() == 2\n"
PKG = {"src/pkg/__init__.py": "def feature():\n    return 1\n"}
FACTS = FixFacts(own_packages=frozenset({"pkg", "tests"}), test_files=frozenset({"tests/test_feature.py"}))


def blocker(tmp_path: Path, files: dict[str, str], **kw) -> tuple[RunGrade, str]:
    run, log = pytest_graded(tmp_path, {**PKG, "tests/test_feature.py": TEST, **files}, **kw)
    return run, run_blocker(run, log, FACTS)


# ---- one run: could the suite start? -----------------------------------------------------------------


def test_a_conftest_that_imports_a_missing_module_blames_the_environment(tmp_path: Path) -> None:
    run, why = blocker(tmp_path, {"tests/conftest.py": "import simplejson_nowhere\n"})
    assert (run.exit_code, run.tests) == (4, {})
    assert "conftest" in why and "'simplejson_nowhere' is not installed" in why, why


def test_a_missing_test_tool_blames_the_environment(tmp_path: Path) -> None:
    run, why = blocker(tmp_path, {}, python=(sys.executable, "-I", "-S"))  # no site-packages: no pytest
    assert run.tests == {}
    assert "test tool is not installed" in why and "pytest" in why, why


def test_an_unknown_option_of_a_missing_plugin_blames_the_environment(tmp_path: Path) -> None:
    run, why = blocker(tmp_path, {}, args=("--cov=pkg",))
    assert run.exit_code == 4
    assert "exited 4 (usage error) before any target test ran" in why and "unrecognized arguments" in why, why


def test_nothing_collected_blames_the_environment(tmp_path: Path) -> None:
    run, why = blocker(tmp_path, {"tests/test_feature.py": "def helper():\n    pass\n"})
    assert run.exit_code == 5
    assert "exited 5 (no tests collected)" in why, why


def test_failures_that_are_all_third_party_imports_blame_the_environment(tmp_path: Path) -> None:
    run, why = blocker(tmp_path, {"tests/test_feature.py": (
        "def test_feature():\n    import yaml_nowhere\n\n\ndef test_other():\n    assert True\n")})
    assert run.tests["tests/test_feature.py::test_feature"] is Outcome.FAILED
    assert "every failing target test failed for an environment reason" in why and "yaml_nowhere" in why, why


@pytest.mark.parametrize("files", [
    {},                                                                          # a genuine assertion failure
    {"tests/test_feature.py": "import pytest\n\npytest.importorskip('pkg.nowhere')\n\n\ndef test_feature():\n"
                              "    pass\n"},                                    # every target test skipped
    {"tests/test_feature.py": TEST + "\n\ndef test_cfg():\n    import yaml_nowhere\n"},  # one genuine failure
])
def test_outcomes_of_the_candidate_itself_blame_nothing(tmp_path: Path, files: dict[str, str]) -> None:
    assert blocker(tmp_path, files)[1] == ""


@pytest.mark.parametrize(("module", "blamed"), [("pkg.nowhere", False), ("yaml_nowhere", True)])
def test_a_module_skipped_whole_blames_only_a_missing_third_party_module(
        tmp_path: Path, module: str, blamed: bool) -> None:
    """``pytest.importorskip`` at module level: exit code 5, and the guard's stream records no test at all.
    Skipping for want of the module the fix adds is the candidate's own error2pass; of a third-party one, not."""
    _, log = pytest_graded(tmp_path, {**PKG, "tests/test_feature.py": (
        f"import pytest\n\npytest.importorskip({module!r})\n\n\ndef test_feature():\n    pass\n")})
    assert "collected 0 items / 1 skipped" in log
    why = run_blocker(graded(5, {}, log=log), log, FACTS)
    assert bool(why) is blamed, why
    assert not blamed or "'yaml_nowhere' is not installed" in why


def test_a_conftest_importing_what_the_fix_adds_is_the_candidates_own(tmp_path: Path) -> None:
    run, log = pytest_graded(tmp_path, {**PKG, "tests/conftest.py": "from pkg import helper\n",
                                        "tests/test_feature.py": TEST})
    assert run.exit_code == 4
    assert run_blocker(run, log, FixFacts(added_names=frozenset({"helper"}), own_packages=frozenset({"pkg"}))) == ""
    # marshmallow-1735: the conftest reads an attribute of the package that the fix adds
    run, log = pytest_graded(tmp_path / "attr", {**PKG, "tests/conftest.py": "import pkg\n\nKIND = pkg.IPInterface\n",
                                                 "tests/test_feature.py": TEST})
    facts = FixFacts(added_names=frozenset({"IPInterface"}), own_packages=frozenset({"pkg"}))
    assert "has no attribute 'IPInterface'" in log and run_blocker(run, log, facts) == ""
    assert run_blocker(run, log, FixFacts(own_packages=frozenset({"pkg"}))) != ""  # a name the fix does not add


# ---- the loop: which trial decides, and a broken environment is never a rejection ----------------------

RECIPE = Recipe(python_version="3.11", install_commands=["python -m pip install ."])
MEMORY = Recipe(python_version="3.13", install_commands=["python -m pip install ."])
T = "tests/test_feature.py::test_feature"
FAILED_BEFORE = graded(1, {T: Outcome.FAILED}, {T: "AssertionError: assert 1 == 2"})
PASSED_AFTER = graded(0, {T: Outcome.PASSED})


def trial(source: str, recipe: Recipe, before: list[tuple[RunGrade, str]], after: list[tuple[RunGrade, str]],
          facts: FixFacts = FACTS) -> Trial:
    """The trial a try with these before/after runs gives (what ``Builder.attempt`` returns after Docker)."""
    verdict: Verdict = classify([r for r, _ in before], [r for r, _ in after], facts)
    if verdict.status is Status.REJECTED:
        runs = [("before", r, log) for r, log in before] + [("after", r, log) for r, log in after]
        verdict.environment = environment_evidence(runs, facts)
    return Trial(source, recipe, verdict.status, str(verdict.reason), verdict.detail, verdict=verdict,
                 image="img", after_tests={t: o.value for t, o in after[0][0].tests.items()})


class _Pool:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def record_failure(self, recipe_id: str) -> None:
        self.failures.append(recipe_id)


class _Facts:
    unreachable: list[str] = []

    def recipe(self) -> Recipe:
        return RECIPE


class ScriptedBuilder(Builder):
    """``Builder.run`` as written, with each try's Docker part replaced by the trial scripted for its source."""

    def __init__(self, store: Store, tmp_path: Path, trials: dict[str, Trial]):
        self.ctx = BuildContext(client=None, store=store, settings=Settings(), log_dir=tmp_path, pool=_Pool())
        self.candidate = Candidate(instance_id="o__r-1", repo="o/r", base_commit="a" * 40, fix_commit="b" * 40,
                                   patch="", test_patch="", problem_statement="", source="git:/x",
                                   created_at=datetime(2024, 3, 17, tzinfo=UTC))
        self.facts, self.tried, self.on_validating = _Facts(), set(), None
        repo = GitRepo(tmp_path / "repo")  # a real repository: the newest-Python retry reads its metadata
        repo.commit("init", {"src/pkg/__init__.py": ""})
        self.snapshot = snapshot_of(repo, tmp_path)
        self.trials, self.order, self.remembered = trials, [], []

    def memory_recipes(self) -> list[tuple[Recipe, str]]:
        return [(MEMORY, "mem-1")] if "memory" in self.trials else []

    def attempt(self, recipe: Recipe, source: str) -> Trial | None:
        self.order.append(source)
        return self.trials[source]

    def remember(self, trial: Trial) -> None:
        self.remembered.append(trial.source)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "f.duckdb") as s:
        yield s


def test_a_memory_verdict_that_is_not_valid_still_tries_the_heuristic_recipe(store: Store, tmp_path: Path) -> None:
    """Cause 6: the memory recipe (proven on another commit) leaves the target test FAILED after the fix —
    no environment blame — yet the heuristic recipe validates the candidate: valid wins."""
    failed_after = graded(1, {T: Outcome.FAILED}, {T: "AssertionError: assert 3 == 2"})
    memory = trial("memory", MEMORY, [(FAILED_BEFORE, "")], [(failed_after, "")])
    assert (memory.reason, memory.blames_environment()) == (Rejection.FAIL2FAIL, False)
    heuristic = trial("heuristic", RECIPE, [(FAILED_BEFORE, "")], [(PASSED_AFTER, "")])
    builder = ScriptedBuilder(store, tmp_path, {"memory": memory, "heuristic": heuristic})
    final = builder.run()
    assert builder.order == ["memory", "heuristic"]
    assert (final.status, final.source, builder.remembered) == (Status.VALID, "heuristic", ["heuristic"])
    valid_memory = trial("memory", MEMORY, [(FAILED_BEFORE, "")], [(PASSED_AFTER, "")])
    builder = ScriptedBuilder(store, tmp_path, {"memory": valid_memory, "heuristic": heuristic})
    assert builder.run().source == "memory" and builder.order == ["memory"]  # a valid memory verdict is final


def test_without_a_valid_trial_the_heuristic_verdict_is_final(store: Store, tmp_path: Path) -> None:
    memory = trial("memory", MEMORY, [(FAILED_BEFORE, "")], [(graded(1, {T: Outcome.FAILED}), "")])
    heuristic = trial("heuristic", RECIPE, [(PASSED_AFTER, "")], [(PASSED_AFTER, "")])
    final = ScriptedBuilder(store, tmp_path, {"memory": memory, "heuristic": heuristic}).run()
    assert (final.status, final.reason, final.source) == (Status.REJECTED, Rejection.PASS2PASS, "heuristic")


def test_a_rejection_without_what_the_test_config_installs_from_urls_is_env_incomplete(
        store: Store, tmp_path: Path) -> None:
    """pallets/flask 2021: tox installs werkzeug's master archive from GitHub; without it the target tests
    fail after the fix too. That fail2fail is the missing dependency's, never a rejection."""
    failed_after = graded(1, {T: Outcome.FAILED}, {T: "TypeError: argument of type 'BaseRequest' is not iterable"})
    heuristic = trial("heuristic", RECIPE, [(FAILED_BEFORE, "")], [(failed_after, "")])
    builder = ScriptedBuilder(store, tmp_path, {"heuristic": heuristic})
    builder.facts.unreachable = ["https://github.com/pallets/werkzeug/archive/master.tar.gz"]
    final = builder.run()
    assert (final.status, final.reason) == (Status.BUILD_FAILED, BuildFailure.ENV_INCOMPLETE)
    assert "werkzeug/archive/master.tar.gz" in final.detail and "rejected(fail2fail)" in final.detail
    patch_failed = trial("heuristic", RECIPE, [(graded(1, patch_failed="test_patch"), "")],
                         [(graded(1, patch_failed="test_patch"), "")])
    builder = ScriptedBuilder(store, tmp_path, {"heuristic": patch_failed})
    builder.facts.unreachable = ["https://example.org/x.tar.gz"]
    assert builder.run().reason == Rejection.TEST_PATCH_FAILED  # the candidate's own, whatever the environment


def test_a_suite_that_cannot_start_before_and_after_ends_build_failed_not_rejected(
        store: Store, tmp_path: Path) -> None:
    """Cause 2: ``ImportError while loading conftest … No module named 'simplejson'`` before and after the gold
    patch gave rejected(no_tests_ran); after every recipe it is build_failed(env_broken), quoting the evidence."""
    runs = [pytest_graded(tmp_path / p, {**PKG, "tests/conftest.py": "import simplejson_nowhere\n",
                                         "tests/test_feature.py": TEST})
            for p in ("before", "after")]
    heuristic = trial("heuristic", RECIPE, [runs[0]], [runs[1]])
    assert heuristic.verdict.reason == Rejection.NO_TESTS_RAN and heuristic.blames_environment()
    builder = ScriptedBuilder(store, tmp_path, {"heuristic": heuristic})
    final = builder.run()
    assert (final.status, final.reason) == (Status.BUILD_FAILED, BuildFailure.ENV_BROKEN)
    assert "before the gold patch: conftest" in final.detail and "simplejson_nowhere" in final.detail
    assert "rejected(no_tests_ran)" in final.detail
    assert [a.outcome for a in store.attempts("o__r-1")][-1] == "env_broken"
    # Every target test skipped before the fix (importorskip of what it adds) is the candidate's own error2pass.
    skipped = trial("heuristic", RECIPE, [(graded(0, {T: Outcome.SKIPPED}), "")], [(PASSED_AFTER, "")])
    final = ScriptedBuilder(store, tmp_path, {"heuristic": skipped}).run()
    assert (final.status, final.reason) == (Status.REJECTED, Rejection.ERROR2PASS)


def test_an_after_run_failing_on_a_missing_third_party_module_is_not_fail2fail(
        store: Store, tmp_path: Path) -> None:
    """The heuristic environment lacks a module the fixed code imports: rejected(pass2fail) would rest on it."""
    missing = graded(1, {T: Outcome.FAILED}, {T: "E   ModuleNotFoundError: No module named 'simplejson'"})
    heuristic = trial("heuristic", RECIPE, [(PASSED_AFTER, "")], [(missing, "")], fix_facts("", ""))
    assert heuristic.verdict.reason == Rejection.PASS2FAIL and heuristic.blames_environment()
    final = ScriptedBuilder(store, tmp_path, {"heuristic": heuristic}).run()
    assert (final.status, final.reason) == (Status.BUILD_FAILED, BuildFailure.ENV_BROKEN)
    assert "after the gold patch: every failing target test" in final.detail, final.detail
