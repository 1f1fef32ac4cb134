"""Which tests a ``fail2fail`` leaves out before validating again (agents/builder/broken_tests.py)."""

from __future__ import annotations

from agents.builder.broken_tests import added_test_names, broken_tests
from agents.builder.test_manager import test_command as pytest_command

NEW_TEST = "+    def test_respect_proxy_env_on_send(self, httpbin):\n+        pass\n"
NET = "tests/test_requests.py::TestTimeout::test_connect_timeout[timeout0]"
NEW = "tests/test_requests.py::TestRequests::test_respect_proxy_env_on_send"
OLD = "tests/test_requests.py::TestRequests::test_basic_building"


def runs(outcomes: dict[str, str], n: int = 2) -> list[dict[str, str]]:
    return [dict(outcomes) for _ in range(n)]


def test_a_network_test_failing_in_both_phases_is_left_out_when_the_fix_flips_its_own_test() -> None:
    """psf/requests-5681: the proxy tests go from failing to passing; the timeout tests fail in both phases
    because the sandbox has no network."""
    before = runs({NEW: "failed", NET: "failed", OLD: "passed"})
    after = runs({NEW: "passed", NET: "failed", OLD: "passed"})
    assert broken_tests(before, after, NEW_TEST) == [NET]


def test_nothing_is_left_out_when_a_test_the_patch_adds_still_fails() -> None:
    added = NET.replace("test_connect_timeout", "test_new_timeout")
    before = runs({NEW: "failed", added: "failed"})
    after = runs({NEW: "passed", added: "failed"})
    patch = NEW_TEST + "+    def test_new_timeout(self):\n+        pass\n"
    assert added_test_names(patch) == {"test_respect_proxy_env_on_send", "test_new_timeout"}
    assert broken_tests(before, after, patch) == []


def test_nothing_is_left_out_without_a_flipped_test_or_with_a_failure_only_after() -> None:
    assert broken_tests(runs({NET: "failed", NEW: "failed"}), runs({NET: "failed", NEW: "failed"}), NEW_TEST) == []
    assert broken_tests(runs({NEW: "failed", NET: "failed", OLD: "passed"}),
                        runs({NEW: "passed", NET: "failed", OLD: "failed"}), NEW_TEST) == []  # OLD broke: pass2fail
    flaky_net = [{NEW: "failed", NET: "failed"}, {NEW: "failed", NET: "passed"}]
    assert broken_tests(flaky_net, runs({NEW: "passed", NET: "failed"}), NEW_TEST) == []
    assert broken_tests([], runs({NEW: "passed"}), NEW_TEST) == []


def test_the_pytest_command_deselects_them() -> None:
    command = pytest_command(["tests/test_requests.py"], [NET])
    assert f"--deselect '{NET}'" in command and command.endswith(" tests/test_requests.py")
    assert "--deselect" not in pytest_command(["tests/test_requests.py"])
    # no cache in the work tree, and no pytest-randomly (hukkin/tomli's needs the cache; a validation repeats)
    assert "-p no:cacheprovider -p no:randomly" in command
