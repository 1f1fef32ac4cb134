"""A fix for a crash, whose new test crashes the interpreter before it, end to end on the real engine (issue 15).

pallets/markupsafe-109 repairs a segfault in its C extension, and its new test is the one that segfaulted:
before the fix pytest dies in that test (no report for it, nor for the canaries after it), after the fix
it passes. ``acme/segv`` does the same in pure Python (the process sends itself SIGSEGV). The
crashed test must fail by the crash, so the fix is valid with that test as its fail-to-pass — not
``rejected(error2pass)`` ("no target test ran before the fix") and not our own error.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.models import Status
from tests.repo_fixtures import build_the_fix, new_repo, pyproject

CRASHY = ("import os\nimport signal\n\n\ndef first_byte(data):\n    if data is None:  # the C code this stands for "
          "read address 0\n        os.kill(os.getpid(), signal.SIGSEGV)\n    return data[:1]\n")
FIXED = "def first_byte(data):\n    return b'' if data is None else data[:1]\n"
TEST = ("import pytest\n\nfrom segv.core import first_byte\n\n\n"
        "def test_none_does_not_crash():\n    assert first_byte(None) == b''\n\n\n"
        "@pytest.mark.parametrize('n', range(1, 21))\ndef test_bytes(n):\n"
        "    assert first_byte(bytes([n])) == bytes([n])\n")
"""The crashing test comes first and twenty after it, so the canaries the guard places at random among them
are almost never all run before the crash (the case where the old grader still came out right)."""


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/segv")
    g.commit("Initial import", {"pyproject.toml": pyproject("segv"), "src/segv/__init__.py": "",
                                "src/segv/core.py": CRASHY})
    g.commit("first_byte(None) no longer crashes\n\nFixes #1: it read address 0.",
             {"src/segv/core.py": FIXED, "tests/test_core.py": TEST})
    return root


def test_a_test_that_crashed_before_the_fix_is_its_fail_to_pass(tmp_path: Path, docker_client) -> None:
    inst, _ = build_the_fix(make_repo(tmp_path / "segv"), tmp_path)
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert inst.fail_to_pass == ["tests/test_core.py::test_none_does_not_crash"]
