"""Test manager role, heuristic implementation: write the eval script for a candidate.

Target tests are the Python test modules the test patch touches or adds (new files included — the
SWE-Factory agents never see those). The test patch is inlined in the script, so the exported script is
self-contained and runs in the instance image with nothing else.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from pathlib import PurePosixPath

from factory.core.models import Candidate
from factory.core.recipe import Recipe
from factory.core.templates import render
from factory.grading.contract import machinery_hunks, template_values
from factory.grading.contract import run_driver as contract_run_driver
from factory.mining.mirror import Snapshot
from factory.mining.split import TEST_DIRS

JUNIT_PATH = "$FACTORY_JUNIT"
"""Where pytest writes its JUnit report: a folder of the test user's that the eval script makes per run."""
PYTEST = "$FACTORY_PYTEST"
"""The eval script's pytest launcher (``docker_templates/factory_launch.py``): the installed pytest, never a
file of the work tree."""


NO_PLUGINS = "-p no:cacheprovider -p no:randomly"
"""No cache in the work tree (pytest 3.0 cannot move it elsewhere), and no pytest-randomly: a validation run
must repeat itself, and an old randomly cannot run without the cache (``'Config' object has no attribute
'cache'``: every hukkin/tomli run ended in an internal error)."""
_PYTEST_FILE = re.compile(r"^(test_.*|.*_test)\.py$")
_PYTHON_FILES = re.compile(r"^\s*python_files\s*=", re.M)


def target_tests(test_files: list[str], snapshot: Snapshot | None = None) -> list[str]:
    """Runnable test modules among the changed test files; their folders when none is a module.

    Modules named like pytest's default ``python_files`` (``test_*.py``, ``*_test.py``) win: a helper or
    data file under ``tests/`` given to pytest by path is collected too, and one that cannot be imported
    before the fix would end the before-run with no test run. Other modules count only when no module
    has a test name and the project declares its own ``python_files`` (read from ``snapshot``): else a
    test patch that changes only a helper (marshmallow's ``tests/base.py``) ran no test at all, and the
    tests that use the helper live in its folder.
    """
    modules = [
        f for f in test_files
        if f.endswith(".py") and PurePosixPath(f).name not in ("conftest.py", "__init__.py")
    ]
    named = [f for f in modules if _PYTEST_FILE.match(PurePosixPath(f).name)]
    if named or (modules and (snapshot is None or declares_python_files(snapshot))):
        return sorted(set(named or modules))
    folders = set()
    for f in test_files:
        parts = PurePosixPath(f).parts
        cut = next((i for i, p in enumerate(parts[:-1]) if p in TEST_DIRS), len(parts) - 2)
        folders.add("/".join(parts[: cut + 1]) or ".")
    return sorted(folders)


def declares_python_files(snapshot: Snapshot) -> bool:
    """Whether a pytest configuration file names its own test-module pattern (``python_files``)."""
    return any(_PYTHON_FILES.search(snapshot.read(name) or "")
               for name in ("pytest.ini", "setup.cfg", "tox.ini", "pyproject.toml", ".pytest.ini"))


def test_command(targets: list[str], deselect: list[str] = ()) -> str:
    args = " ".join(shlex.quote(t) for t in targets)
    left_out = "".join(f" --deselect {shlex.quote(t)}" for t in deselect)
    return (
        f"{PYTEST} -rA {NO_PLUGINS} -o junit_family=xunit1 --continue-on-collection-errors "
        f'--junitxml="{JUNIT_PATH}"{left_out} {args}'
    )


_PYTHON_M_PYTEST = re.compile(r"(?<![\w./-])python3?(?:\.\d+)?\s+-m\s+pytest(?![\w.-])")
_BARE_PYTEST = re.compile(r"(^|[;&|(]\s*)(?:py\.test|pytest)(?=\s|$)")


def guarded_command(command: str) -> str:
    """A recipe's own test command with every pytest invocation run through the launcher, so the work tree
    cannot shadow the runner (``python -m pytest`` puts the working directory first on sys.path)."""
    command = _PYTHON_M_PYTEST.sub(lambda _: PYTEST, command)
    return _BARE_PYTEST.sub(lambda m: m.group(1) + PYTEST, command)


def _delimiter(text: str) -> str:
    """A heredoc delimiter absent from ``text``, derived from it so the script is reproducible."""
    salt = 0
    while True:
        candidate = f"FACTORY_PATCH_EOF_{hashlib.sha256(f'{salt}:{text}'.encode()).hexdigest()[:12]}"
        if candidate not in text:
            return candidate
        salt += 1


def _exists(snapshot: Snapshot, path: str) -> bool:
    """A file or a folder of the base commit."""
    return snapshot.exists(path) or any(f.startswith(path + "/") for f in snapshot.files())


def write_eval_script(candidate: Candidate, snapshot: Snapshot, recipe: Recipe | None = None) -> str:
    """The eval script for ``candidate``; the recipe may name its own test command, env and set-up."""
    recipe = recipe or Recipe(python_version="3.11", install_commands=[])
    targets = target_tests(candidate.test_files, snapshot)
    command = recipe.test_command.strip()
    if command:
        command = command.replace("{targets}", " ".join(shlex.quote(t) for t in targets))
        command = guarded_command(command.replace("{junit}", f'"{JUNIT_PATH}"'))
    else:
        command = test_command(targets, recipe.deselect)
    test_patch = candidate.test_patch if candidate.test_patch.endswith("\n") else candidate.test_patch + "\n"
    test_patch += machinery_hunks(candidate.patch, lambda p: _exists(snapshot, p))
    return render(
        "eval.sh.j2",
        instance_id=candidate.instance_id,
        repo=candidate.repo,
        base_commit=candidate.base_commit,
        test_patch=test_patch,
        delimiter=_delimiter(test_patch),
        pre_test_commands=recipe.pre_test_commands,
        test_env=recipe.test_env,
        test_command=command,
        run_as_root=recipe.run_as_root,
        canary_modules=[t for t in targets if t.endswith(".py")],
        **template_values(),
    )


def run_driver(patch_name: str) -> str:
    """Container entry script (kept here for the builder's callers; the contract owns it)."""
    return contract_run_driver(patch_name)
