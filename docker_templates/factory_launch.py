"""issue-factory pytest launcher: the installed pytest, whatever files the work tree holds.

``python -m pytest`` puts the working directory first on sys.path, so a ``pytest.py`` (or ``_pytest/``,
``pluggy.py``...) in the repository would *be* the runner. This launcher imports pytest, its default
plugins, the installed entry-point plugins and the guard plugin with every path inside the work tree
removed, then puts the path back as ``python -m pytest`` has it (working directory first) and runs pytest.
Modules already imported cannot be shadowed any more. When pytest is only importable from the work tree
(pytest's own repository), it is imported from there: the repository is the runner.
"""
import contextlib
import importlib
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
cwd = os.getcwd()


def inside(entry):
    path = os.path.realpath(entry or cwd)
    return path == cwd or path.startswith(cwd + os.sep)


original = [p for p in sys.path if p != here]
sys.path[:] = [here] + [p for p in original if p and not inside(p)]
try:
    import _pytest.config
    import pytest

    for name in _pytest.config.default_plugins:
        with contextlib.suppress(ImportError):
            importlib.import_module("_pytest." + name)
    with contextlib.suppress(Exception):
        from importlib.metadata import entry_points

        points = entry_points()
        points = points.select(group="pytest11") if hasattr(points, "select") else points.get("pytest11", ())
        for point in points:
            with contextlib.suppress(Exception):
                importlib.import_module(point.value.split(":")[0])
except ImportError:
    sys.path[:] = [here, cwd] + original
    import pytest
import factory_guard  # noqa: E402,F401  (the module -p factory_guard names)

sys.path[:] = [cwd] + original + [here]
raise SystemExit(pytest.console_main() if hasattr(pytest, "console_main") else pytest.main())
