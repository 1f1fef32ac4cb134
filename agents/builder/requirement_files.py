"""Requirement strings the builder may hand to pip: validated one by one, and requirements files read safely.

Everything a repository declares is attacker-controlled text that ends up in a shell command inside the
env image, so a requirement is kept only when ``packaging`` parses it (then it is re-printed in its
canonical form, ready for ``shlex.quote``), and a requirements file is read here, never by pip: its
``-r`` / ``-c`` includes are followed only to files inside the repository at the commit (``-r
../../etc/passwd`` or an absolute path is refused with a note), cycles stop, and options that would
point pip elsewhere (index URLs, find-links) are dropped. Installing the project itself (``.``, ``-e
.[test]``) is not a requirement: its extras are reported so the caller asks for them on its one
project install.
"""

from __future__ import annotations

import contextlib
import posixpath
import re
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement

from factory.mining.mirror import Snapshot

_COMMENT = re.compile(r"(^|\s)#.*$")
_OPTION_TAIL = re.compile(r"\s+--?[A-Za-z].*$")  # per-requirement options: --hash=..., --config-settings
_INCLUDE = re.compile(r"^(-r|--requirement|-c|--constraint)(?:\s*=\s*|\s*)(\S+)$")
_EDITABLE = re.compile(r"^(?:-e|--editable)(?:\s*=\s*|\s+)(\S+)$")
_ROOT_EXTRAS = re.compile(r"^(?:file:)?\.?/?(?:\[([^\]]*)\])?$")
_VCS_EGG = re.compile(r"^(?:git|hg|svn|bzr)\+\S+?#(?:\S*&)?egg=([A-Za-z0-9][A-Za-z0-9._-]*)\S*$")
_EXTRA_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_LOCAL_PROJECT = re.compile(r"^(?:file:)?(?:\./)?([A-Za-z0-9_][A-Za-z0-9._/-]*?)/?(?:\[([^\]]*)\])?$")
"""A path to another project inside the repository (``examples/tutorial[test]``, ``-e ./plugins/x``)."""
PROJECT_FILES = ("pyproject.toml", "setup.py", "setup.cfg")
_BARE_MARKER_VERSION = re.compile(r"(python_(?:full_)?version\s*(?:[<>!=~]=?|===?)\s*)(\d[\w.*]*)")
"""A marker comparing the Python version with an unquoted number (``python_version>=3.0``): invalid PEP 508,
yet tox and old pip accepted it, and real tox files hold it (jd/tenacity)."""
_BRANCH_HEAD = re.compile(r"/archive/(?:refs/heads/)?(?:main|master|develop|dev)\.(?:tar\.gz|zip)$"
                          r"|@(?:main|master|develop|dev)(?:#.*)?$", re.I)
"""A URL requirement that follows a branch (``jinja2 @ https://github.com/pallets/jinja/archive/refs/heads/
main.tar.gz``, ``x @ git+https://…@main``): what it installs changes every day, so no build anywhere can give
the commit's version of it; its project as released by the cut-off stands in, and the suite is not the one it
was written for (``unreachable``)."""
URL = re.compile(r"^(?:[a-z]+\+)?(?:https?|ftp|ssh)://", re.I)
MAX_INCLUDES = 50


def valid_requirement(raw: str, where: str, notes: list[str]) -> str | None:
    """``raw`` in canonical PEP 508 form, or None (with a note naming ``where``) if it is not a requirement.

    URL requirements (``name @ https://…``) are kept; a bare path or URL is not a requirement."""
    text = raw.strip()
    if not text:
        return None
    try:
        return str(Requirement(text))
    except InvalidRequirement as exc:
        repaired = _BARE_MARKER_VERSION.sub(r"\1'\2'", text)  # tox and old pip took python_version>=3.0
        if repaired != text:
            with contextlib.suppress(InvalidRequirement):
                return str(Requirement(repaired))
        notes.append(f"{where}: dropped invalid requirement {text[:80]!r} ({str(exc).splitlines()[0][:80]})")
        return None


def _released(requirement: str) -> str:
    """``name[extra] @ url ; marker`` -> ``name[extra] ; marker``."""
    req = Requirement(requirement)
    req.url = None
    return str(req)


def valid_extra(name: str) -> bool:
    """A name pip accepts between the brackets of ``.[...]`` (and one that needs no shell quoting)."""
    return bool(_EXTRA_NAME.match(name))


def repository_path(base_dir: str, ref: str) -> str | None:
    """Normalised repository path of ``ref`` (relative to ``base_dir``), None if it would leave the repository."""
    ref = ref.replace("{toxinidir}", ".").replace("${PROJECT_ROOT}", ".").removeprefix("file:")
    if not ref or "://" in ref or ref.startswith(("/", "~", "\\")) or "{" in ref or "$" in ref:
        return None
    path = posixpath.normpath(posixpath.join(base_dir, ref))
    if path == ".." or path.startswith("../") or path.startswith("/"):
        return None
    return path


def inside(base_dir: str, ref: str, snapshot: Snapshot) -> str | None:
    """Repository path of the file ``ref`` (relative to ``base_dir``) if it stays inside the repository and
    exists."""
    path = repository_path(base_dir, ref)
    return path if path and snapshot.exists(path) else None


def root_extras(ref: str) -> list[str] | None:
    """Extras of a reference to the project itself (``.``, ``./``, ``.[test]``, ``file:.``); None if ``ref``
    is something else."""
    match = _ROOT_EXTRAS.match(ref.strip())
    if not match or not ref.strip():
        return None
    return [e.strip() for e in (match.group(1) or "").split(",") if valid_extra(e.strip())]


def logical_lines(text: str) -> list[str]:
    """Lines as pip reads them: backslash continuations joined, comments removed, blanks dropped."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        line = _COMMENT.sub("", pending + line).strip()
        pending = ""
        if line:
            out.append(line)
    if pending.strip():
        out.append(_COMMENT.sub("", pending).strip())
    return out


@dataclass
class RequirementReader:
    """Reads requirements files of one snapshot; ``files_read`` and ``notes`` accumulate across reads."""

    snapshot: Snapshot
    files_read: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    """Bare URLs a test configuration installs (pallets/flask's tox: werkzeug's master archive from GitHub):
    nothing here can install them, so the environment is not the one the suite was written for."""
    constraints: list[str] = field(default_factory=list)
    """Constraints files (``-c``) met in a read file, inside the repository."""
    extras: list[str] = field(default_factory=list)
    """Extras of the project itself that a read file asked for (``-e .[test]``)."""
    local_projects: list[str] = field(default_factory=list)
    """Other projects inside the repository that a read file installs, as ``path`` or ``path[extra,…]``
    (pallets/flask's tox installs ``examples/tutorial[test]``, whose tests import ``flaskr``). They are the
    commit's own code, so the instance image installs them, never the shared env image."""

    def line(self, raw: str, base_dir: str, where: str, seen: set[str] | None = None) -> list[str]:
        """Requirements from one requirements-file line (an include yields the included file's)."""
        text = raw.strip()
        include = _INCLUDE.match(text)
        if include:
            constraint = include.group(1) in ("-c", "--constraint")
            return self.file_ref(include.group(2), base_dir, where, seen, constraint=constraint)
        editable = _EDITABLE.match(text)
        if editable:
            text = editable.group(1)
        extras = root_extras(text)
        if extras is not None:
            self.extras.extend(e for e in extras if e not in self.extras)
            return []
        vcs = _VCS_EGG.match(text)
        if vcs:  # git+https://…#egg=name is pip's old spelling of "name @ git+https://…"
            text = f"{vcs.group(1)} @ {text}"
        elif text.startswith("-"):
            self.notes.append(f"{where}: ignored option {text[:60]!r}")
            return []
        local = None if vcs else self.local_project(text)
        if local:
            if local not in self.local_projects:
                self.local_projects.append(local)
            return []
        if (editable and not vcs) or text.startswith(".") or (("/" in text or "\\" in text) and "@" not in text):
            self.notes.append(f"{where}: ignored path or URL without a project name {text[:60]!r}")
            if URL.match(text):
                self.unreachable.append(text)
            return []
        requirement = valid_requirement(_OPTION_TAIL.sub("", text), where, self.notes)
        if requirement and _BRANCH_HEAD.search(Requirement(requirement).url or ""):
            self.unreachable.append(requirement)
            requirement = _released(requirement)
            self.notes.append(f"{where}: {requirement.split(';')[0]} from a branch head, installed as released")
        return [requirement] if requirement else []

    def local_project(self, text: str) -> str | None:
        """``path[extras]`` (repository-relative, normalised) when ``text`` names a project directory inside
        the repository at the commit, else None. Its characters are checked, so it needs no shell quoting.
        Relative to the repository root even inside an included file: pip resolves such a path from the
        directory it runs in, and tox and CI run it from the root."""
        match = _LOCAL_PROJECT.match(text)
        if not match or ("/" not in text and not text.startswith(".")):
            return None  # a bare word is a requirement name, not a path
        path = repository_path(".", match.group(1))
        if not path or path == "." or not any(self.snapshot.exists(f"{path}/{f}") for f in PROJECT_FILES):
            return None
        extras = [e.strip() for e in (match.group(2) or "").split(",") if valid_extra(e.strip())]
        return f"{path}[{','.join(extras)}]" if extras else path

    def file_ref(
        self, ref: str, base_dir: str, where: str, seen: set[str] | None = None, constraint: bool = False
    ) -> list[str]:
        """Requirements of the file ``ref`` names (relative to ``base_dir``), refused if it leaves the repo."""
        path = inside(base_dir, ref, self.snapshot)
        if path is None:
            self.notes.append(f"{where}: refused include {ref[:80]!r} (outside the repository or missing)")
            return []
        if constraint:  # pip reads it; so it may only hold requirement lines (no options, no includes)
            self.files_read.add(path)
            lines = logical_lines(self.snapshot.read(path) or "")
            if any(line.startswith("-") for line in lines):
                self.notes.append(f"{where}: refused constraints file {path!r} (it holds pip options)")
            elif path not in self.constraints:
                self.constraints.append(path)
            return []
        return self.file(path, seen)

    def file(self, path: str, seen: set[str] | None = None) -> list[str]:
        """Validated requirements of the requirements file at ``path``, includes followed."""
        seen = set() if seen is None else seen
        if path in seen or len(seen) >= MAX_INCLUDES:
            self.notes.append(f"{path}: include cycle or too many includes; stopped")
            return []
        seen.add(path)
        text = self.snapshot.read(path)
        if text is None:
            return []
        self.files_read.add(path)
        out: list[str] = []
        for line in logical_lines(text):
            for requirement in self.line(line, posixpath.dirname(path), path, seen):
                if requirement not in out:
                    out.append(requirement)
        return out
