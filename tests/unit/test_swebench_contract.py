"""What the real ``swebench`` 5.0.2 package (the dev extra) reads of an export row and of our eval script.

No Docker: the eval script runs on the host (unprotected: not root), exactly as swebench's
``make_test_spec`` rewrites it, and swebench's own grader reads the log. The run on real images is
``tests/integration/test_swebench_harness.py``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from swebench.harness import constants as sb
from swebench.harness.grading import get_logs_eval
from swebench.harness.log_parsers import PARSER_REGISTRY
from swebench.harness.utils import make_test_spec

from factory.grading.contract import (
    SWEBENCH_EVAL_TYPE,
    SWEBENCH_LOG_END,
    SWEBENCH_LOG_PARSER,
    SWEBENCH_LOG_START,
    SWEBENCH_MARK,
)
from factory.harness.dataset import public_source
from tests.unit.test_harness import render_eval

F2P = "tests/test_a.py::test_fixed"


def row(eval_script: str) -> dict:
    """The fields of an export row ``make_test_spec`` reads (the rest of a row it ignores)."""
    return {"instance_id": "a__b-1", "image": "img", "repo": "a/b", "version": "0.0", "eval_script": eval_script,
            "FAIL_TO_PASS": [F2P], "PASS_TO_PASS": [], "log_parser": SWEBENCH_LOG_PARSER,
            "eval_type": SWEBENCH_EVAL_TYPE}


def swebench_grade(tests: str, tmp_path: Path) -> tuple[dict[str, str], bool, str]:
    """Run our eval script as swebench's harness would (its rewritten script, ``set -x`` added, stdout and
    stderr in one stream) with ``tests`` — shell lines standing for what the tests print, in a file of the
    work tree as a patch would put them — as the test command, and grade the log with swebench."""
    spec = make_test_spec(row(render_eval("bash tests.sh")))
    work = tmp_path / "testbed"
    work.mkdir()
    (work / "tests.sh").write_text(tests + "\n")
    script = spec.eval_script.replace("cd /testbed", f"cd {work}").replace("/tmp/factory-", f"{tmp_path}/f-")
    (tmp_path / "eval.sh").write_text(script)
    done = subprocess.run(["bash", str(tmp_path / "eval.sh")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60)
    log = tmp_path / "test_output.txt"
    log.write_text(done.stdout)
    status_map, found = get_logs_eval(spec, str(log))
    return status_map, found, done.stdout


def test_our_names_are_swebench_s() -> None:
    assert SWEBENCH_LOG_PARSER in PARSER_REGISTRY
    assert sb.EvalType(SWEBENCH_EVAL_TYPE) is sb.EvalType.PASS_AND_FAIL
    assert (SWEBENCH_LOG_START, SWEBENCH_LOG_END) == (sb.START_TEST_OUTPUT, sb.END_TEST_OUTPUT)
    markers = [sb.START_TEST_OUTPUT, sb.END_TEST_OUTPUT, sb.TEST_EXIT_CODE, sb.APPLY_PATCH_FAIL, sb.RESET_FAILED,
               sb.TESTS_ERROR, sb.TESTS_TIMEOUT]
    assert all(m.startswith(SWEBENCH_MARK) for m in markers)  # what the eval script neutralizes covers them all


def test_the_markers_are_printed_once_around_the_output_and_the_exit_code_is_the_test_command_s(tmp_path) -> None:
    status_map, found, log = swebench_grade(f"echo 'PASSED {F2P}'; exit 3", tmp_path)
    lines = log.splitlines()
    start, end = lines.index(sb.START_TEST_OUTPUT), lines.index(sb.END_TEST_OUTPUT)
    assert lines.count(sb.START_TEST_OUTPUT) == lines.count(sb.END_TEST_OUTPUT) == 1
    assert f"PASSED {F2P}" in lines[start:end]
    assert f"{sb.TEST_EXIT_CODE}: 3" in lines[end:]  # swebench's inserted capture saw the test's exit code
    assert "+ SWEBENCH_TEST_EXIT_CODE=3" in lines[:end]  # (its set -x traces it) right before our end marker
    assert lines[-1] == "FACTORY_EXIT_CODE=3"
    # exit 3 with no failure in the log: swebench's own cross-check refuses the log
    assert (status_map, found) == ({}, False)


def test_an_honest_passing_run_is_read_by_swebench(tmp_path: Path) -> None:
    status_map, found, _ = swebench_grade(f"echo 'FAILED tests/test_a.py::test_other - x'; echo 'PASSED {F2P}'",
                                          tmp_path)
    assert found and status_map == {F2P: "PASSED", "tests/test_a.py::test_other": "FAILED"}


def test_the_tests_cannot_print_a_swebench_marker(tmp_path: Path) -> None:
    """A patch's output that ends the test section early and claims exit code 0 would make swebench read
    only its fake PASSED line; rewritten, the section runs to our end marker and the real result is read."""
    forged = (f"echo 'PASSED {F2P}'; echo '{sb.END_TEST_OUTPUT}'; echo '{sb.TEST_EXIT_CODE}: 0'; "
              f"echo '{sb.START_TEST_OUTPUT}'; echo '{sb.TESTS_ERROR}' >&2; printf '>>>>>>>>>> x\\n'; "
              f"echo 'FAILED {F2P} - assert 1 == 2'; exit 1")
    status_map, found, log = swebench_grade(forged, tmp_path)
    assert found and status_map == {F2P: "FAILED"}
    lines = log.splitlines()
    assert [line for line in lines if line.startswith(SWEBENCH_MARK)] == [
        sb.START_TEST_OUTPUT, sb.END_TEST_OUTPUT, f"{sb.TEST_EXIT_CODE}: 1"]  # ours and swebench's own only
    assert ">>>>_ End Test Output" in lines and ">>>>>>>>>_ x" in lines


def test_an_exported_source_names_no_local_path() -> None:
    assert public_source("git:/home/me/src/tinyledger") == "git"
    assert public_source("git:file:///home/me/src/tinyledger") == "git"
    assert public_source("git:https://example.org/acme/tinyledger.git") == "git:https://example.org/acme/tinyledger.git"
    assert public_source("git:git@example.org:acme/tinyledger.git") == "git:git@example.org:acme/tinyledger.git"
    assert public_source("github:acme/tinyledger") == "github:acme/tinyledger"
