"""The test-run sandbox (DESIGN §4) on the real engine: no network, limits, timeout, inputs, grading."""

from __future__ import annotations

import hashlib
import time
import uuid

import docker
import pytest

from factory.docker.runtime import LABEL, RunResult, Sandbox, run_sandboxed
from factory.grading.verdict import grade_files

IMAGE = "issue-factory/python:3.11"


@pytest.fixture
def sandboxed(docker_client: docker.DockerClient):
    """``sandboxed(cmd, sandbox=..., inputs=..., collect=...)`` -> (RunResult, the run's unique label)."""

    def run(command: list[str], sandbox: Sandbox | None = None, **kwargs) -> tuple[RunResult, dict[str, str]]:
        tag = {f"{LABEL}.test": uuid.uuid4().hex}
        result = run_sandboxed(
            docker_client, IMAGE, command, kwargs.pop("inputs", {}), sandbox or Sandbox(timeout=120),
            extra_labels=tag, **kwargs,
        )
        return result, tag

    return run


def _containers_with(client: docker.DockerClient, tag: dict[str, str]) -> list:
    (key, value), = tag.items()
    return client.containers.list(all=True, filters={"label": f"{key}={value}"})


NETWORK_PROBE = """
import os, socket
print("NNP", [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0])
print("IFACES", sorted(os.listdir("/sys/class/net")))
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(("1.1.1.1", 53))
    print("CONNECTED")
except OSError as exc:
    print("BLOCKED", type(exc).__name__, exc)
"""


def test_network_is_off_and_privileges_are_dropped(sandboxed, docker_client):
    result, tag = sandboxed(["python", "-c", NETWORK_PROBE])
    assert result.exit_code == 0, result.log
    assert "BLOCKED" in result.log and "CONNECTED" not in result.log
    assert "IFACES ['lo']" in result.log
    assert "NNP 1" in result.log
    assert not result.timed_out and not result.oom_killed
    assert _containers_with(docker_client, tag) == []


def test_timeout_kills_the_container(sandboxed, docker_client):
    started = time.monotonic()
    result, tag = sandboxed(["sleep", "600"], Sandbox(timeout=3))
    elapsed = time.monotonic() - started
    assert result.timed_out is True
    assert result.exit_code is None
    assert elapsed < 15, f"a 3 s timeout took {elapsed:.1f} s"
    assert _containers_with(docker_client, tag) == []
    grade = grade_files(result.log, result.files, timed_out=result.timed_out)
    assert (grade.verdict, grade.infra_error) == ("error", "timeout")


def test_memory_limit_ends_in_oom(sandboxed, docker_client):
    hog = "data = b'x' * (600 * 1024 * 1024); print('ALLOCATED', len(data))"
    result, tag = sandboxed(["python", "-c", hog], Sandbox(mem_limit="128m", timeout=120))
    assert result.oom_killed is True, result.log
    assert "ALLOCATED" not in result.log
    assert result.exit_code not in (0, None)
    assert not result.timed_out
    assert _containers_with(docker_client, tag) == []
    assert grade_files(result.log, result.files, oom=result.oom_killed).infra_error == "oom"


SPAWNER = """
import subprocess
children, error = [], ""
for _ in range(200):
    try:
        children.append(subprocess.Popen(["sleep", "300"]))
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc}"
        break
print("SPAWNED", len(children))
print("ERROR", error)
for child in children:
    child.kill()
    child.wait()
"""


def test_pids_limit_bounds_process_count(sandboxed):
    started = time.monotonic()
    result, _ = sandboxed(["python", "-c", SPAWNER], Sandbox(pids_limit=64, timeout=120))
    assert not result.timed_out, result.log
    assert result.exit_code == 0, result.log
    spawned = int(result.log.split("SPAWNED", 1)[1].split()[0])
    assert 0 < spawned < 64, result.log
    assert "Resource temporarily unavailable" in result.log or "BlockingIOError" in result.log, result.log
    assert time.monotonic() - started < 60


def test_inputs_are_under_factory_and_files_are_collected(sandboxed):
    inputs = {"hello.txt": "hello sandbox\n", "data.bin": bytes(range(256))}
    script = (
        "set -e; cat /factory/hello.txt; sha256sum /factory/data.bin; "
        "ls -la /factory; echo collected-ok > /tmp/out.txt"
    )
    result, _ = sandboxed(["bash", "-c", script], inputs=inputs, collect=["/tmp/out.txt", "/tmp/absent"])
    assert result.exit_code == 0, result.log
    assert "hello sandbox" in result.log
    assert hashlib.sha256(bytes(range(256))).hexdigest() in result.log
    assert result.files == {"/tmp/out.txt": b"collected-ok\n"}
