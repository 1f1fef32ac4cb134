"""issue-factory pytest launcher: the installed pytest, whatever files the work tree holds.

``python -m pytest`` puts the working directory first on sys.path, so a ``pytest.py`` (or ``_pytest/``,
``pluggy.py``...) in the repository would *be* the runner. This launcher imports pytest, its default
plugins and the guard plugin with every path inside the work tree removed, then puts the path back as
``python -m pytest`` has it (working directory first) and runs pytest. Modules already imported cannot be
shadowed any more (a module shadowing an installed plugin is code in the test process like any other: the
canaries see what it does). When pytest is only importable from the work tree
(pytest's own repository), it is imported from there: the repository is the runner.
"""
import contextlib
import importlib
import os
import sys
import traceback

here = os.path.dirname(os.path.abspath(__file__))
cwd = os.getcwd()


def inside(entry):
    path = os.path.realpath(entry or cwd)
    return path == cwd or path.startswith(cwd + os.sep)


original = [p for p in sys.path if p != here]


def import_runner():
    import _pytest.config
    import pytest

    for name in _pytest.config.default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module("_pytest." + name)
    return pytest


sys.path[:] = [here] + [p for p in original if p and not inside(p)]
try:
    pytest = import_runner()
except Exception:
    sys.path[:] = [here, cwd] + original  # pytest's own repository: the work tree is the runner
    try:
        import pytest
    except Exception as exc:  # the environment's pytest is broken: say so as `python -m pytest` would
        sys.stderr.write("factory: pytest cannot be imported in this environment\n")
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next, chain=False)
        raise SystemExit(1) from None
import factory_guard  # noqa: E402,F401  (the module -p factory_guard names)

sys.path[:] = [cwd] + original + [here]
raise SystemExit(int(pytest.main()))
