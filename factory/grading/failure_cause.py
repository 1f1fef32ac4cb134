"""Why a target test failed before the fix: the repository's own code, or the environment (error2pass).

SWE-Factory's fail2pass check has precision 0.92 because it counts any failing before-run; its false
positives are *error2pass* cases, where the before-run failed for a reason the fix does not address in
the code under test (a third-party module missing from the image, a syntax error in the test patch
itself, a test command that does not exist). Those instances grade agents on environment luck.

The rule (docs/grading.md): a target test's before-failure is **genuine** when it failed or errored on
the repository's own code — an assertion, an exception raised by the code, or an ImportError of a
module or name the fix adds or of the repository's own packages. It is an **environment** failure when
the failure text says a module outside the repository is missing (``No module named 'yaml'``), a name
cannot be imported from a third-party package, or the test file the test patch wrote does not parse.
Pure text analysis of the failure text pytest wrote to the JUnit report and of the two patches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import PurePosixPath

_DIFF_HEADER = re.compile(r"^diff --git a/(\S+) b/(\S+)\s*$", re.M)
_ADDED_NAME = re.compile(
    r"^\+\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)"      # def / class
    r"|^\+([A-Za-z_]\w*)\s*(?::[^=]+)?=(?!=)"                   # module-level assignment
    r"|^\+\s*(?:from\s+\S+\s+)?import\s+(.+)$",                 # re-exported imports
    re.M,
)
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_CANNOT_IMPORT = re.compile(r"cannot import name '(\w+)' from '([\w.]+)'")
_SYNTAX = re.compile(r'File "([^"]+)", line \d+[^\n]*\n(?:[^\n]*\n){0,4}?[^\n]*\b(SyntaxError|IndentationError)\b')


class Cause(StrEnum):
    GENUINE = "genuine"
    MISSING_MODULE = "missing_module"
    """A module outside the repository (and not added by the fix) is not installed."""
    THIRD_PARTY_IMPORT = "third_party_import"
    """A name cannot be imported from a package outside the repository: the wrong version is installed."""
    TEST_PATCH_SYNTAX = "test_patch_syntax"
    """A file the test patch wrote does not parse."""


@dataclass(frozen=True)
class FixFacts:
    """What the gold patch adds and which packages the change belongs to, read from the two patches."""

    added_names: frozenset[str] = field(default_factory=frozenset)
    """Identifiers the gold patch defines or re-exports (``def``, ``class``, assignments, imports)."""
    own_packages: frozenset[str] = field(default_factory=frozenset)
    """Top-level names a module of the repository can be imported under, from every file either patch touches
    or creates (each path suffix is a candidate import root: ``_own_names``): the repository's own code."""
    test_files: frozenset[str] = field(default_factory=frozenset)
    """Paths the test patch writes."""


def _own_names(path: str) -> set[str]:
    """Top-level names under which a Python file of the repository can be imported, whatever the layout.

    The import root is not known (``src/``, ``lib/``, ``python/``, the repository root, …), so every path
    suffix is a candidate module: ``python/mypkg/new.py`` may be ``python.mypkg.new`` or ``mypkg.new``, so
    ``python`` and ``mypkg`` are the repository's own top-level names. The bare file name (``new``) counts
    only for a file at the repository root or a package's ``__init__.py``: a module named like a third-party
    one deep inside a package (``mypkg/yaml.py``) must not make a missing ``yaml`` read as the repository's.
    None for a file that is not Python.
    """
    p = PurePosixPath(path)
    if p.suffix != ".py":
        return set()
    parts = list(p.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        return set(parts[:-1])
    return set(parts[:-1]) if len(parts) > 1 else set(parts)


def _files(patch: str) -> list[str]:
    """Every path a git patch writes."""
    return [m.group(2) for m in _DIFF_HEADER.finditer(patch)]


def fix_facts(patch: str, test_patch: str) -> FixFacts:
    gold, tests = _files(patch), _files(test_patch)
    names: set[str] = set()
    for match in _ADDED_NAME.finditer(patch):
        defined, assigned, imported = match.groups()
        if defined or assigned:
            names.add(defined or assigned)
        elif imported:
            for item in imported.strip("()\\ ").split(","):
                word = item.split(" as ")[-1].strip(" ()")
                if word.isidentifier():
                    names.add(word)
    own = set().union(*(_own_names(path) for path in gold + tests))
    return FixFacts(frozenset(names), frozenset(own), frozenset(tests))


def _is_own(module: str, facts: FixFacts) -> bool:
    """Whether ``module`` belongs to the repository: its top-level package is one the patches touch (a
    module the fix creates is always under such a package)."""
    return module.split(".")[0] in facts.own_packages


def cause(failure_text: str, facts: FixFacts) -> tuple[Cause, str]:
    """The cause of one target test's before-failure, with the evidence quoted from its text."""
    if not failure_text:
        return Cause.GENUINE, ""
    syntax = _SYNTAX.search(failure_text)
    if syntax:
        path = syntax.group(1).removeprefix("/testbed/")
        if any(path == t or path.endswith("/" + t) for t in facts.test_files):
            return Cause.TEST_PATCH_SYNTAX, f"{syntax.group(2)} in {path}, a file of the test patch"
    missing = _NO_MODULE.search(failure_text)
    if missing and not _is_own(missing.group(1), facts):
        return Cause.MISSING_MODULE, f"third-party module {missing.group(1)!r} is not installed"
    cannot = _CANNOT_IMPORT.search(failure_text)
    if cannot:
        name, module = cannot.groups()
        if name not in facts.added_names and not _is_own(module, facts):
            return Cause.THIRD_PARTY_IMPORT, f"cannot import {name!r} from the third-party package {module!r}"
    return Cause.GENUINE, ""
