"""Explorer role, heuristic implementation: read a repository at base_commit and state its setup facts.

It looks where Python projects declare how they are built and tested — pyproject.toml, setup.cfg,
setup.py, requirements*.txt, tox.ini, CI workflow files — and answers two questions with a recorded
reason: which Python (among those the offline bootstrap can make) and which install commands. What the
test suite needs installed (extras, groups, test requirements) comes from :mod:`.test_needs`.
"""

from __future__ import annotations

import configparser
import contextlib
import hashlib
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from datetime import date

from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from agents.builder.test_needs import added_by_fix, gather
from factory.core.dependency_policy import released_by
from factory.core.recipe import Recipe, fingerprint
from factory.core.settings import DEBIAN_PYTHONS
from factory.mining.mirror import Snapshot

_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")
_TOX_ENV = re.compile(r"\bpy3(\d+)\b")
_CI_VERSIONS = re.compile(
    r"python-version\s*:\s*(\[[^\]]*\]|['\"]?3\.\d+['\"]?|(?:-\s*['\"]?3\.\d+['\"]?\s*)+)"
)
_SETUP_PY_REQUIRES = re.compile(r"python_requires\s*=\s*['\"]([^'\"]+)['\"]")
_SETUP_PY_NAME = re.compile(r"\bname\s*=\s*['\"]([A-Za-z0-9._-]+)['\"]")
PYTEST = "python -m pip install pytest"
REBUILD_EXTENSIONS = "python setup.py build_ext --inplace -q"
"""pallets/markupsafe: a fix to ``_speedups.c`` was tested against the extension built at the base commit (the
``_speedups`` variants still failed after the fix: fail2fail). Run as the test user, in /testbed only."""
_EXTENSION_SOURCE = re.compile(r"\.(c|cc|cpp|cxx|pyx)$")
_NOT_PACKAGE = re.compile(r"^(tests?|docs?|examples?|benchmarks?|bench|vendor|third_party)/")
DEPENDENCY_FILES = re.compile(
    r"^(pyproject\.toml|setup\.cfg|setup\.py|tox\.ini|Pipfile|poetry\.lock|.*requirements.*\.(txt|in))$", re.I
)


@dataclass
class SetupFacts:
    python_version: str
    python_reason: str
    install_commands: list[str]
    """Shell commands run from the source root inside the env image, in order."""
    installable: bool
    """True when the repo is a package (pyproject/setup.py/setup.cfg) that pip can install."""
    dependency_files: dict[str, str] = field(default_factory=dict)
    """Path -> sha256 of every file that decides the installed dependencies."""
    notes: list[str] = field(default_factory=list)
    project_name: str = ""
    """Distribution name from pyproject / setup.cfg / setup.py (empty if none is declared)."""
    requirements: list[str] = field(default_factory=list)
    """Requirement strings the project declares (runtime, extras, requirements files): what the memory
    pool compares between repositories."""
    unreachable: list[str] = field(default_factory=list)
    """What the suite was written with that cannot be fetched here (URLs its test configuration installs, git
    submodules): a failing verdict is then no rejection (``Builder.settle``)."""
    pre_test_commands: list[str] = field(default_factory=list)
    """Run after the patches and before the tests: a project with compiled extensions rebuilds them in
    place (``REBUILD_EXTENSIONS``), or a fix to its C code is tested against the extension of the base."""
    local_projects: list[str] = field(default_factory=list)
    """Projects inside the repository the test configuration installs (``Recipe.local_projects``)."""

    def recipe(self) -> Recipe:
        """The heuristic recipe these facts imply."""
        return Recipe(
            python_version=self.python_version,
            install_commands=self.install_commands,
            installable=self.installable,
            project_name=self.project_name,
            pre_test_commands=self.pre_test_commands,
            local_projects=self.local_projects,
        )

    def fingerprint(self) -> str:
        """Fingerprint of the heuristic recipe on this commit's dependency files."""
        return fingerprint(self.recipe(), self.dependency_files)


def _minor(v: str) -> int:
    return int(v.split(".")[1])


def _rank(v: str) -> int:
    """``3.11`` -> 311, ``2.7`` -> 207, ``3`` -> 300: a distance that works across major versions."""
    release = Version(v).release + (0,)
    return release[0] * 100 + release[1]


def choose_python(
    requires: str | None, declared: set[str], default: str, available: tuple[str, ...] = tuple(DEBIAN_PYTHONS),
    released_before: date | None = None,
) -> tuple[str, str]:
    """Nearest available Python the project supports, and why.

    ``requires`` (requires-python) is a hard constraint; ``declared`` versions (classifiers, tox, CI) are
    what the project is known to be tested on. The default wins when both allow it. With
    ``released_before`` (the base commit's date) only interpreters released by then count as supported —
    dependencies resolved as of that date may not run on a later one — and the newest declared one of those
    wins; when none was released by then, the oldest allowed one is the nearest possible pair.
    """
    spec = None
    if requires:
        try:
            spec = SpecifierSet(requires)
        except InvalidSpecifier:
            spec = None
    allowed = [v for v in available if spec is None or spec.contains(Version(v))]
    if allowed and released_before is not None:
        dated = [v for v in allowed if released_by(v, released_before)]
        if not dated:
            oldest = min(allowed, key=_rank)
            return oldest, (f"no allowed Python was released by the base commit ({released_before}); {oldest} is "
                            f"the oldest (test tooling is resolved for it); requires-python {requires or 'unset'}")
        newest_declared = max((v for v in dated if v in declared), key=_rank, default=None)
        if newest_declared:
            return newest_declared, (
                f"newest declared Python released by the base commit ({released_before}; declared "
                f"{', '.join(sorted(declared, key=_rank))}); requires-python {requires or 'unset'}")
        version, why = choose_python(requires, declared, default, tuple(dated))
        return version, f"{why}; only Pythons released by the base commit ({released_before}) considered"
    if not allowed:
        # Nearest to the declared versions, else to the versions the specifier names (">=3.14" -> 3.13).
        named = {s.version.removesuffix(".*") for s in spec or ()}
        anchors = declared or {v for v in named if re.fullmatch(r"\d+(\.\d+)*", v)} or {default}
        nearest = min(available, key=lambda v: (min(abs(_rank(v) - _rank(a)) for a in anchors), _rank(v)))
        return nearest, f"no available Python satisfies requires-python {requires!r}; nearest is {nearest}"
    if declared:
        def distance(v: str) -> tuple[int, int, int]:
            gap = min(abs(_minor(v) - _minor(d)) for d in declared)
            return (gap, 0 if v == default else 1, -_minor(v))

        best = min(allowed, key=distance)
        why = "declared" if best in declared else "nearest to the declared versions"
        return best, f"{why} ({', '.join(sorted(declared, key=_minor))}); requires-python {requires or 'unset'}"
    if default in allowed:
        return default, f"default {default}; requires-python {requires or 'unset'} allows it"
    best = min(allowed, key=lambda v: abs(_minor(v) - _minor(default)))
    return best, f"requires-python {requires} excludes {default}; nearest allowed is {best}"


def _pyproject(snapshot: Snapshot) -> dict:
    text = snapshot.read("pyproject.toml")
    if not text:
        return {}
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _setup_cfg(snapshot: Snapshot) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    text = snapshot.read("setup.cfg")
    if text:
        with contextlib.suppress(configparser.Error):
            parser.read_string(text)
    return parser


def _pip_install(requirements: list[str], constraints: str = "") -> str:
    """One pip command for validated requirement strings, each quoted for the shell. Exact pins (a lock file's)
    fall back to the same names unpinned, resolved as of the commit's day: uv refuses a pin whose wheel has
    inconsistent metadata (markupsafe's ``iniconfig==1.0.0``) where pip did not."""
    command = "python -m pip install " + " ".join(shlex.quote(r) for r in requirements) + constraints
    unpinned = [_unpinned(r) for r in requirements]
    if unpinned == requirements:
        return command
    return f"{command} || python -m pip install " + " ".join(shlex.quote(r) for r in unpinned) + constraints


def _unpinned(requirement: str) -> str:
    """``name[extra]==1.0; marker`` -> ``name[extra]; marker`` (other specifiers are kept)."""
    req = Requirement(requirement)
    if not any(s.operator in ("==", "===") for s in req.specifier):
        return requirement
    req.specifier = SpecifierSet()
    return str(req)


def _submodules(snapshot: Snapshot) -> list[str]:
    """Git submodules (``.gitmodules``): a mirror holds none of their content, and their hosts cannot be
    reached here (python-poetry/tomlkit's tests read the toml-test suite from one)."""
    parser = configparser.ConfigParser(interpolation=None)
    with contextlib.suppress(configparser.Error):
        parser.read_string(snapshot.read(".gitmodules") or "")
    return [f"git submodule {parser.get(s, 'path', fallback=s)} ({parser.get(s, 'url', fallback='?')})"
            for s in parser.sections() if s.startswith("submodule")]


def explore(snapshot: Snapshot, default_python: str = "3.11", fixed: Snapshot | None = None) -> SetupFacts:
    """Setup facts for the repository at ``snapshot`` (deterministic: same commit, same facts); with ``fixed``
    (the fix commit), the test requirements the fix adds (``test_needs.added_by_fix``) are installed too."""
    files = snapshot.files()
    pyproject = _pyproject(snapshot)
    cfg = _setup_cfg(snapshot)
    setup_py = snapshot.read("setup.py") or ""
    notes: list[str] = []

    requires = pyproject.get("project", {}).get("requires-python") or cfg.get(
        "options", "python_requires", fallback=None
    )
    if not requires:
        match = _SETUP_PY_REQUIRES.search(setup_py)
        requires = match.group(1) if match else None
    declared: set[str] = set()
    classifiers = "\n".join(pyproject.get("project", {}).get("classifiers", [])) + cfg.get(
        "metadata", "classifiers", fallback=""
    ) + setup_py
    declared.update(_CLASSIFIER.findall(classifiers))
    declared.update(f"3.{m}" for m in _TOX_ENV.findall(snapshot.read("tox.ini") or ""))
    for path in files:
        if path.startswith(".github/workflows/") and path.endswith((".yml", ".yaml")):
            for group in _CI_VERSIONS.findall(snapshot.read(path) or ""):
                declared.update(re.findall(r"3\.\d+", group))
    python_version, python_reason = choose_python(requires, declared, default_python)

    needs = gather(snapshot, pyproject, cfg)

    installable = any(snapshot.exists(f) for f in ("pyproject.toml", "setup.py", "setup.cfg"))
    if "pyproject.toml" in files and not ("build-system" in pyproject or "project" in pyproject) and not (
        snapshot.exists("setup.py") or snapshot.exists("setup.cfg")
    ):
        installable = False
        notes.append("pyproject.toml declares no build system; the repo is not pip-installed")
    constraints = "".join(f" -c {shlex.quote(c)}" for c in needs.constraints)
    commands = ["python -m pip install --upgrade setuptools wheel"]
    if needs.before:
        commands.append(_pip_install(needs.before, constraints))
    if installable:
        target = f".[{','.join(needs.extras)}]" if needs.extras else "."
        # extra names are checked (letters, digits, ._-): nothing in the target needs escaping
        commands.append(f"python -m pip install '{target}'" + constraints)
    for _, reqs in needs.installs:
        if (command := _pip_install(reqs, constraints)) not in commands:
            commands.append(command)
    added = added_by_fix(needs, gather(fixed, _pyproject(fixed), _setup_cfg(fixed))) if fixed else []
    if added:  # beyond what the base declares: one that cannot be installed leaves the base's env standing
        commands.append(_pip_install(added, constraints) + " || echo 'factory: the test requirements the fix"
                        " adds could not be installed'")
        notes.append(f"the fix adds test requirement(s): {', '.join(added)}")
    commands = [c for c in commands if c != PYTEST] + [PYTEST]  # pytest last, once
    notes.extend(needs.notes)

    dependency_files = {
        p: hashlib.sha256((snapshot.read(p) or "").encode()).hexdigest()
        for p in files
        if p in needs.files_read
        or (DEPENDENCY_FILES.match(p) and "/" not in p.strip("/").removeprefix("requirements/"))
    }
    name = pyproject.get("project", {}).get("name") or cfg.get("metadata", "name", fallback="")
    if not name:
        match = _SETUP_PY_NAME.search(setup_py)
        name = match.group(1) if match else ""
    compiled = snapshot.exists("setup.py") and any(
        _EXTENSION_SOURCE.search(f) and not _NOT_PACKAGE.match(f) for f in files)
    if compiled:
        notes.append("compiled extension sources: rebuilt in place after the patches")
    unreachable = needs.unreachable + _submodules(snapshot)
    return SetupFacts(
        python_version, python_reason, commands, installable, dependency_files, notes,
        str(name) if re.fullmatch(r"[A-Za-z0-9._-]+", str(name)) else "",
        [r.strip() for r in needs.requirements if r.strip()],
        unreachable,
        [REBUILD_EXTENSIONS] if compiled else [],
        needs.local_projects,
    )
