"""What a repository's test suite needs installed, from every conventional place a project declares it.

A valid fix is lost when the suite cannot even import (``conftest.py`` imports a test-only package the
environment never got), so the explorer asks this module, which reads the project's real metadata —
never by running its code: pyproject ``[project.optional-dependencies]`` and PEP 735
``[dependency-groups]``, setup.cfg, setup.py (through :mod:`.static_python`), requirements files
(through :mod:`.requirement_files`), tox, nox, Pipfile, hatch, pdm and poetry (through
:mod:`.poetry_specs`). The answer is which extras to ask of the project install (pip ignores a missing
one, so every declared test-like extra is asked for, docs-only ones never) and, per source, the validated
requirement strings to install after it.
"""

from __future__ import annotations

import configparser
import posixpath
import re
import tomllib
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from agents.builder.poetry_specs import table_requirement
from agents.builder.requirement_files import URL, RequirementReader, logical_lines, valid_extra
from agents.builder.static_python import read_noxfile, read_setup_py
from factory.mining.mirror import Snapshot

TEST_EXTRAS = ("test", "tests", "testing", "dev")
_DOCS = re.compile(r"doc", re.I)
TEST_REQUIREMENT_FILES = re.compile(
    r"^(requirements[-_/]?(test|tests|testing|dev)s?\.(txt|in)|(test|tests|testing|dev)[-_]requirements\.(txt|in)"
    r"|requirements/(test|dev)[\w.-]*\.(txt|in)|tests?/requirements[\w.-]*\.(txt|in))$",
    re.I,
)
_TOX_REF = re.compile(r"\{\[([^\]]+)\]([\w-]+)\}")
_FACTOR = re.compile(r"^[\w{},.!-]+\s*:(?!:)\s*")


def is_test_name(name: str) -> bool:
    """An extra / group / env name that is about testing (``dev`` included, anything about docs not)."""
    canon = canonicalize_name(name)
    return not _DOCS.search(canon) and (canon in TEST_EXTRAS or "test" in canon)


def wanted_extras(declared: list[str], asked: list[str] = ()) -> list[str]:
    """Declared test-like extras — the conventional ones in ``TEST_EXTRAS`` order, then the rest sorted —
    and then the extras a test configuration asks for by name (tox ``extras``, ``.[x]`` in its deps), even one
    named for docs: jd/tenacity's tox installs ``.[doc]`` because that extra holds the tornado its tests import."""
    by_canon = {canonicalize_name(e): e for e in declared if valid_extra(e)}
    first = [by_canon[e] for e in TEST_EXTRAS if e in by_canon]
    rest = sorted(e for c, e in by_canon.items() if is_test_name(c) and e not in first)
    chosen = first + rest
    seen = {canonicalize_name(e) for e in chosen}
    for extra in asked:
        if valid_extra(extra) and canonicalize_name(extra) not in seen:
            seen.add(canonicalize_name(extra))
            chosen.append(extra)
    return chosen


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _dict(value: object, *keys: str) -> dict:
    """``value[k1][k2]...`` when every step is a table, else ``{}`` (a malformed file reads as empty)."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else {}


@dataclass
class TestNeeds:
    __test__ = False  # not a pytest class, whatever its name says

    extras: list[str] = field(default_factory=list)
    """Extras to ask of the project install, in order."""
    before: list[str] = field(default_factory=list)
    """Requirements to install before the project (the runtime requirements.txt)."""
    installs: list[tuple[str, list[str]]] = field(default_factory=list)
    """(source, validated requirement strings) to install after the project, in order."""
    constraints: list[str] = field(default_factory=list)
    """Constraints files inside the repository (``-c``) that pin every install."""
    requirements: list[str] = field(default_factory=list)
    """Every requirement the project declares (what the memory pool compares)."""
    files_read: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    """URLs the test configuration installs that no install here can fetch (see ``RequirementReader``)."""
    local_projects: list[str] = field(default_factory=list)
    """Projects inside the repository the test configuration installs (see ``RequirementReader``)."""


class _Gatherer:
    def __init__(self, snapshot: Snapshot, pyproject: dict, cfg: configparser.ConfigParser):
        self.snapshot, self.pyproject, self.cfg = snapshot, pyproject, cfg
        self.reader = RequirementReader(snapshot)
        self.declared_extras: list[str] = []
        self.asked_extras: list[str] = []
        self.needs = TestNeeds()

    def items(self, raws: object, where: str) -> list[str]:
        """Validated requirements of a list of requirement lines (includes and ``.[x]`` handled)."""
        out: list[str] = []
        for raw in raws if isinstance(raws, list) else []:
            if isinstance(raw, str):
                out.extend(r for r in self.reader.line(raw, ".", where) if r not in out)
        return out

    def add(self, where: str, requirements: list[str]) -> None:
        self.needs.requirements.extend(requirements)
        done = {r for _, reqs in self.needs.installs for r in reqs} | set(self.needs.before)
        fresh = [r for r in dict.fromkeys(requirements) if r not in done]
        if fresh:
            self.needs.installs.append((where, fresh))

    def read(self, path: str) -> str | None:
        text = self.snapshot.read(path)
        if text is not None:
            self.reader.files_read.add(path)
        return text

    def pyproject_sections(self) -> None:
        project = _dict(self.pyproject, "project")
        self.needs.requirements.extend(self.items(project.get("dependencies"), "pyproject.toml"))
        for extra, reqs in _dict(project, "optional-dependencies").items():
            self.declared_extras.append(str(extra))
            self.needs.requirements.extend(self.items(reqs, f"pyproject.toml extra {extra}"))
        groups = _dict(self.pyproject, "dependency-groups")
        for name in groups:
            if is_test_name(name):
                self.add(f"pyproject.toml [dependency-groups] {name}", self.items(
                    self.group(groups, name, ()), f"pyproject.toml dependency group {name}"))
        tool = _dict(self.pyproject, "tool")
        for env, table in _dict(tool, "hatch", "envs").items():
            if isinstance(table, dict) and (env == "default" or is_test_name(env)):
                where = f"pyproject.toml [tool.hatch.envs.{env}]"
                self.asked_extras.extend(f for f in _list(table.get("features")) if isinstance(f, str))
                deps = _list(table.get("dependencies")) + _list(table.get("extra-dependencies"))
                self.add(where, self.items(deps, where))
        for name, reqs in _dict(tool, "pdm", "dev-dependencies").items():
            if is_test_name(name):
                self.add(f"pyproject.toml [tool.pdm.dev-dependencies] {name}", self.items(reqs, f"pdm group {name}"))
        poetry = _dict(tool, "poetry")
        self.declared_extras.extend(_dict(poetry, "extras"))
        tables = [("dev-dependencies", _dict(poetry, "dev-dependencies"))] + [
            (f"group.{g}.dependencies", _dict(t, "dependencies"))
            for g in _dict(poetry, "group") if is_test_name(g)
            for t in [_dict(poetry, "group", g)]
        ]
        for label, table in tables:
            where = f"pyproject.toml [tool.poetry.{label}]"
            reqs = [table_requirement(n, v, where, self.reader.notes) for n, v in table.items()]
            self.add(where, self.items(reqs, where))
        legacy = _dict(tool, "tox").get("legacy_tox_ini")
        if isinstance(legacy, str) and not self.snapshot.exists("tox.ini"):
            self.tox(legacy, "pyproject.toml [tool.tox]")

    def group(self, groups: dict, name: str, stack: tuple[str, ...]) -> list[str]:
        """PEP 735 group ``name`` with its ``include-group`` entries expanded; a cycle is refused."""
        canon = {canonicalize_name(k): k for k in groups}
        key = canon.get(canonicalize_name(name))
        if key is None:
            self.reader.notes.append(f"pyproject.toml: dependency group {name!r} is not defined")
            return []
        if canonicalize_name(name) in stack:
            cycle = " -> ".join((*stack, canonicalize_name(name)))
            self.reader.notes.append(f"pyproject.toml: dependency groups include each other ({cycle}); refused")
            return []
        out: list[str] = []
        for item in groups[key] if isinstance(groups[key], list) else []:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("include-group"), str):
                out.extend(self.group(groups, item["include-group"], (*stack, canonicalize_name(name))))
        return out

    def setup_files(self) -> None:
        cfg = self.cfg
        runtime = logical_lines(cfg.get("options", "install_requires", fallback=""))
        self.needs.requirements.extend(self.items(runtime, "setup.cfg"))
        if cfg.has_section("options.extras_require"):
            for extra in cfg.options("options.extras_require"):
                self.declared_extras.append(extra)
                value = cfg.get("options.extras_require", extra)
                self.needs.requirements.extend(self.items(logical_lines(value), f"setup.cfg extra {extra}"))
        tests = cfg.get("options", "tests_require", fallback="")
        self.add("setup.cfg tests_require", self.items(logical_lines(tests), "setup.cfg tests_require"))
        text = self.read("setup.py")
        if text:
            setup = read_setup_py(text)
            self.reader.notes.extend(setup.notes)
            self.needs.requirements.extend(self.items(setup.install_requires, "setup.py"))
            for extra, reqs in setup.extras.items():
                self.declared_extras.append(extra)
                self.needs.requirements.extend(self.items(reqs, f"setup.py extra {extra}"))
            self.add("setup.py tests_require", self.items(setup.tests_require, "setup.py tests_require"))

    def requirement_files(self) -> None:
        files = self.snapshot.files()
        runtime = next((p for p in ("requirements.txt", "requirements.in") if p in files), None)
        if runtime:
            self.needs.before = self.reader.file(runtime)
            self.needs.requirements.extend(self.needs.before)
        chosen = [p for p in files if TEST_REQUIREMENT_FILES.match(p)]
        if any("test" in posixpath.basename(p).lower() for p in chosen):  # dev files then add tooling only
            chosen = [p for p in chosen if "test" in posixpath.basename(p).lower()]
        for path in chosen:  # pip-tools: the compiled .txt pins what its .in names
            if path.endswith(".in") and path[:-3] + ".txt" in chosen:
                continue
            self.add(path, self.reader.file(path))
        for path in files:  # the rest still say which projects the repository uses
            if re.search(r"requirements.*\.(txt|in)$", path, re.I) and path not in self.reader.files_read:
                self.needs.requirements.extend(logical_lines(self.snapshot.read(path) or ""))

    def tox(self, text: str, where: str) -> None:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text)
        except configparser.Error:
            self.reader.notes.append(f"{where}: not parsed")
            return
        self.asked_extras.extend(
            e.strip() for e in re.split(r"[\s,]+", parser.get("testenv", "extras", fallback="")) if e.strip())
        lines = []
        for line in logical_lines(self._tox_value(parser, "testenv", "deps", 0)):
            if _FACTOR.match(line) and not line.startswith(("-", ".")) and not URL.match(line):
                continue  # a factor-conditional dep (py38: x) belongs to one env only
            line = line.replace("{toxinidir}/", "").replace("{toxinidir}", ".")
            if "{" in line:
                self.reader.notes.append(f"{where}: skipped dep with a substitution {line[:60]!r}")
                continue
            lines.append(line)
        self.add(f"{where} [testenv] deps", self.items(lines, where))

    def _tox_value(self, parser: configparser.ConfigParser, section: str, key: str, depth: int) -> str:
        """``section.key`` with ``{[other]key}`` references substituted (a few levels deep)."""
        value = parser.get(section, key, fallback="")
        if depth > 5:
            return ""
        return _TOX_REF.sub(lambda m: self._tox_value(parser, m.group(1), m.group(2), depth + 1), value)

    def nox(self) -> None:
        text = self.read("noxfile.py")
        if not text:
            return
        args, notes = read_noxfile(text, is_test_name)
        self.reader.notes.extend(notes)
        lines, pending = [], ""
        for arg in args:
            if arg in ("-r", "--requirement", "-c", "--constraint", "-e", "--editable"):
                pending = arg
                continue
            lines.append(f"{pending} {arg}".strip())
            pending = ""
        self.add("noxfile.py", self.items(lines, "noxfile.py"))

    def pipfile(self) -> None:
        text = self.read("Pipfile")
        if not text:
            return
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            self.reader.notes.append("Pipfile: not parsed")
            return
        for section in ("packages", "dev-packages"):
            table = _dict(data, section)
            where = f"Pipfile [{section}]"
            reqs = self.items([table_requirement(n, v, where, self.reader.notes) for n, v in table.items()], where)
            if section == "packages":
                self.needs.requirements.extend(reqs)
            else:
                self.add(where, reqs)


def gather(snapshot: Snapshot, pyproject: dict, cfg: configparser.ConfigParser) -> TestNeeds:
    """Test needs of the repository at ``snapshot`` (``pyproject`` / ``cfg``: its parsed files, maybe empty)."""
    g = _Gatherer(snapshot, pyproject, cfg)
    for step in (g.requirement_files, g.pyproject_sections, g.setup_files):
        step()
    tox = g.read("tox.ini")
    if tox:
        g.tox(tox, "tox.ini")
    g.nox()
    g.pipfile()
    needs = g.needs
    needs.constraints = list(g.reader.constraints)
    needs.extras = wanted_extras(g.declared_extras, [*g.asked_extras, *g.reader.extras])
    needs.files_read = set(g.reader.files_read) | {p for p in ("pyproject.toml", "setup.cfg") if snapshot.exists(p)}
    needs.notes = list(dict.fromkeys(g.reader.notes))
    needs.unreachable = list(dict.fromkeys(g.reader.unreachable))
    needs.local_projects = list(g.reader.local_projects)
    return needs


def added_by_fix(base: TestNeeds, fixed: TestNeeds) -> list[str]:
    """Test requirements the fix commit declares whose projects the base commit does not name at all
    (psf/requests' fix adds ``trustme`` to requirements-dev.txt, which its new conftest imports; hukkin/tomli's
    adds ``python-dateutil`` to its poetry dev-dependencies): the environment of the fix's own tests holds them.
    A changed version of a project the base already names is not taken: the base's environment stands."""
    known = {_name(r) for r in base.requirements} | {_name(r) for _, reqs in base.installs for r in reqs}
    known |= {_name(r) for r in base.before}
    added: list[str] = []
    for _, reqs in fixed.installs:
        added.extend(r for r in reqs if _name(r) not in known and r not in added)
    return added


def _name(requirement: str) -> str:
    try:
        return canonicalize_name(Requirement(requirement).name)
    except InvalidRequirement:
        return requirement
