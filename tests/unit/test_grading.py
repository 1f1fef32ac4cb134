"""Grading one eval-script run (factory.grading): exit-code marker, JUnit parsing, and the cross-check.

The JUnit reports are real: pytest runs on a throw-away package, with the same JUnit flags the eval
script uses.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from factory.grading import grade_run, last_exit_code, parse_junit, patch_failure
from factory.models import TestOutcome as Outcome

# ---- exit-code marker -----------------------------------------------------------------------------


def test_last_marker_wins() -> None:
    log = "FACTORY_EXIT_CODE=0\nsome output\nFACTORY_EXIT_CODE=1\ntrailing\n"
    assert last_exit_code(log) == 1


def test_marker_printed_by_a_test_before_the_real_one_does_not_decide() -> None:
    log = "collected 1 item\nFACTORY_EXIT_CODE=0\nFAILED tests/test_x.py::test_a\nFACTORY_EXIT_CODE=1\n"
    assert last_exit_code(log) == 1


@pytest.mark.parametrize(
    "log",
    [
        "+ echo FACTORY_EXIT_CODE=0\n",
        "+ echo 'FACTORY_EXIT_CODE=0'\n",
        "print: FACTORY_EXIT_CODE=0\n",
        "FACTORY_EXIT_CODE=0 and more\n",
        "FACTORY_EXIT_CODE=\n",
        "FACTORY_EXIT_CODE=abc\n",
        "XFACTORY_EXIT_CODE=0\n",
    ],
)
def test_marker_must_be_a_whole_line(log: str) -> None:
    assert last_exit_code(log) is None


def test_trace_lines_do_not_count_but_the_real_marker_does() -> None:
    log = "+ rc=1\n+ echo FACTORY_EXIT_CODE=1\nFACTORY_EXIT_CODE=1\n+ echo FACTORY_EXIT_CODE=0\n"
    assert last_exit_code(log) == 1


def test_missing_marker_is_none() -> None:
    assert last_exit_code("") is None
    assert last_exit_code("pytest output\n1 passed\n") is None


@pytest.mark.parametrize("code", [0, 1, 2, 5, 127, 137, 255])
def test_multi_digit_codes(code: int) -> None:
    assert last_exit_code(f"out\nFACTORY_EXIT_CODE={code}\n") == code


def test_marker_at_end_without_newline_and_with_crlf() -> None:
    assert last_exit_code("out\nFACTORY_EXIT_CODE=4") == 4
    assert last_exit_code("out\r\nFACTORY_EXIT_CODE=3\r\n") == 3


# ---- patch failure marker -------------------------------------------------------------------------


def test_patch_failure() -> None:
    assert patch_failure("") == ""
    assert patch_failure("error: patch failed\nFACTORY_PATCH_FAILED=test_patch\n") == "test_patch"
    assert patch_failure("FACTORY_PATCH_FAILED=gold_patch\n") == "gold_patch"
    # Whole lines only, last one wins.
    assert patch_failure("+ echo FACTORY_PATCH_FAILED=test_patch\n") == ""
    assert patch_failure("FACTORY_PATCH_FAILED=test_patch\nFACTORY_PATCH_FAILED=gold_patch\n") == "gold_patch"


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


# ---- grade_run verdicts ---------------------------------------------------------------------------


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
    grade = grade_run("1 passed\nFACTORY_EXIT_CODE=0\n", junit(("test_a", "passed"), ("test_b", "skipped")))
    assert grade.verdict == "pass"
    assert grade.exit_code == 0
    assert grade.infra_error == "" and grade.patch_error == ""
    assert grade.tests == {
        "tests/test_a.py::test_a": Outcome.PASSED,
        "tests/test_a.py::test_b": Outcome.SKIPPED,
    }


def test_exit_zero_contradicted_by_junit_failure_is_a_fail() -> None:
    grade = grade_run(
        "PASSED tests/test_a.py::test_b\nFACTORY_EXIT_CODE=0\n",
        junit(("test_a", "passed"), ("test_b", "failed")),
    )
    assert grade.verdict == "fail"
    assert grade.exit_code == 0
    assert "tests/test_a.py::test_b" in grade.note


def test_exit_zero_contradicted_by_junit_error_is_a_fail() -> None:
    grade = grade_run("FACTORY_EXIT_CODE=0\n", junit(("test_a", "error")))
    assert grade.verdict == "fail"


@pytest.mark.parametrize(
    "report", [None, "", junit(), junit(("test_a", "skipped")), "garbage that is not xml"]
)
def test_exit_zero_without_any_test_run_is_a_fail(report: str | None) -> None:
    grade = grade_run("FACTORY_EXIT_CODE=0\n", report)
    assert grade.verdict == "fail"
    assert grade.infra_error == ""
    assert "no target test ran" in grade.note


@pytest.mark.parametrize("code", [1, 2, 4, 5])
def test_nonzero_exit_is_a_fail(code: int) -> None:
    grade = grade_run(f"FACTORY_EXIT_CODE={code}\n", junit(("test_a", "passed")))
    assert grade.verdict == "fail"
    assert grade.exit_code == code
    assert grade.infra_error == ""


def test_nonzero_exit_wins_over_an_earlier_zero_marker() -> None:
    grade = grade_run("FACTORY_EXIT_CODE=0\nFACTORY_EXIT_CODE=1\n", junit(("test_a", "passed")))
    assert grade.verdict == "fail"


def test_timeout_is_an_infra_error() -> None:
    grade = grade_run("FACTORY_EXIT_CODE=0\n", junit(("test_a", "passed")), timed_out=True)
    assert (grade.verdict, grade.infra_error) == ("error", "timeout")


def test_oom_is_an_infra_error() -> None:
    grade = grade_run("Killed\n", None, oom=True)
    assert (grade.verdict, grade.infra_error) == ("error", "oom")


def test_missing_marker_is_an_infra_error() -> None:
    grade = grade_run("+ echo FACTORY_EXIT_CODE=0\n1 passed\n", junit(("test_a", "passed")))
    assert (grade.verdict, grade.infra_error) == ("error", "marker_missing")
    assert grade.exit_code is None


@pytest.mark.parametrize("which", ["test_patch", "gold_patch"])
def test_patch_failure_is_a_fail_with_patch_error(which: str) -> None:
    grade = grade_run(f"error: patch does not apply\nFACTORY_PATCH_FAILED={which}\n", None)
    assert grade.verdict == "fail"
    assert grade.patch_error == which
    assert grade.infra_error == ""
