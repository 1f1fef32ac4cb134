"""Real test ids an old pytest cannot take as arguments, end to end on the real Docker engine (issue 15).

pytest 6.2 splits a node id at every ``::``, so ``test_host[http://[2001::1]:80]`` given as an argument is
"not found" — and the whole argument run collects nothing else. The node-id check ran every FAIL_TO_PASS /
PASS_TO_PASS id as an argument and called the instance ``error(internal)``: every marshmallow fix whose tests
parametrize IPv6 URLs was lost (real repository, pytest 6.2.1). The id is real — pytest collects it from its
file, and graders read ids from the log — so the check looks for such ids in their file's collection.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.models import Status
from tests.repo_fixtures import build_the_fix, new_repo

SETUP_PY = """\
from setuptools import find_packages, setup

setup(name="hosts", version="0.1.0", package_dir={"": "src"}, packages=find_packages("src"),
      extras_require={"tests": ["pytest==6.2.5"]})
"""
TESTS = """\
import pytest

from hosts import host


@pytest.mark.parametrize("url", ["http://example.com:80", "http://[2001::1]:80"])
def test_host(url):
    assert host(url) in ("example.com", "2001::1")


def test_port_is_dropped():
    assert host("http://[2001::1]:8080") == "2001::1"
"""


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/hosts")
    g.commit("Initial import", {
        "setup.py": SETUP_PY,
        "src/hosts/__init__.py": "def host(url):\n    return url.split('//')[1].rsplit(':', 1)[0]\n",
    })
    g.commit("Strip the brackets of IPv6 hosts\n\nFixes #1.", {
        "src/hosts/__init__.py": "def host(url):\n    return url.split('//')[1].rsplit(':', 1)[0].strip('[]')\n",
        "tests/test_hosts.py": TESTS,
    })
    return root


def test_ids_an_old_pytest_cannot_select_still_make_a_valid_instance(tmp_path: Path, docker_client) -> None:
    inst, _ = build_the_fix(make_repo(tmp_path / "hosts"), tmp_path)
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert "tests/test_hosts.py::test_host[http://[2001::1]:80]" in inst.fail_to_pass
    assert "tests/test_hosts.py::test_port_is_dropped" in inst.fail_to_pass
    assert "1 id(s) this pytest collects from their files but does not take as arguments" in inst.detail
