"""A second built-in example, ``acme/weatherlib``: a repository whose tests need what no rule foresees.

Its test suite needs three things the heuristic builder cannot guess: a package listed only in
``ci/deps/test-packages.txt`` (``humanize``), the environment variable ``WEATHERLIB_DATA`` pointing at
the test data, and the Debian package ``jq`` (the fixtures normalise JSON with it). With heuristics
alone every target test errors before and after the fix; an LLM builder (or a recipe remembered from an
earlier instance) supplies all three. Two fix commits make two candidates of the same repository.

Run it directly to create the repository somewhere: ``python -m examples.weatherlib /tmp/weatherlib``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from textwrap import dedent

from examples.tinyledger import _Git

SLUG = "acme/weatherlib"

#: What the LLM-driven builder must supply (the scripted test model answers with exactly these).
NEEDS = {
    "system_packages": ["jq"],
    "requirements_file": "ci/deps/test-packages.txt",
    "test_env": {"WEATHERLIB_DATA": "tests/data"},
}

EXPECTED_WITH_LLM: dict[str, str] = {
    "Initial import of weatherlib": "not a candidate",
    "Round Fahrenheit conversions to one decimal": "valid",
    "Ignore missing readings in the daily mean": "valid",
}

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "weatherlib"
version = "0.1.0"
requires-python = ">=3.9"
dependencies = []

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.setuptools.packages.find]
where = ["src"]
"""

_UNITS_V0 = '''\
"""Temperature conversions and daily statistics."""


def celsius_to_fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


def daily_mean(readings: list) -> float:
    return sum(readings) / len(readings)
'''

_CONFTEST = '''\
import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def readings():
    """Sample readings, normalised with jq like the production pipeline does."""
    data_dir = Path(os.environ["WEATHERLIB_DATA"])
    out = subprocess.run(["jq", "-c", ".", str(data_dir / "readings.json")],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)
'''

_TEST_UNITS_V0 = '''\
import humanize

from weatherlib.units import celsius_to_fahrenheit


def test_freezing_point(readings):
    assert celsius_to_fahrenheit(0) == 32
    assert humanize.intcomma(len(readings["celsius"])) == "4"
'''


def create(root: Path) -> Path:
    """Create the example repository at ``root`` (must not exist or be empty); return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    g = _Git(root)
    g("init", "-q", "-b", "main")
    g("remote", "add", "origin", f"https://git.example.com/{SLUG}.git")
    g.commit("Initial import of weatherlib", {
        "pyproject.toml": _PYPROJECT,
        "README.md": "# weatherlib\n\nTests need jq, `ci/deps/test-packages.txt` and WEATHERLIB_DATA=tests/data.\n",
        "src/weatherlib/__init__.py": '"""weatherlib: small weather statistics."""\n',
        "src/weatherlib/units.py": _UNITS_V0,
        "ci/deps/test-packages.txt": "humanize>=4.0\n",
        "tests/conftest.py": _CONFTEST,
        "tests/data/readings.json": '{"celsius": [21.5, null, 23.0, 19.25]}\n',
        "tests/test_units.py": _TEST_UNITS_V0,
    })
    units = _UNITS_V0.replace("    return celsius * 9 / 5 + 32\n", "    return round(celsius * 9 / 5 + 32, 1)\n")
    tests = _TEST_UNITS_V0 + dedent(
        """\


        def test_fahrenheit_is_rounded(readings):
            assert [celsius_to_fahrenheit(c) for c in readings["celsius"] if c is not None] == [70.7, 73.4, 66.7]
        """
    )
    g.commit("Round Fahrenheit conversions to one decimal", {"src/weatherlib/units.py": units,
                                                             "tests/test_units.py": tests})
    units = units.replace(
        "    return sum(readings) / len(readings)\n",
        "    present = [r for r in readings if r is not None]\n    return sum(present) / len(present)\n",
    )
    tests = tests.replace("from weatherlib.units import celsius_to_fahrenheit",
                          "from weatherlib.units import celsius_to_fahrenheit, daily_mean") + dedent(
        """\


        def test_daily_mean_skips_missing(readings):
            assert humanize.fractional(daily_mean(readings["celsius"])) == "21 1/4"
        """
    )
    g.commit("Ignore missing readings in the daily mean\n\nFixes #3", {"src/weatherlib/units.py": units,
                                                                     "tests/test_units.py": tests})
    return root


def scripted_reply(messages: list[dict], request: dict | None = None) -> str:
    """What a capable model answers each builder role for this repository (tests and benches use it as the
    script of a local OpenAI-compatible server, so the LLM path runs for real without a real model)."""
    system, last = messages[0]["content"], messages[-1]["content"]
    if "repository explorer" in system:
        steps = sum(1 for m in messages if m["role"] == "assistant")
        if steps == 0:
            return json.dumps({"tool": "search", "pattern": "WEATHERLIB_DATA"})
        if steps == 1:
            return json.dumps({"tool": "read_file", "path": NEEDS["requirements_file"]})
        return json.dumps({"tool": "done", "facts": (
            f"Tests read WEATHERLIB_DATA (set it to {NEEDS['test_env']['WEATHERLIB_DATA']}), call the jq binary "
            f"(Debian package jq), and import humanize, listed only in {NEEDS['requirements_file']}.")})
    task = next(m["content"] for m in messages if m["role"] == "user")
    if "You are the environment manager" in task:
        return "```json\n" + json.dumps({
            "python_version": "3.11", "system_packages": NEEDS["system_packages"], "env": {},
            "install_commands": [
                "python -m pip install --upgrade setuptools wheel", "python -m pip install '.[test]'",
                f"python -m pip install -r {NEEDS['requirements_file']}", "python -m pip install pytest"],
            "installable": True}) + "\n```"
    if "You are the test manager" in task:
        return json.dumps({"test_command": "", "pre_test_commands": [], "test_env": NEEDS["test_env"]})
    if "You are the test analyst" in task:
        return json.dumps({"role": "environment_manager", "feedback": f"install what {last[:40]} needs"})
    return "I am not sure what you want."


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m examples.weatherlib DIR")
    print(create(Path(sys.argv[1])))
