"""A target file with a test the sandbox always fails, end to end on the real Docker engine (issue 15).

``acme/netcalc``'s test file holds, from before the fix, a test that opens a network connection: the
sandbox has no network, so it fails before and after the gold patch alike, and graded by exit code the whole
file failed after the fix — the fix was lost as ``fail2fail`` although its own test goes from failing to
passing (psf/requests lost 8 of 25 fixes so). The builder leaves that test out (``pytest --deselect``) and
validates again: the fix is valid, the broken test is in neither list, and the eval script says so.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.models import Status
from tests.repo_fixtures import build_the_fix, new_repo

NETWORK_TEST = """\
import socket

from netcalc import add


def test_add():
    assert add(1, 2) == 3


def test_reaches_the_mirror():
    socket.create_connection(("203.0.113.1", 80), timeout=2).close()
"""


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/netcalc")
    g.commit("Initial import", {
        "setup.py": "from setuptools import setup\nsetup(name='netcalc', version='0.1', py_modules=['netcalc'])\n",
        "netcalc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a + b\n",
        "tests/test_netcalc.py": NETWORK_TEST,
    })
    g.commit("Subtract\n\nFixes #1: sub adds.", {
        "netcalc.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
        "tests/test_netcalc.py": NETWORK_TEST.replace("from netcalc import add", "from netcalc import add, sub")
        + "\n\ndef test_sub():\n    assert sub(3, 2) == 1\n",
    })
    return root


def test_a_test_the_sandbox_always_fails_is_left_out_and_the_fix_is_valid(tmp_path: Path, docker_client) -> None:
    inst, _ = build_the_fix(make_repo(tmp_path / "netcalc"), tmp_path)
    broken = "tests/test_netcalc.py::test_reaches_the_mirror"
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert inst.fail_to_pass == ["tests/test_netcalc.py::test_sub"]
    assert inst.pass_to_pass == ["tests/test_netcalc.py::test_add"]
    assert f"--deselect {broken}" in inst.eval_script
    assert "1 test(s) that fail before and after the fix in this environment left out" in inst.detail
