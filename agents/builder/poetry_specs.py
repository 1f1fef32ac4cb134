"""Poetry and Pipenv dependency tables as PEP 508 requirement strings.

Poetry writes ``requests = "^2.1"`` or ``{version = "~1.2", extras = ["x"], markers = "..."}`` and Pipenv
``pytest = "*"``; pip understands neither, so the builder converts them here: caret and tilde ranges
become ``>=,<`` pairs, a bare version becomes ``==``, and anything this module cannot translate loses
its version spec (the name alone still installs something that works more often than nothing). Git, path
and URL sources are skipped: they would fetch code the repository does not hold.
"""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet

_VERSION = re.compile(r"^\d+(\.\d+)*$")
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_SOURCES = ("git", "path", "url", "file", "editable")


def _caret(version: str) -> str:
    parts = [int(p) for p in version.split(".")]
    first = next((i for i, p in enumerate(parts) if p), len(parts) - 1)
    upper = [*parts[:first], parts[first] + 1]
    return f">={version},<{'.'.join(map(str, upper + [0] * max(0, len(parts) - len(upper))))}"


def _tilde(version: str) -> str:
    parts = [int(p) for p in version.split(".")]
    keep = 1 if len(parts) == 1 else 2
    upper = [*parts[: keep - 1], parts[keep - 1] + 1]
    return f">={version},<{'.'.join(map(str, upper + [0] * max(0, len(parts) - len(upper))))}"


def pep440(spec: str) -> str | None:
    """A PEP 440 specifier for a Poetry / Pipenv version constraint ("" for any), or None if untranslatable."""
    spec = spec.strip()
    if spec in ("", "*"):
        return ""
    if "||" in spec or "|" in spec:
        return None
    out = []
    for part in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", spec):
        part = part.replace(" ", "")
        if not part:
            continue
        if part.startswith("^") and _VERSION.match(part[1:]):
            out.append(_caret(part[1:]))
        elif part.startswith("~") and not part.startswith("~=") and _VERSION.match(part[1:]):
            out.append(_tilde(part[1:]))
        elif _VERSION.match(part) or re.fullmatch(r"\d+(\.\d+)*\.\*", part):
            out.append(f"=={part}")
        else:
            out.append(part)
    joined = ",".join(out)
    try:
        SpecifierSet(joined)
    except InvalidSpecifier:
        return None
    return joined


def table_requirement(name: str, value: object, where: str, notes: list[str]) -> str | None:
    """``name = value`` from a Poetry dependency group or a Pipfile section as a requirement string."""
    if not _NAME.match(name) or name.lower() == "python":
        return None
    extras: list[str] = []
    markers = ""
    version: object = value
    if isinstance(value, list):  # poetry multiple-constraint dependency: keep the name only
        notes.append(f"{where}: {name} has several constraints; installed without a version")
        version = ""
    elif isinstance(value, dict):
        if any(key in value for key in _SOURCES):
            notes.append(f"{where}: skipped {name} (a git/path/url source)")
            return None
        version = value.get("version", "")
        extras = [e for e in value.get("extras", []) if isinstance(e, str) and _NAME.match(e)]
        markers = value.get("markers", "") if isinstance(value.get("markers"), str) else ""
    spec = pep440(version) if isinstance(version, str) else None
    if spec is None:
        notes.append(f"{where}: {name} version {str(version)[:40]!r} not translated; installed without a version")
        spec = ""
    text = name + (f"[{','.join(extras)}]" if extras else "") + spec
    return f"{text}; {markers}" if markers else text
