"""The one dependency policy for everything installed into an instance's images (env and instance).

Why one place: a cut-off that reaches some installs and not others gives impossible environments — a
2021 project whose ``setup_requires`` fetched a 2026 setuptools_scm at the instance build, or a
``setuptools>=40.8`` build requirement that cannot be met when the cut-off is in 2013. So:

* the **project's dependencies** (and their build requirements, ``setup_requires`` included) resolve as of
  the day after the base commit (``exclude_newer_date``: a pin released later on the commit's day is kept);
* the **installers** (pip, uv) are never cut off;
* the **build toolchain and test tooling** (setuptools, wheel, pytest and what it needs) are no older than
  the interpreter needs: resolved as of the later of the cut-off and the interpreter's release +
  ``TOOLING_MARGIN``. A 2013 cut-off has no ``setuptools>=40.8``, a 2019 setuptools crashes on Python 3.9
  (``HTMLParser.unescape``) and a 2021 pytest's ``py`` on 3.11 (``__spec__``). Not "never cut off" for
  setuptools: the newest one has no ``pkg_resources``, which the cut-off's own build plugins import (a 2019
  ``setuptools_scm`` in ``setup_requires`` fails to build against setuptools 84 — seen in a real build).

uv applies it everywhere through one config file (``uv_config``): to ``uv pip install`` lines and to build
isolation alike; pip itself gets no index (``PIP_NO_INDEX``), so nothing installs past the policy.
``POLICY`` is part of the dependency fingerprint: changing what the policy installs must change it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from factory.core.settings import PYTHON_RELEASES

POLICY = ("day-after-commit; pip and uv uncut; setuptools, wheel and test tooling for the interpreter; "
          "editable setuptools; bytecode compiled at install (v5)")
UNCUT = ("pip", "uv")
"""Installers: what installs anything must not be held back by the project's date."""
FOR_THE_INTERPRETER = ("setuptools", "wheel", "pytest", "pluggy", "py", "iniconfig", "exceptiongroup", "tomli")
"""Build toolchain and test tooling: never older than the interpreter needs (``tooling_cutoff``)."""
TOOLING_MARGIN = timedelta(days=90)
"""How long after an interpreter's release its tooling is taken from (setuptools and pytest support it by then)."""
EDITABLE_SETUPTOOLS = "2023-07-01T00:00:00Z"
"""The instance image installs the project editable (PEP 660: setuptools >= 64, August 2022); its isolated
build takes setuptools as of this date at the earliest (68: editable installs, and still pkg_resources)."""
_FORMAT = "%Y-%m-%dT00:00:00Z"


def exclude_newer_date(commit_date: datetime) -> str:
    """Cut-off for the project's dependencies: midnight UTC after the base commit's (UTC) day. Whole days,
    so the commits of one day still share env images."""
    day = commit_date.astimezone(UTC).date() if commit_date.tzinfo else commit_date.date()
    return (day + timedelta(days=1)).strftime(_FORMAT)


def tooling_cutoff(python_version: str, cutoff: str) -> str:
    """Cut-off for the build toolchain and test tooling on ``python_version``: never older than it needs."""
    released = PYTHON_RELEASES.get(python_version)
    if released is None:
        return cutoff
    floor = (released + TOOLING_MARGIN).strftime(_FORMAT)
    return max(cutoff, floor)


EDITABLE_BACKENDS = ("setuptools", "poetry-core", "flit-core", "hatchling", "pdm-backend")
"""Build backends the instance image's isolated editable install takes as of ``editable_setuptools`` at the
earliest: PEP 660 (``build_editable``) came to each after many projects' base commits."""


def editable_setuptools(python_version: str, cutoff: str) -> str:
    """The setuptools cut-off of the instance image's editable install (``EDITABLE_SETUPTOOLS`` at the earliest)."""
    return max(tooling_cutoff(python_version, cutoff), EDITABLE_SETUPTOOLS)


def released_by(python_version: str, when: date) -> bool:
    """Whether CPython ``python_version`` was released on or before ``when`` (unknown versions: no)."""
    released = PYTHON_RELEASES.get(python_version)
    return released is not None and released <= when


def uv_config(python_version: str, cutoff: str) -> list[str]:
    """Lines of the ``uv.toml`` that carries the policy into every uv install of an env image."""
    # compile-bytecode: pip compiles at install, uv does not; a suite run with filterwarnings=error then
    # imports a dependency's invalid escape sequence as an error (pallets/flask: every conftest failed).
    lines = [f'exclude-newer = "{cutoff}"', "compile-bytecode = true", "", "[exclude-newer-package]"]
    lines += [f"{name} = false" for name in UNCUT]
    tooling = tooling_cutoff(python_version, cutoff)
    if tooling != cutoff:
        lines += [f'{name} = "{tooling}"' for name in FOR_THE_INTERPRETER]
    return lines
