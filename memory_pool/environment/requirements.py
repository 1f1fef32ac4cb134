"""Project names from requirement lines: how the environment pool tells which projects a repository needs.

The pool compares repositories by the projects they depend on (:meth:`EnvironmentPool.similar`) and
stores those names with every entry, so the names must come out the same whatever shape the lines came
in: a requirement string, a requirements-file line, or a whole file's text. This module is only that
parsing (pip-like logical lines, then one project name per line, PEP 503-normalized); it knows nothing
of the pool or the store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

_COMMENT = re.compile(r"(^|\s)#.*$")
_EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)?(\S+)")
_EGG = re.compile(r"[#&]egg=([A-Za-z0-9][A-Za-z0-9._-]*)")
_OPTION_TAIL = re.compile(r"\s+--[A-Za-z].*$")  # per-requirement options: --hash=..., --config-settings ...
_LEADING_NAME = re.compile(r"^([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?=$|[\[<>=!~;(])")
_WHEEL = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._]*[A-Za-z0-9])?)-[^/-]+-[^/]*\.whl$")


def _logical_lines(lines: Iterable[str]) -> Iterator[str]:
    """Split elements that hold several lines and join backslash continuations, as pip does."""
    pending = ""
    for element in lines:
        for line in element.splitlines() or [""]:
            stripped = line.rstrip()
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            yield pending + line
            pending = ""
    if pending:
        yield pending


def _requirement_name(line: str) -> str | None:
    line = _COMMENT.sub("", line).strip()
    if not line:
        return None
    if line.startswith("-"):
        # Options name no project (-r/-c files, -i/--index-url, --hash ...), except an editable
        # install that says which project it is with #egg=<name>.
        editable = _EDITABLE.match(line)
        egg = _EGG.search(editable.group(1)) if editable else None
        return egg.group(1) if egg else None
    line = _OPTION_TAIL.sub("", line)
    try:
        return Requirement(line).name
    except InvalidRequirement:
        pass
    egg = _EGG.search(line)
    if egg:
        return egg.group(1)
    wheel = _WHEEL.search(line)
    if wheel:
        return wheel.group(1)
    if "/" in line or line.startswith("."):
        return None  # a path or URL without a project name
    leading = _LEADING_NAME.match(line)
    return leading.group(1) if leading else None


def dependency_names(requirement_lines: Iterable[str]) -> set[str]:
    """PEP 503-normalized project names from requirement strings or requirements-file lines.

    Versions, extras, markers, comments and per-requirement options are dropped; ``-r``/``-c``/index
    options and bare paths or URLs name no project and are skipped; ``-e <url>#egg=<name>`` and wheel
    file names give their project. An element may also hold a whole file's text.
    """
    names: set[str] = set()
    for line in _logical_lines(requirement_lines):
        name = _requirement_name(line)
        if name:
            names.add(canonicalize_name(name))
    return names
