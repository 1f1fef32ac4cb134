"""Grading one eval-script run (factory.grading.verdict, factory.grading.junit): the verdict from the results
folder, JUnit parsing into node ids, and the JUnit cross-check.

The JUnit reports are real: pytest runs on a throw-away package, with the same JUnit flags the eval
script uses. Graded runs are made through the product's own grading (``tests/grades.py``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from factory.core.models import TestOutcome as Outcome
from factory.grading.junit import parse_junit
from factory.grading.verdict import grade_files
from tests.grades import graded, results_folder

# ---- JUnit parsing on a real pytest report --------------------------------------------------------

TEST_X = textwrap.dedent(
    """\
    import pytest


    def test_pass():
        pass


    def test_fail():
        assert 1 == 2


    @pytest.fixture
    def broken():
        raise RuntimeError("fixture boom")


    def test_fixture_error(broken):
        pass


    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass


    class TestC:
        def test_m(self):
            pass

        def test_n(self):
            assert False


    @pytest.mark.parametrize("n", [1, 2])
    def test_p(n):
        assert n == 1
    """
)


def run_pytest_junit(root: Path, *args: str) -> tuple[int, str]:
    junit = root / "junit.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit}",
            *args,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert junit.exists(), proc.stdout + proc.stderr
    return proc.returncode, junit.read_text()


@pytest.fixture(scope="module")
def junit_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    root = tmp_path_factory.mktemp("junit")
    (root / "tests").mkdir()
    (root / "tests" / "test_x.py").write_text(TEST_X)
    (root / "tests" / "test_broken.py").write_text(
        "import factory_no_such_module_xyz\n\n\ndef test_never():\n    pass\n"
    )
    return run_pytest_junit(root, "--continue-on-collection-errors", "tests")


def test_parse_junit_outcomes_and_ids(junit_report: tuple[int, str]) -> None:
    code, xml = junit_report
    assert code == 1
    assert parse_junit(xml) == {
        "tests/test_x.py::test_pass": Outcome.PASSED,
        "tests/test_x.py::test_fail": Outcome.FAILED,
        "tests/test_x.py::test_fixture_error": Outcome.ERROR,
        "tests/test_x.py::test_skipped": Outcome.SKIPPED,
        "tests/test_x.py::TestC::test_m": Outcome.PASSED,
        "tests/test_x.py::TestC::test_n": Outcome.FAILED,
        "tests/test_x.py::test_p[1]": Outcome.PASSED,
        "tests/test_x.py::test_p[2]": Outcome.FAILED,
        # A module that cannot be imported is one erroring entry named by its file.
        "tests/test_broken.py": Outcome.ERROR,
    }


def test_collection_error_interrupting_the_session(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    pass\n")
    (tmp_path / "tests" / "test_broken.py").write_text("from factory_no_such_module_xyz import f\n")
    code, xml = run_pytest_junit(tmp_path, "tests")
    assert code == 2
    assert parse_junit(xml) == {"tests/test_broken.py": Outcome.ERROR}


def test_teardown_error_after_a_passing_call_counts_as_error(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_td.py").write_text(
        textwrap.dedent(
            """\
            import pytest


            @pytest.fixture
            def res():
                yield 1
                raise RuntimeError("teardown boom")


            def test_uses_res(res):
                assert res == 1
            """
        )
    )
    _, xml = run_pytest_junit(tmp_path, "tests")
    assert parse_junit(xml) == {"tests/test_td.py::test_uses_res": Outcome.ERROR}


def test_parse_junit_handcrafted_duplicate_keeps_the_worse_outcome() -> None:
    xml = (
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_z" file="tests/test_a.py">'
        '<error message="x"/></testcase>'
        '<testcase classname="tests.test_a" name="test_z" file="tests/test_a.py"/>'
        "</testsuite></testsuites>"
    )
    assert parse_junit(xml) == {"tests/test_a.py::test_z": Outcome.ERROR}


@pytest.mark.parametrize("text", ["", "not xml at all", "<testsuite><testcase></testsuite>"])
def test_parse_junit_rejects_invalid_xml(text: str) -> None:
    with pytest.raises(ValueError):
        parse_junit(text)


# ---- verdicts from the results folder ---------------------------------------------------------------


def junit(*cases: tuple[str, str]) -> str:
    """A minimal xunit1 report: ``(name, outcome)`` pairs in ``tests/test_a.py``."""
    body = {
        "passed": "",
        "failed": "<failure message='x'/>",
        "error": "<error message='x'/>",
        "skipped": "<skipped message='x'/>",
    }
    rows = "".join(
        f'<testcase classname="tests.test_a" name="{name}" file="tests/test_a.py">{body[outcome]}</testcase>'
        for name, outcome in cases
    )
    return f'<?xml version="1.0"?><testsuites><testsuite name="pytest">{rows}</testsuite></testsuites>'


def test_exit_zero_and_all_pass_is_a_pass() -> None:
    grade = graded(0, parse_junit(junit(("test_a", "passed"), ("test_b", "skipped"))))
    assert grade.verdict == "pass"
    assert grade.exit_code == 0
    assert grade.infra_error == "" and grade.patch_error == ""
    assert grade.tests == {
        "tests/test_a.py::test_a": Outcome.PASSED,
        "tests/test_a.py::test_b": Outcome.SKIPPED,
    }


@pytest.mark.parametrize("bad", ["failed", "error"])
def test_exit_zero_contradicted_by_a_failing_test_is_a_fail(bad: str) -> None:
    grade = graded(0, parse_junit(junit(("test_a", "passed"), ("test_b", bad))),
                   log="PASSED tests/test_a.py::test_b\n")
    assert grade.verdict == "fail"
    assert grade.exit_code == 0
    assert "tests/test_a.py::test_b" in grade.note


@pytest.mark.parametrize("report", [junit(), junit(("test_a", "skipped"))])
def test_exit_zero_without_any_test_run_is_a_fail(report: str) -> None:
    grade = graded(0, parse_junit(report))
    assert grade.verdict == "fail"
    assert grade.infra_error == ""
    assert "no target test ran" in grade.note


@pytest.mark.parametrize("code", [1, 2, 4, 5])
def test_nonzero_exit_is_a_fail(code: int) -> None:
    grade = graded(code, parse_junit(junit(("test_a", "passed"))))
    assert grade.verdict == "fail"
    assert grade.exit_code == code
    assert grade.infra_error == ""


def test_timeout_is_an_infra_error() -> None:
    grade = graded(0, parse_junit(junit(("test_a", "passed"))), timed_out=True)
    assert (grade.verdict, grade.infra_error) == ("error", "timeout")


def test_oom_is_an_infra_error() -> None:
    grade = graded(None, oom=True, log="Killed\n")
    assert (grade.verdict, grade.infra_error) == ("error", "oom")


def test_no_exit_code_in_the_status_is_an_infra_error_whatever_the_log_says() -> None:
    grade = graded(None, parse_junit(junit(("test_a", "passed"))), log="FACTORY_EXIT_CODE=0\n1 passed\n")
    assert (grade.verdict, grade.infra_error) == ("error", "marker_missing")
    assert grade.exit_code is None


@pytest.mark.parametrize("which", ["test_patch", "gold_patch"])
def test_patch_failure_is_a_fail_with_patch_error(which: str) -> None:
    grade = graded(1, patch_failed=which, log="error: patch does not apply\n")
    assert grade.verdict == "fail"
    assert grade.patch_error == which
    assert grade.infra_error == ""


@pytest.mark.parametrize("report", ["", "garbage that is not xml", "<testsuite><testcase></testsuite>"])
def test_an_unreadable_junit_report_never_grades_a_pass(report: str) -> None:
    """The per-test results say all passed, but the JUnit report pytest wrote beside them is unreadable:
    one of the two was rewritten, so the run is not a pass (an empty file is no report)."""
    tests = {"tests/test_a.py::test_a": Outcome.PASSED}
    grade = grade_files("", {**results_folder(0, tests), "/run/factory/junit.xml": report.encode()})
    if report:
        assert grade.verdict == "fail" and "JUnit report is unreadable" in grade.tampered
    else:
        assert grade.verdict == "pass"


# ---- JUnit ids are the node ids pytest itself prints ----------------------------------------------

NODE_ID_TREE = {
    "tests/__init__.py": "",
    "tests/unit/__init__.py": "",
    "tests/base.py": """\
        class Base:
            def test_shared(self):
                pass

            def test_shared_fail(self):
                assert False
        """,
    "tests/shared.py": "def test_imported():\n    pass\n",
    "tests/test_a.py": """\
        from tests.base import Base
        from tests.shared import test_imported  # noqa: F401


        class TestA(Base):
            def test_own(self):
                pass
        """,
    "tests/test_b.py": "from tests.base import Base\n\n\nclass TestB(Base):\n    pass\n",
    # The base class lives in a test module whose dotted path is a string prefix of this one's.
    "tests/test_m.py": "class TestM:\n    def test_inh(self):\n        pass\n",
    "tests/test_m_sub.py": "import tests.test_m as base\n\n\nclass TestMSub(base.TestM):\n    pass\n",
    "tests/unit/helpers_test.py": "from tests.base import Base\n\n\nclass TestH(Base):\n    pass\n",
    "tests/unit/test_x.py": """\
        import pytest


        class TestFoo:
            class TestInner:
                def test_deep(self):
                    pass

            @pytest.mark.parametrize("v", ["a b", "x[1]", "p::q", "a.b", "[", "]", "tests.test_a"])
            def test_param(self, v):
                pass


        def test_mod():
            pass
        """,
    "tests/unit/test_broken.py": "import factory_no_such_module_xyz\n",
    "tests/test_pkg/test_y.py": "def test_y():\n    pass\n",  # a folder that looks like a test module
}


def pytest_in(root: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=root,
                          capture_output=True, text=True, timeout=120, check=False)
    return proc.stdout + proc.stderr


def node_ids(root: Path, *args: str) -> set[str]:
    """The node ids ``pytest --collect-only -q`` prints, with each module that failed to collect."""
    out = pytest_in(root, "--collect-only", "-q", "--continue-on-collection-errors", *args)
    ids = {line for line in out.splitlines() if "::" in line and not line.startswith(("ERROR", "E "))}
    ids |= {line.split()[1] for line in out.splitlines() if line.startswith("ERROR ")}
    return ids


def junit_ids(root: Path, family: str, *args: str) -> dict[str, Outcome]:
    junit = root / f"junit-{family}.xml"
    pytest_in(root, "-o", f"junit_family={family}", f"--junitxml={junit}", "--continue-on-collection-errors", *args)
    return parse_junit(junit.read_text())


@pytest.fixture(scope="module")
def node_id_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("nodeids")
    for name, text in NODE_ID_TREE.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    return root


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_ids_are_the_node_ids_pytest_collects(node_id_tree: Path, family: str) -> None:
    expected = node_ids(node_id_tree, "tests")
    assert {"tests/test_a.py::TestA::test_shared", "tests/test_b.py::TestB::test_shared",
            "tests/unit/helpers_test.py::TestH::test_shared", "tests/test_m_sub.py::TestMSub::test_inh",
            "tests/test_a.py::test_imported", "tests/unit/test_x.py::TestFoo::test_param[p::q]",
            "tests/unit/test_broken.py"} <= expected  # the tree is what this test is about
    results = junit_ids(node_id_tree, family, "tests")
    assert set(results) == expected
    # Each subclass's inherited test is its own entry: a failure in one does not hide the others.
    for cls in ("tests/test_a.py::TestA", "tests/test_b.py::TestB", "tests/unit/helpers_test.py::TestH"):
        assert results[f"{cls}::test_shared"] is Outcome.PASSED
        assert results[f"{cls}::test_shared_fail"] is Outcome.FAILED
    assert results["tests/unit/test_broken.py"] is Outcome.ERROR


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_junit_ids_of_a_module_outside_the_default_test_file_names(node_id_tree: Path, family: str) -> None:
    (node_id_tree / "tests" / "check_z.py").write_text(
        "from tests.base import Base\n\n\nclass TestZ(Base):\n    pass\n\n\ndef test_z():\n    pass\n")
    args = ("-o", "python_files=check_*.py", "tests/check_z.py")
    expected = node_ids(node_id_tree, *args)
    assert expected == {"tests/check_z.py::TestZ::test_shared", "tests/check_z.py::TestZ::test_shared_fail",
                        "tests/check_z.py::test_z"}
    assert set(junit_ids(node_id_tree, family, *args)) == expected


def test_xunit2_ids_do_not_take_a_tests_folder_for_the_test_module() -> None:
    xml = ('<testsuites><testsuite name="pytest">'
           '<testcase classname="tests.unit.test_x.TestFoo" name="test_a"/>'
           '<testcase classname="tests.unit.test_x" name="test_b"/>'
           '<testcase classname="" name="tests.unit.test_broken"><error message="x"/></testcase>'
           "</testsuite></testsuites>")
    assert parse_junit(xml) == {"tests/unit/test_x.py::TestFoo::test_a": Outcome.PASSED,
                                "tests/unit/test_x.py::test_b": Outcome.PASSED,
                                "tests/unit/test_broken.py": Outcome.ERROR}


# ---- an unreadable JUnit report is always said -------------------------------------------------------
