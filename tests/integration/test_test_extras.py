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


def make_repo_with_an_example_project(root: Path) -> Path:
    """pallets/flask's shape: tox installs ``examples/tutorial[test]``, and the suite imports that example."""
    g = new_repo(root, "acme/withexample")
    g.commit("Initial import", {
        "setup.py": SETUP_PY.replace("extrasvar", "withexample").replace('{"tests": ["six"]}', "{}"),
        "tox.ini": "[testenv]\ndeps =\n    pytest\n    examples/tutorial[test]\ncommands = pytest tests\n",
        "src/withexample/__init__.py": "",
        "src/withexample/calc.py": "def double(x):\n    return x * 3\n",
        "examples/tutorial/setup.py": "from setuptools import setup\n\nsetup(name='tutorial', version='1.0',"
                                      " py_modules=['tutorial'], extras_require={'test': ['six']})\n",
        "examples/tutorial/tutorial.py": "from withexample.calc import double\n\n\ndef quadruple(x):\n"
                                         "    return double(double(x))\n",
    })
    g.commit("Double doubles\n\nFixes #1: double(2) returns 6.", {
        "src/withexample/calc.py": "def double(x):\n    return x * 2\n",
        "tests/test_calc.py": "import six\nfrom tutorial import quadruple\n\n\ndef test_quadruple():\n"
                              "    assert six.PY3 and quadruple(1) == 4\n",
    })
    return root


def test_a_project_inside_the_repository_that_tox_installs_is_installed_in_the_instance(
        tmp_path: Path, docker_client) -> None:
    """Without ``examples/tutorial`` installed the test cannot import ``tutorial`` before or after the fix
    (flask-afc13b9 ended ``build_failed(env_broken)``); installed in the instance image, with its ``test``
    extra, from the commit's own code, the fix is valid."""
    inst, env = build_the_fix(make_repo_with_an_example_project(tmp_path / "withexample"), tmp_path)
    assert inst.status is Status.VALID, (inst.status, inst.reason, inst.detail)
    assert inst.fail_to_pass == ["tests/test_calc.py::test_quadruple"]
    assert not any("tutorial" in c for c in env.install_commands)  # the commit's code stays out of the env image
