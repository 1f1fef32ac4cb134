"""Which interpreter a candidate is validated on (agents/builder/interpreter.py and explorer.choose_python's
``released_before``): a Python released by the base commit's date, and a retry on the newest allowed one when a
first verdict proves nothing (skipped targets, a version-conditional fix)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from agents.builder import interpreter
from agents.builder.explorer import choose_python, explore
from agents.builder.loop import Builder, Trial
from factory.core.models import Candidate, Rejection, Status
from factory.core.recipe import Recipe
from tests.unit.test_builder_roles import snapshot_of

ALL = ("3.9", "3.11", "3.13")


def cand(patch: str = "", test_patch: str = "") -> Candidate:
    return Candidate(instance_id="o__r-1", repo="o/r", base_commit="a" * 40, fix_commit="b" * 40, patch=patch,
                     test_patch=test_patch, problem_statement="", created_at=datetime(2024, 3, 17, tzinfo=UTC),
                     source="git:/x")


def diff(path: str, *lines: str) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1,0 +1,{len(lines)} @@\n{body}"


# ---- cause 5: the interpreter was released by the base commit's date ------------------------------------------


def test_a_2021_commit_gets_no_python_released_after_it() -> None:
    # Before: 3.11 (the default) for a 2021 commit, whose 2021 pytest breaks on 3.11.
    version, why = choose_python(">=3.6", set(), "3.11", ALL, released_before=date(2021, 6, 17))
    assert version == "3.9" and "2021-06-17" in why


def test_the_newest_declared_python_released_by_then_wins() -> None:
    declared = {"3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}
    assert choose_python(">=3.8", declared, "3.11", ALL, released_before=date(2025, 3, 1))[0] == "3.13"
    version, why = choose_python(">=3.8", declared, "3.11", ALL, released_before=date(2023, 5, 1))
    assert version == "3.11" and why.startswith("newest declared Python released by the base commit")


def test_without_a_python_released_by_then_the_oldest_allowed_one_is_chosen() -> None:
    version, why = choose_python(None, {"3.6", "3.7"}, "3.11", ALL, released_before=date(2019, 2, 1))
    assert version == "3.9" and "no allowed Python was released by the base commit" in why
    # requires-python still decides: >=3.10 on a 2019 commit is the oldest it allows.
    assert choose_python(">=3.10", set(), "3.11", ALL, released_before=date(2019, 2, 1))[0] == "3.11"


def test_without_a_date_the_choice_is_unchanged() -> None:
    assert choose_python(">=3.6", set(), "3.11", ALL) == choose_python(">=3.6", set(), "3.11", ALL, None)
    assert choose_python(">=3.6", set(), "3.11", ALL)[0] == "3.11"


def test_dated_facts_read_the_commit_and_pick_an_interpreter_of_its_time(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    repo.commit("init", {"src/pkg/__init__.py": "", "setup.py": "from setuptools import setup\n"
                         "setup(name='pkg', python_requires='>=3.6',\n"
                         "      classifiers=['Programming Language :: Python :: 3.8',\n"
                         "                   'Programming Language :: Python :: 3.9'])\n"})
    snapshot = snapshot_of(repo, tmp_path)
    facts = explore(snapshot, "3.11")
    early = interpreter.dated_facts(facts, snapshot, datetime(2019, 12, 1, tzinfo=UTC), "3.11")
    assert early.python_version == "3.9" and "2019-12-01" in early.python_reason
    later = interpreter.dated_facts(facts, snapshot, datetime(2021, 6, 1, tzinfo=UTC), "3.11")
    assert later.python_version == "3.9" and later.python_reason.startswith("newest declared")
    assert interpreter.dated_facts(facts, snapshot, datetime(2019, 12, 1, tzinfo=UTC), "3.11", False) is facts
    assert interpreter.newest_python(snapshot) == "3.13"


# ---- cause 3: a verdict that proves nothing on this interpreter is tried on the newest -------------------------


def test_version_conditional_patches_are_recognised() -> None:
    assert interpreter.version_sensitive(cand(diff("src/p.py", "if sys.version_info >= (3, 10):", "    x = 1")))
    assert interpreter.version_sensitive(cand(diff("src/p.py", "if PY310:")))
    assert interpreter.version_sensitive(cand(test_patch=diff(
        "tests/test_p.py", '@pytest.mark.skipif(sys.version_info < (3, 13), reason="requires Python 3.13+")')))
    assert interpreter.version_sensitive(cand(diff("setup.cfg", "    typing_extensions; python_version < '3.10'")))
    assert interpreter.version_sensitive(cand(diff(".github/workflows/ci.yml", '        python-version: ["3.12"]')))
    assert not interpreter.version_sensitive(cand(diff("src/p.py", "def f():", "    return 3.10")))
    assert not interpreter.version_sensitive(cand(diff("docs/ci.md", "python-version: 3.12")))


def test_retry_only_when_the_verdict_proves_nothing_on_an_older_python() -> None:
    plain, conditional = cand(diff("src/p.py", "x = 1")), cand(diff("src/p.py", "if sys.version_info >= (3, 10):"))
    p2p, ntr = Rejection.PASS2PASS.value, Rejection.NO_TESTS_RAN.value
    assert interpreter.retry_python(Status.REJECTED, p2p, {"t": "passed"}, "3.9", conditional, "3.13") == "3.13"
    assert interpreter.retry_python(Status.REJECTED, ntr, {"t": "skipped"}, "3.11", plain, "3.13") == "3.13"
    assert interpreter.retry_python(Status.REJECTED, p2p, {"t": "skipped", "u": "passed"}, "3.9", plain,
                                    "3.13") == "3.13"
    assert interpreter.retry_python(Status.REJECTED, p2p, {"t": "passed"}, "3.9", plain, "3.13") is None
    assert interpreter.retry_python(Status.REJECTED, p2p, {"t": "skipped"}, "3.13", plain, "3.13") is None
    assert interpreter.retry_python(Status.VALID, "", {"t": "passed"}, "3.9", conditional, "3.13") is None
    assert interpreter.retry_python(Status.REJECTED, "flaky", {"t": "skipped"}, "3.9", conditional, "3.13") is None


class _Tries(Builder):
    """The loop's retry step with the build and validation (Docker) replaced by scripted outcomes."""

    def __init__(self, snapshot, candidate: Candidate, outcomes: dict[str, Trial]):
        self.snapshot, self.candidate, self.outcomes, self.tried_pythons = snapshot, candidate, outcomes, []

    def attempt(self, recipe: Recipe, source: str, python_reason: str = "") -> Trial | None:
        self.tried_pythons.append((recipe.python_version, source, python_reason))
        return self.outcomes[recipe.python_version]


def test_the_builder_retries_a_version_conditional_pass2pass_on_the_newest_python(make_repo, tmp_path: Path) -> None:
    repo = make_repo()
    repo.commit("init", {"src/pkg/__init__.py": "", "pyproject.toml": "[project]\nname='pkg'\nversion='1'\n"
                                                                       "requires-python='>=3.9'\n"})
    snapshot = snapshot_of(repo, tmp_path)
    candidate = cand(diff("src/pkg/__init__.py", "if sys.version_info >= (3, 10):", "    NEW = 1"))
    recipe = Recipe(python_version="3.9", install_commands=["python -m pip install ."])
    first = Trial("heuristic", recipe, Status.REJECTED, Rejection.PASS2PASS.value, "already pass",
                  after_tests={"t::a": "passed"})
    valid = Trial("heuristic", recipe.model_copy(update={"python_version": "3.13"}), Status.VALID, "", "1 f2p")
    builder = _Tries(snapshot, candidate, {"3.13": valid})
    assert builder.retry_on_newest_python(first) is valid
    [(python, source, why)] = builder.tried_pythons
    assert (python, source) == ("3.13", "heuristic") and "pass2pass on Python 3.9" in why
    # The newer interpreter cannot build the old dependencies: the first verdict stands, saying so.
    broken = Trial("heuristic", valid.recipe, Status.BUILD_FAILED, "env_build", "no wheel for 3.13")
    kept = _Tries(snapshot, candidate, {"3.13": broken}).retry_on_newest_python(first)
    assert kept is first and kept.reason == Rejection.PASS2PASS and "which failed: env_build" in kept.detail
    # Nothing version-conditional, nothing skipped: no retry.
    quiet = _Tries(snapshot, cand(diff("src/pkg/__init__.py", "NEW = 1")), {})
    assert quiet.retry_on_newest_python(first) is first and quiet.tried_pythons == []
