"""The eval contract's pure parts: what counts as test machinery (the bash guard and its Python twin agree),
the gold patch's machinery hunks, the run status and per-test results, canaries, and the bounded log."""

from __future__ import annotations

import json
import subprocess

import pytest

from agents.builder.test_manager import PYTEST, guarded_command
from factory.core.models import TestOutcome
from factory.core.templates import render
from factory.docker.runtime import bounded_log
from factory.grading.contract import is_guarded, machinery_hunks, template_values
from factory.grading.results import canary_problem, parse_status, parse_stream
from factory.grading.verdict import grade_files

PATHS = [
    ("src/pkg/core.py", False), ("conftest.py", True), ("src/conftest.py", True), ("tests/test_a.py", True),
    ("tests/data/x.json", True), ("pkg/tests", True), ("test_x.py", True), ("pkg/x_test.py", True),
    ("pytest.ini", True), (".pytest.ini", True), ("tox.ini", True), ("setup.cfg", True), ("pyproject.toml", True),
    ("sub/pyproject.toml", True), ("sitecustomize.py", True), ("src/usercustomize.py", True), ("src/evil.pth", True),
    ("src/pkg/__pycache__/m.cpython-311.pyc", True), ("src/pkg/m.pyc", True), (".pytest_cache/v/x", True),
    ("src/evil-1.0.dist-info/entry_points.txt", True), ("src/pkg.egg-info/entry_points.txt", True),
    ("src/Evil-1.0.DIST-INFO/entry_points.txt", True), ("pkg.Egg-Link", True), ("src/distinfo/x.py", False),
    ("pytest.py", True), ("pytest/__init__.py", True), ("_pytest/main.py", True), ("py.py", True),
    ("pluggy/__init__.py", True), ("src/_pytest/python.py", False), ("setup.py", False), ("README.md", False),
    ("docs/testing.rst", False), ("src/pkg/contest.py", False), ("src/pkg/pytest_plugin.py", False),
    ("latest/x.py", False), ("my tests/a b.py", False), ("src/pkg/tests.py", True),
]
BASE = {"src/_pytest/python.py", "src/_pytest"}  # what base_commit has: pytest's own repository layout


def _bash_guarded(paths: list[str]) -> list[bool]:
    """Run the guard's own ``factory_is_guarded`` from the rendered template over ``paths``."""
    guard = render("guard.sh.j2", **template_values())
    body = guard.split("factory_is_guarded() {", 1)[1].split("\n}\n", 1)[0]
    script = (
        "factory_as_tester() { \"$@\"; }\n"
        "git() { [ \"$1\" = cat-file ] && case \"${3#*:}\" in " + "|".join(sorted(BASE))
        + ") return 0;; esac; return 1; }\n"
        "factory_base=HEAD\nfactory_is_guarded() {" + body + "\n}\n"
        "while IFS= read -r p; do if factory_is_guarded \"$p\"; then echo 1; else echo 0; fi; done\n"
    )
    out = subprocess.run(["bash", "-c", script], input="\n".join(paths) + "\n", capture_output=True, text=True,
                         check=True).stdout.split()
    return [x == "1" for x in out]


def test_the_bash_guard_and_its_python_twin_agree_on_what_is_test_machinery() -> None:
    paths = [p for p, _ in PATHS]
    expected = [g for _, g in PATHS]
    assert [is_guarded(p, BASE.__contains__) for p in paths] == expected
    assert _bash_guarded(paths) == expected


def test_machinery_hunks_are_the_gold_patch_s_test_configuration() -> None:
    code = "diff --git a/src/m.py b/src/m.py\n--- a/src/m.py\n+++ b/src/m.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    ini = ("diff --git a/pytest.ini b/pytest.ini\nnew file mode 100644\n--- /dev/null\n+++ b/pytest.ini\n"
           "@@ -0,0 +1,2 @@\n+[pytest]\n+python_functions = check_*\n")
    toml = ("diff --git a/pyproject.toml b/pyproject.toml\n--- a/pyproject.toml\n+++ b/pyproject.toml\n"
            "@@ -1 +1 @@\n-a\n+b\n")
    assert machinery_hunks(code + ini + toml, lambda _: False) == ini + toml
    assert machinery_hunks(code, lambda _: False) == ""


@pytest.mark.parametrize(("command", "guarded"), [
    ("python -m pytest -x {targets}", f"{PYTEST} -x {{targets}}"),
    ("pytest -q tests", f"{PYTEST} -q tests"),
    ("cd sub && python3.10 -m pytest t", f"cd sub && {PYTEST} t"),
    ("tox -e py311", "tox -e py311"),
    ("pip install pytest_asyncio && pytest", f"pip install pytest_asyncio && {PYTEST}"),
])
def test_recipe_commands_run_pytest_through_the_launcher(command: str, guarded: str) -> None:
    assert guarded_command(command) == guarded


def test_the_status_keeps_the_first_value_of_a_key() -> None:
    assert parse_status("exit_code=1\nexit_code=0\njunk\ncanary_fail=test_a_b_c\n") == {
        "exit_code": "1", "canary_fail": "test_a_b_c"}


def stream(*records: dict) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


CANARIES = [("fail", "tests/test_a.py", "test_read_write_value"), ("pass", "tests/test_a.py", "test_sort_key_path")]
NAMES = {name for _, _, name in CANARIES}
PLACED = [{"canary": name, "nodeid": f"tests/test_a.py::{name}"} for _, _, name in CANARIES]


def canary_reports(fail: str = "failed", ok: str = "passed") -> list[dict]:
    return [{"nodeid": f"tests/test_a.py::{CANARIES[0][2]}", "when": "call", "outcome": fail},
            {"nodeid": f"tests/test_a.py::{CANARIES[1][2]}", "when": "call", "outcome": ok}]


def test_per_test_results_take_the_worse_phase_and_set_canaries_apart() -> None:
    text = stream(
        *PLACED, *canary_reports(),
        {"nodeid": "tests/test_a.py::test_x", "when": "setup", "outcome": "passed"},
        {"nodeid": "tests/test_a.py::test_x", "when": "call", "outcome": "passed"},
        {"nodeid": "tests/test_a.py::test_x", "when": "teardown", "outcome": "failed", "text": "E boom"},
        {"nodeid": "tests/test_a.py::test_y", "when": "call", "outcome": "failed", "text": "E assert 1 == 2"},
        {"nodeid": "tests/test_a.py::test_z", "when": "setup", "outcome": "skipped"},
        {"nodeid": "tests/test_b.py", "when": "collect", "outcome": "failed", "text": "E ImportError"},
        {"exitstatus": 1},
    )
    results = parse_stream(text, NAMES)
    assert results.tests == {
        "tests/test_a.py::test_x": TestOutcome.ERROR, "tests/test_a.py::test_y": TestOutcome.FAILED,
        "tests/test_a.py::test_z": TestOutcome.SKIPPED, "tests/test_b.py": TestOutcome.ERROR,
    }
    assert results.failures["tests/test_a.py::test_y"] == "E assert 1 == 2"
    assert results.exitstatus == 1 and not results.broken
    assert canary_problem(results, CANARIES) == ""


SKIPPED_X = {"nodeid": "tests/test_a.py::test_x", "when": "setup", "outcome": "skipped"}
PASSED_X = {"nodeid": "tests/test_a.py::test_x", "when": "call", "outcome": "passed"}


@pytest.mark.parametrize(("records", "problem"), [
    ([*PLACED, *canary_reports(fail="passed")], "must fail was reported passed"),
    ([*PLACED, *canary_reports(ok="failed")], "must pass was reported failed"),
    ([*PLACED, canary_reports()[1]], "must fail was reported 0 times"),
    ([*PLACED, *canary_reports(), canary_reports()[0]], "must fail was reported 2 times"),
    ([PASSED_X], "never placed"),
    ([PLACED[1], *canary_reports()], "never placed"),
    ([{"canary": CANARIES[0][2], "absent": "not in its module"}, PLACED[1], canary_reports()[1]], "replaced"),
    ([*PLACED, *canary_reports(fail="skipped"), PASSED_X], "must fail was reported skipped"),
])
def test_rewritten_missing_or_spared_canaries_are_tampering(records: list[dict], problem: str) -> None:
    assert problem in canary_problem(parse_stream(stream(*records), NAMES), CANARIES)


@pytest.mark.parametrize("records", [
    [{"canary": name, "absent": "module not collected"} for _, _, name in CANARIES],
    [*PLACED, *canary_reports(fail="skipped", ok="skipped"), SKIPPED_X],  # a skip mark on the whole module
])
def test_a_module_not_collected_or_skipped_whole_excuses_its_canaries(records: list[dict]) -> None:
    assert canary_problem(parse_stream(stream(*records), NAMES), CANARIES) == ""


def files(status: str, records: list[dict] | None = None, junit: str | None = None) -> dict[str, bytes]:
    out = {"/run/factory/status": status.encode()}
    if records is not None:
        out["/run/factory/tests.jsonl"] = stream(*records).encode()
    if junit is not None:
        out["/run/factory/junit.xml"] = junit.encode()
    return out


STATUS = "".join(f"canary_{n}={k}\t{m}\t{name}\n" for n, (k, m, name) in enumerate(CANARIES, start=1))
PASSING = [*PLACED, *canary_reports(), PASSED_X]


def test_the_verdict_comes_from_the_status_file_not_the_log() -> None:
    log = "FACTORY_EXIT_CODE=1\n"  # the log's marker says fail; root's status says 0
    grade = grade_files(log, files(STATUS + "exit_code=0\ntest_seconds=0.5\n", PASSING))
    assert (grade.verdict, grade.exit_code, grade.test_seconds) == ("pass", 0, 0.5)
    assert grade.tests == {"tests/test_a.py::test_x": TestOutcome.PASSED}  # canaries never reach the lists
    fake = grade_files("FACTORY_EXIT_CODE=0\n", files(STATUS + "exit_code=1\n", PASSING))
    assert fake.verdict == "fail"
    missing = grade_files("FACTORY_EXIT_CODE=0\n", files(STATUS, PASSING))
    assert (missing.verdict, missing.infra_error) == ("error", "marker_missing")


def test_a_tampered_run_never_passes_and_says_why() -> None:
    flipped = [*PLACED, *canary_reports(fail="passed"), PASSED_X]
    grade = grade_files("", files(STATUS + "exit_code=0\n", flipped))
    assert grade.verdict == "fail" and "must fail was reported passed" in grade.tampered
    assert grade.note.startswith("tampered: ")
    junit = ('<testsuites><testsuite><testcase classname="tests.test_a" name="test_x" file="tests/test_a.py">'
             '<failure message="x"/></testcase></testsuite></testsuites>')
    contradicted = grade_files("", files(STATUS + "exit_code=0\n", PASSING, junit))
    assert "JUnit report says tests/test_a.py::test_x failed" in contradicted.tampered
    cut = files(STATUS + "exit_code=0\n", PASSING)
    cut["/run/factory/tests.jsonl"] = cut["/run/factory/tests.jsonl"][:-5]
    assert "cut" in grade_files("", cut).tampered


def test_patch_failure_and_output_cut_come_from_the_status() -> None:
    grade = grade_files("", files(STATUS + "patch_failed=model_patch\n"))
    assert (grade.verdict, grade.patch_error) == ("fail", "model_patch")
    cut = grade_files("", files(STATUS + "exit_code=0\noutput_cut=123\n", PASSING))
    assert cut.verdict == "pass" and cut.output_cut == 123 and "cut by 123 bytes" in cut.note


class _Logs:
    def __init__(self, chunks: list[bytes]):
        self.chunks = chunks

    def logs(self, **_: object):
        return iter(self.chunks)


def test_the_container_log_is_read_in_bounded_memory() -> None:
    chunks = [b"H" * 700, *([b"m" * 1000] * 50), b"T" * 700]
    log = bounded_log(_Logs(chunks), cap=2000)
    head, _, tail = log.partition("[factory: ")
    assert head.startswith("H" * 700) and len(head) <= 1001 + 1
    assert tail.endswith("T" * 700) and "bytes of container log cut here]" in tail
    assert len(log) < 2100
    assert bounded_log(_Logs([b"short\n"]), cap=2000) == "short\n"


def test_the_node_id_check_names_every_id_pytest_did_not_collect() -> None:
    from factory.docker.runtime import RunResult
    from factory.grading.runner import unaccepted_ids

    def run(records: list[dict] | None) -> RunResult:
        return RunResult(0, "", files(STATUS + "exit_code=0\n", records), 1.0, False, False)

    ids = ["tests/test_a.py::test_x", "tests/test_a.py::TestA::test_shared", "tests/base.py::test_shared"]
    collected = {"collected": ["tests/test_a.py::test_x", "tests/test_a.py::TestA::test_shared"]}
    assert unaccepted_ids(run([*PLACED, collected]), ids) == ["tests/base.py::test_shared"]
    assert unaccepted_ids(run([*PLACED, collected]), ids[:2]) == []
    assert unaccepted_ids(run([*PLACED]), ids) is None  # the run said nothing about what it collected
    assert unaccepted_ids(None, ids) is None


def test_an_eval_script_of_an_older_contract_is_not_run() -> None:
    from factory.core.settings import Settings
    from factory.grading.runner import run_eval

    old_script = "#!/bin/bash\ncd /testbed\npython -m pytest tests\necho FACTORY_EXIT_CODE=$?\n"
    result, grade = run_eval(None, "image", old_script, "", "model_patch", Settings())  # no engine needed
    assert result is None and (grade.verdict, grade.infra_error) == ("error", "internal")
    assert "factory build --rebuild" in grade.note


def test_stored_logs_name_canaries_by_their_role_so_runs_read_alike() -> None:
    from factory.grading.results import mask_canaries

    def log(names: tuple[str, str], guard: str) -> str:
        return (f"FAILED tests/test_a.py::{names[0]} - assert (6 * 7) == 41\n"
                f"PASSED tests/test_a.py::{names[1]}\nPASSED tests/test_a.py::test_real\n{guard}/factory_guard.py\n")

    one = [("fail", "tests/test_a.py", "test_read_write_value"), ("pass", "tests/test_a.py", "test_sort_key_path")]
    two = [("fail", "tests/test_a.py", "test_user_item_split"), ("pass", "tests/test_a.py", "test_empty_dict_add")]
    first = mask_canaries(log(tuple(n for *_, n in one), "/tmp/factory-guard.Ab12Cd"), one)
    second = mask_canaries(log(tuple(n for *_, n in two), "/tmp/factory-guard.x9Y8z7"), two)
    assert first == second
    assert "tests/test_a.py::test_canary_fail_1" in first and "test_real" in first


def test_a_crash_of_the_guard_itself_is_our_error_not_the_candidate_s() -> None:
    log = ("INTERNALERROR>   File \"/tmp/factory-guard.EhGuCB/factory_guard.py\", line 70, in pytest_collection\n"
           "INTERNALERROR>     for name, body in zip(a, b, strict=True):\n"
           "INTERNALERROR> TypeError: zip() takes no keyword arguments\n")
    grade = grade_files(log, files(STATUS + "exit_code=3\n", []))
    assert (grade.verdict, grade.infra_error) == ("error", "internal")
    assert "zip() takes no keyword arguments" in grade.note
    canary_failure = "/tmp/factory-guard.EhGuCB/factory_guard.py:44: AssertionError\n"  # a canary's own traceback
    assert grade_files(canary_failure, files(STATUS + "exit_code=0\n", PASSING)).verdict == "pass"


def test_a_test_that_crashes_the_interpreter_fails_its_run_and_is_not_called_a_crash_of_the_guard() -> None:
    """pallets/markupsafe: a test segfaulted in the C code its fix repairs; faulthandler's dump lists our
    launcher at the bottom of the stack. A dump whose innermost frame is ours is still our crash."""
    def dump(innermost: str) -> str:
        return ("tests/test_html.py .Fatal Python error: Segmentation fault\n\n"
                "Current thread 0x00007fe78fbd1740 (most recent call first):\n"
                f'  File "{innermost}", line 21 in test_exception_custom_html\n'
                '  File "/opt/venv/lib/python3.9/site-packages/_pytest/python.py", line 184 in pytest_pyfunc_call\n'
                '  File "/tmp/factory-guard.Ab12Cd/factory_launch.py", line 53 in <module>\n'
                "/factory/eval.sh: line 23:   104 Segmentation fault      setpriv ...\n")
    grade = grade_files(dump("/testbed/tests/test_html.py"), files(STATUS + "exit_code=139\n", PASSING))
    assert (grade.verdict, grade.infra_error) == ("fail", "")
    ours = grade_files(dump("/tmp/factory-guard.Ab12Cd/factory_guard.py"), files(STATUS + "exit_code=139\n", PASSING))
    assert (ours.verdict, ours.infra_error) == ("error", "internal")


CRASHED = "tests/test_html.py::test_exception_custom_html"


def _crash_log() -> str:
    return ("tests/test_html.py .Fatal Python error: Segmentation fault\n\n"
            "Current thread 0x00007fe78fbd1740 (most recent call first):\n"
            '  File "/testbed/tests/test_html.py", line 21 in test_exception_custom_html\n'
            '  File "/tmp/factory-guard.Ab12Cd/factory_launch.py", line 53 in <module>\n')


def test_the_test_running_when_the_process_crashed_fails_by_the_crash() -> None:
    """pallets/markupsafe-109: before its fix the new test segfaults pytest, which never reports it nor the
    canaries after it. The crash fails that test (the run stays a fail, its canaries need no check), so the
    fix that repairs the C code is a fail-to-pass, not "no target test ran"."""
    started = [{"start": PLACED[1]["nodeid"]}, canary_reports()[1], {"start": CRASHED},
               {"nodeid": CRASHED, "when": "setup", "outcome": "passed"}]
    grade = grade_files(_crash_log(), files(STATUS + "exit_code=139\n", [*PLACED, *started]))
    assert (grade.verdict, grade.tampered) == ("fail", "")
    assert grade.tests == {CRASHED: TestOutcome.FAILED}
    assert "Segmentation fault" in grade.failures[CRASHED] and CRASHED in grade.note
    finished = [*started, {"nodeid": CRASHED, "when": "call", "outcome": "passed"},
                {"nodeid": CRASHED, "when": "teardown", "outcome": "passed"}]  # crashed later, at exit
    later = grade_files(_crash_log(), files(STATUS + "exit_code=139\n", [*PLACED, *finished]))
    assert later.verdict == "fail" and later.tests == {CRASHED: TestOutcome.PASSED}
    in_canary = [*PLACED, {"start": PLACED[0]["nodeid"]}]  # a canary is never a target test
    assert grade_files(_crash_log(), files(STATUS + "exit_code=139\n", in_canary)).tests == {}


@pytest.mark.parametrize("code", ["0", "1"])
def test_a_printed_crash_dump_without_a_crash_changes_nothing(code: str) -> None:
    """A patch may print a fake faulthandler dump: without a death by signal (exit code above 128) it is text,
    and a run whose canaries went missing is still tampered."""
    records = [{"start": CRASHED}, PASSED_X]
    grade = grade_files(_crash_log(), files(STATUS + f"exit_code={code}\n", records))
    assert grade.verdict == "fail" and "tampered" in grade.note and CRASHED not in grade.tests


def test_a_broken_pytest_in_the_environment_is_not_called_a_crash_of_the_guard(tmp_path) -> None:
    """itsdangerous's 2020 environments hold a pytest that cannot be imported on their Python at all."""
    import sys
    from pathlib import Path

    import docker_templates

    site, work = tmp_path / "site", tmp_path / "work"
    (site / "pytest").mkdir(parents=True)
    work.mkdir()
    (site / "pytest" / "__init__.py").write_text("raise AttributeError('__spec__')\n")
    launcher = Path(docker_templates.__file__).parent / "factory_launch.py"
    done = subprocess.run([sys.executable, str(launcher), "-q"], cwd=work, capture_output=True, text=True,
                          env={"PYTHONPATH": str(site)}, timeout=60)
    log = done.stdout + done.stderr
    assert done.returncode == 1 and "factory: pytest cannot be imported in this environment" in log, log
    assert "AttributeError: __spec__" in log and "factory_launch.py" not in log
    grade = grade_files(log.replace(str(launcher.parent), "/tmp/factory-guard.Ab12Cd"),
                        files(STATUS + "exit_code=1\n", []))
    assert grade.infra_error != "internal" and grade.verdict == "fail"
