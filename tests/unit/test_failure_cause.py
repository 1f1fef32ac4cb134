"""The error2pass rule (factory.grading.failure_cause + classify) on failure texts real pytest runs wrote.

Each case builds a tiny project, runs pytest with the eval script's JUnit options on the before state,
and classifies the run against a gold patch that makes the after state pass (outcomes and failure texts from
the JUnit report pytest wrote, graded through the product's results-folder grading: ``tests/grades.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.core.models import Rejection, Status
from factory.core.models import TestOutcome as Outcome
from factory.grading.classify import classify
from factory.grading.failure_cause import Cause, FixFacts, cause, fix_facts
from factory.grading.verdict import RunGrade
from tests.grades import pytest_graded


def pytest_run(root: Path, files: dict[str, str], pythonpath: str = "src") -> RunGrade:
    """Write ``files`` under ``root``, run pytest on the test files like the eval script does, grade it."""
    return pytest_graded(root, files, pythonpath)[0]


AFTER = RunGrade("pass", 0, {"tests/test_feature.py::test_feature": Outcome.PASSED})


def diff(path: str, added: str, new: bool = True) -> str:
    head = "new file mode 100644\n--- /dev/null\n" if new else f"--- a/{path}\n"
    body = "".join(f"+{line}\n" for line in added.splitlines())
    return f"diff --git a/{path} b/{path}\n{head}+++ b/{path}\n@@ -0,0 +1 @@\n{body}"


TEST_PATCH = diff("tests/test_feature.py", "from pkg import feature\n")


def test_import_error_of_a_name_the_fix_adds_is_genuine(tmp_path: Path) -> None:
    before = pytest_run(tmp_path, {
        "src/pkg/__init__.py": "def other():\n    return 1\n",
        "tests/test_feature.py": "from pkg import feature\n\n\ndef test_feature():\n    assert feature() == 2\n",
    })
    assert before.tests == {"tests/test_feature.py": Outcome.ERROR}
    gold = diff("src/pkg/__init__.py", "def feature():\n    return 2\n", new=False)
    facts = fix_facts(gold, TEST_PATCH)
    assert "feature" in facts.added_names and "pkg" in facts.own_packages
    verdict = classify([before], [AFTER, AFTER], facts)
    assert verdict.status is Status.VALID, verdict
    assert verdict.fail_to_pass == ["tests/test_feature.py::test_feature"]


def test_a_missing_third_party_module_is_error2pass(tmp_path: Path) -> None:
    before = pytest_run(tmp_path, {
        "src/pkg/__init__.py": "import yaml_not_installed_anywhere\n\n\ndef feature():\n    return 2\n",
        "tests/test_feature.py": "from pkg import feature\n\n\ndef test_feature():\n    assert feature() == 2\n",
    })
    assert before.verdict == "fail" and before.tests == {"tests/test_feature.py": Outcome.ERROR}
    gold = diff("src/pkg/__init__.py", "try:\n    import yaml_not_installed_anywhere\nexcept ImportError:\n    pass\n",
                new=False)
    verdict = classify([before], [AFTER, AFTER], fix_facts(gold, TEST_PATCH))
    assert (verdict.status, verdict.reason) == (Status.REJECTED, Rejection.ERROR2PASS)
    assert "yaml_not_installed_anywhere" in verdict.detail and "third-party" in verdict.detail


def test_a_syntax_error_in_the_test_patch_is_error2pass(tmp_path: Path) -> None:
    before = pytest_run(tmp_path, {
        "src/pkg/__init__.py": "def feature():\n    return 1\n",
        "tests/test_feature.py": "from pkg import feature\n\ndef test_feature(:\n    assert feature() == 2\n",
    })
    facts = fix_facts(diff("src/pkg/__init__.py", "def feature():\n    return 2\n", new=False), TEST_PATCH)
    why, quote = cause(before.failures["tests/test_feature.py"], facts)
    assert why is Cause.TEST_PATCH_SYNTAX, before.failures
    assert "tests/test_feature.py" in quote
    verdict = classify([before], [AFTER, AFTER], facts)
    assert verdict.reason == Rejection.ERROR2PASS


def test_an_assertion_failure_is_genuine(tmp_path: Path) -> None:
    before = pytest_run(tmp_path, {
        "src/pkg/__init__.py": "def feature():\n    return 1\n",
        "tests/test_feature.py": "from pkg import feature\n\n\ndef test_feature():\n    assert feature() == 2\n",
    })
    assert before.tests == {"tests/test_feature.py::test_feature": Outcome.FAILED}
    facts = fix_facts(diff("src/pkg/__init__.py", "def feature():\n    return 2\n", new=False), TEST_PATCH)
    assert cause(before.failures["tests/test_feature.py::test_feature"], facts) == (Cause.GENUINE, "")
    assert classify([before], [AFTER, AFTER], facts).status is Status.VALID


def test_no_target_test_ran_is_error2pass_and_says_so() -> None:
    not_found = RunGrade("fail", 127, {}, note="exit code 127; 0 failing test(s)")
    verdict = classify([not_found], [AFTER, AFTER])
    assert verdict.reason == Rejection.ERROR2PASS
    assert "command was not found" in verdict.detail
    verdict = classify([RunGrade("fail", 5, {}, note="exit code 5")], [AFTER, AFTER])
    assert verdict.reason == Rejection.ERROR2PASS and "no target test ran" in verdict.detail


@pytest.mark.parametrize(("text", "expected"), [
    ("ModuleNotFoundError: No module named 'pkg.newmod'", Cause.GENUINE),          # the repo's own package
    ("ModuleNotFoundError: No module named 'requests'", Cause.MISSING_MODULE),
    ("ImportError: cannot import name 'feature' from 'pkg' (/testbed/src/pkg/__init__.py)", Cause.GENUINE),
    ("ImportError: cannot import name 'Thing' from 'attr' (/usr/lib/attr/__init__.py)", Cause.THIRD_PARTY_IMPORT),
    ("ImportError: cannot import name 'helper' from 'attr'", Cause.GENUINE),     # the fix adds 'helper'
    ('  File "/testbed/src/pkg/core.py", line 3\n    def f(:\n         ^\nSyntaxError: invalid syntax', Cause.GENUINE),
    ("AttributeError: module 'pkg' has no attribute 'feature'", Cause.GENUINE),
    ("", Cause.GENUINE),
])
def test_cause_rules(text: str, expected: Cause) -> None:
    facts = FixFacts(added_names=frozenset({"helper"}), own_packages=frozenset({"pkg", "tests"}),
                     test_files=frozenset({"tests/test_feature.py"}))
    assert cause(text, facts)[0] is expected


def test_fix_facts_reads_definitions_imports_and_packages() -> None:
    gold = (diff("src/pkg/new.py", "class Widget:\n    pass\nLIMIT = 3\n")
            + diff("src/pkg/__init__.py", "from pkg.new import Widget as Gadget, LIMIT\n", new=False))
    facts = fix_facts(gold, TEST_PATCH)
    assert {"Widget", "LIMIT", "Gadget"} <= facts.added_names
    assert facts.own_packages == {"src", "pkg", "tests"}
    assert facts.test_files == {"tests/test_feature.py"}


def test_a_test_that_did_not_run_before_is_not_fail_to_pass() -> None:
    """Only tests that failed genuinely (or whose file failed to collect genuinely) become FAIL_TO_PASS."""
    before = RunGrade("fail", 1, {"tests/test_a.py::test_x": Outcome.FAILED})
    after = RunGrade("pass", 0, {"tests/test_a.py::test_x": Outcome.PASSED, "tests/test_b.py::test_y": Outcome.PASSED})
    verdict = classify([before], [after, after])
    assert verdict.fail_to_pass == ["tests/test_a.py::test_x"]
    assert verdict.pass_to_pass == []


def test_a_module_the_fix_adds_in_a_python_dir_layout_is_genuine(tmp_path: Path) -> None:
    """``python/mypkg/new.py``: the import root is ``python/``, not ``src/``; the module the fix adds is the
    repository's own, so its ModuleNotFoundError before the fix is a genuine failure (not error2pass)."""
    test = "from mypkg.new import feature\n\n\ndef test_feature():\n    assert feature() == 2\n"
    before = pytest_run(tmp_path, {"python/mypkg/__init__.py": "", "tests/test_feature.py": test}, "python")
    assert before.tests == {"tests/test_feature.py": Outcome.ERROR}
    assert "No module named 'mypkg.new'" in before.failures["tests/test_feature.py"]
    gold = diff("python/mypkg/new.py", "def feature():\n    return 2\n")
    facts = fix_facts(gold, diff("tests/test_feature.py", test))
    assert {"python", "mypkg"} <= facts.own_packages
    assert cause(before.failures["tests/test_feature.py"], facts)[0] is Cause.GENUINE
    verdict = classify([before], [AFTER, AFTER], facts)
    assert verdict.status is Status.VALID, verdict


@pytest.mark.parametrize(("paths", "own", "foreign"), [
    (["python/mypkg/new.py"], {"python", "mypkg"}, {"new"}),
    (["python/mypkg/__init__.py"], {"python", "mypkg"}, set()),
    (["single.py", "docs/conf.rst"], {"single"}, {"docs", "conf"}),
    (["mypkg/yaml.py"], {"mypkg"}, {"yaml"}),   # a wrapper module named like a third-party one
])
def test_own_top_level_names_come_from_every_path_suffix(paths, own, foreign) -> None:
    facts = fix_facts("".join(diff(p, "x = 1\n") for p in paths), "")
    assert own <= facts.own_packages and not foreign & facts.own_packages
    missing = cause("ModuleNotFoundError: No module named 'yaml'", facts)[0]
    assert missing is Cause.MISSING_MODULE
