"""The agent's container session (factory.docker.session) in a real instance image of the example: commands
as the test user with a timeout, bounded output, files in and out, the work tree as a patch that applies
where the gold patch applies, and nothing leaking between sessions or off the network."""

from __future__ import annotations

import time

import pytest

from factory.docker.runtime import Sandbox
from factory.docker.session import OUTPUT_CAP, ContainerSession
from factory.grading.contract import TESTER


@pytest.fixture
def record(pipeline) -> dict:
    return next(r for r in pipeline.records() if r["FAIL_TO_PASS"])


def test_commands_run_as_the_test_user_in_the_work_tree_without_network(record, docker_client) -> None:
    with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
        result = box.execute("id -un; pwd; git log --oneline | wc -l")
        assert result.exit_code == 0 and not result.timed_out
        user, cwd, _ = result.output.split("\n", 2)
        assert (user, cwd) == (TESTER, "/testbed")
        net = box.execute("python -c \"import socket; socket.create_connection(('1.1.1.1', 53), timeout=3)\"")
        assert net.exit_code != 0 and "unreachable" in net.output.lower()
        assert box.execute("exit 7").exit_code == 7


def test_a_command_is_killed_at_its_timeout_and_output_is_bounded(record, docker_client) -> None:
    with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER) as box:
        started = time.monotonic()
        slow = box.execute("sleep 1000 & sleep 1000", timeout=2)
        assert slow.timed_out and slow.exit_code is None
        assert time.monotonic() - started < 20
        loud = box.execute("yes factory | head -c 5000000")
        assert len(loud.output) < OUTPUT_CAP + 200 and "bytes cut" in loud.output
        assert loud.output.startswith("factory\n") and loud.output.rstrip().endswith("factory")


def test_the_patch_is_the_work_tree_change_and_applies_like_a_model_patch(record, docker_client) -> None:
    sandbox = Sandbox(timeout=60)
    with ContainerSession(docker_client, record["image"], sandbox, user=TESTER) as box:
        assert box.patch() == ""
        box.apply(record["patch"])
        patch = box.patch()
        assert patch.strip() and set(_files(patch)) == set(_files(record["patch"]))
        assert box.write_file("/tmp/repro.py", "print('outside the work tree')\n").exit_code == 0  # not in the patch
        box.execute("python -c 'import tinyledger' >/dev/null; mkdir -p build && touch build/x.pyc")
        assert box.write_file("notes/new_file.py", "X = 1\n").exit_code == 0
        denied = box.write_file("/etc/factory-owned-by-root", "x")
        assert denied.exit_code != 0 and "Permission denied" in denied.output
        with_new = box.patch()
        assert "notes/new_file.py" in with_new and "repro.py" not in with_new and "x.pyc" not in with_new
        assert box.read_file("notes/new_file.py") == "X = 1\n"
        assert box.execute("stat -c %U notes/new_file.py").output.strip() == TESTER
        assert box.read_file("no/such/file") is None
        assert box.revert(with_new).exit_code == 0
        assert box.patch() == ""
    with ContainerSession(docker_client, record["image"], sandbox, user=TESTER) as fresh:
        assert fresh.patch() == ""  # a new session starts from base_commit again


def test_the_session_container_is_removed(record, docker_client) -> None:
    with ContainerSession(docker_client, record["image"], Sandbox(timeout=60), user=TESTER,
                          extra_labels={"issue-factory.test": "session-removed"}) as box:
        box.execute("true")
    left = docker_client.containers.list(all=True, filters={"label": "issue-factory.test=session-removed"})
    assert left == []


def _files(patch: str) -> list[str]:
    return [line.split(" b/", 1)[1] for line in patch.splitlines() if line.startswith("diff --git ")]


