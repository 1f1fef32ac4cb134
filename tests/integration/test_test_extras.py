"""A setup.py whose test extra lives in a variable, end to end on the real Docker engine (issue 15).

``acme/extrasvar`` keeps its extras in ``EXTRAS = {"tests": ["six"]}`` and passes ``extras_require=EXTRAS``
to ``setup()``; its root ``conftest.py`` imports ``six``, which neither the base image nor pytest brings.
An explorer that reads only ``extras_require={...}`` literals installs ``.`` and every test errors at
collection, before and after the fix, so the valid fix is lost. Read with ``ast`` (never executed), the
extra is known, ``.[tests]`` is installed and the fix must come out ``valid``.
"""

from __future__ import annotations

from pathlib import Path

from factory.core.models import Status
from tests.repo_fixtures import build_the_fix, new_repo

SETUP_PY = """\
from setuptools import find_packages, setup

EXTRAS = {"tests": ["six"]}

setup(
    name="extrasvar",
    version="0.1.0",
    package_dir={"": "src"},
    packages=find_packages("src"),
    extras_require=EXTRAS,
)
"""


def make_repo(root: Path) -> Path:
    g = new_repo(root, "acme/extrasvar")
    g.commit("Initial import", {
        "setup.py": SETUP_PY,
        "conftest.py": "import six  # the suite's own helper, from the tests extra\n\nPY3 = six.PY3\n",
        "src/extrasvar/__init__.py": "",
        "src/extrasvar/calc.py": "def double(x):\n    return x * 3\n",
    })
    g.commit("Double doubles\n\nFixes #1: double(2) returns 6.", {
        "src/extrasvar/calc.py": "def double(x):\n    return x * 2\n",
        "tests/test_calc.py": "from extrasvar.calc import double\n\n\ndef test_double():\n    assert double(2) == 4\n",
    })
    return root


def test_setup_py_extras_in_a_variable_are_installed_and_the_fix_is_valid(tmp_path: Path, docker_client) -> None:
    inst, env = build_the_fix(make_repo(tmp_path / "extrasvar"), tmp_path)
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert env is not None
    assert "python -m pip install '.[tests]'" in env.install_commands
    assert inst.fail_to_pass == ["tests/test_calc.py::test_double"]
