"""Refuse patches that would write outside the repository before they reach a container.

The harness applies untrusted model patches with ``git apply`` and, failing that, ``patch --fuzz``,
which is far less careful about paths. So every path a patch names — ``diff --git`` headers, ``---`` /
``+++`` lines, renames and copies, context-diff and ``Index:`` headers — must stay inside the work
tree: no absolute path, no ``..`` component, nothing under ``.git``. A symlink the patch creates or
changes (mode ``120000``) must point inside the repository too, or a later write through it escapes.
Pure text analysis, no filesystem access; :func:`problems` lists every reason, :func:`refusal` gives
the first (or ``""`` for a safe patch).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

SYMLINK_MODE = "120000"
_HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
_MODE_LINE = re.compile(r"^(?:new file mode|new mode|deleted file mode|old mode) (\d{6})\s*$")
_INDEX_MODE = re.compile(r"^index [0-9a-fA-F]+\.\.[0-9a-fA-F]+ (\d{6})\s*$")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r", "v": "\v"}


def _unquote(path: str) -> str:
    """Git's C-style quoted path (``"a/sp\\303\\251cial"``) to text; unquoted paths pass through."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path
    body, out, i = path[1:-1], bytearray(), 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567" and re.match(r"[0-7]{3}", body[i + 1 : i + 4]):
                out.append(int(body[i + 1 : i + 4], 8))
                i += 4
                continue
            out.extend(_ESCAPES.get(nxt, nxt).encode())
            i += 2
            continue
        out.extend(ch.encode())
        i += 1
    return out.decode("utf-8", "replace")


def _header_path(rest: str) -> str:
    """The path of a ``---`` / ``+++`` / ``***`` header line (a tab ends it: a timestamp may follow)."""
    rest = rest.rstrip("\r\n")
    if rest.startswith('"'):
        end = rest.find('"', 1)
        while end > 0 and rest[end - 1] == "\\":
            end = rest.find('"', end + 1)
        return _unquote(rest[: end + 1]) if end > 0 else rest
    return rest.split("\t", 1)[0].rstrip()


def path_problem(path: str) -> str:
    """Why ``path`` (as written in the patch, prefix included) is not inside the repository, or ``""``."""
    if path == "/dev/null" or not path:
        return ""
    if path.startswith("/"):
        return f"absolute path {path!r}"
    parts = path.split("/")
    if ".." in parts:
        return f"path {path!r} climbs out of the repository with '..'"
    if ".git" in parts:
        return f"path {path!r} writes into the .git directory"
    return ""


def _strip_prefix(path: str) -> str:
    return path[2:] if path.startswith(("a/", "b/")) else path


def link_problem(link: str, target: str) -> str:
    """Why a symlink at ``link`` (repo-relative) pointing to ``target`` escapes the repository, or ``""``."""
    if target.startswith("/"):
        return f"symlink {link!r} points to the absolute path {target!r}"
    depth = 0
    for part in [*PurePosixPath(link).parent.parts, *target.split("/")]:
        if part in ("", "."):
            continue
        if part == "..":
            depth -= 1
            if depth < 0:
                return f"symlink {link!r} points outside the repository ({target!r})"
        else:
            depth += 1
    return ""


@dataclass
class _File:
    paths: list[str] = field(default_factory=list)
    new_path: str = ""
    mode: str = ""
    target: list[str] = field(default_factory=list)


def problems(patch: str) -> list[str]:
    """Every reason the patch is unsafe to apply (empty list: safe)."""
    found: list[str] = []
    files: list[_File] = []
    current = _File()
    old_left = new_left = 0

    def add_path(path: str) -> None:
        current.paths.append(path)
        reason = path_problem(path)
        if reason and reason not in found:
            found.append(reason)

    for line in patch.splitlines():
        if old_left > 0 or new_left > 0:  # inside a hunk: content lines, never headers
            tag = line[:1]
            if tag in (" ", ""):
                old_left, new_left = old_left - 1, new_left - 1
            elif tag == "-":
                old_left -= 1
            elif tag == "+":
                new_left -= 1
                current.target.append(line[1:])
            if tag in (" ", "", "-", "+", "\\"):
                continue
            old_left = new_left = 0  # the counts lied: read this line as a header
        if line.startswith("diff --git "):
            current = _File()
            files.append(current)
            for token in _git_header_paths(line[len("diff --git ") :]):
                add_path(token)
        elif line.startswith(("--- ", "+++ ", "*** ")):
            path = _header_path(line[4:])
            if line.startswith("+++ "):
                current.new_path = _strip_prefix(path)
            if not re.match(r"^\d+(,\d+)? (----|\*\*\*\*)$", line[4:].strip()):  # context-diff hunk ranges
                add_path(path)
        elif line.startswith(("rename from ", "rename to ", "copy from ", "copy to ")):
            path = _unquote(line.split(" ", 2)[2].rstrip("\r\n"))
            add_path(path)
            if line.startswith(("rename to ", "copy to ")):
                current.new_path = path
        elif line.startswith("Index: "):
            add_path(line[len("Index: ") :].strip())
        elif match := _MODE_LINE.match(line):
            if not line.startswith(("deleted", "old")):
                current.mode = match.group(1)
        elif match := _INDEX_MODE.match(line):
            current.mode = current.mode or match.group(1)
        elif match := _HUNK.match(line):
            old_left = int(match.group(1)) if match.group(1) is not None else 1
            new_left = int(match.group(2)) if match.group(2) is not None else 1
            current.target = []
            if not files or files[-1] is not current:
                files.append(current)
    for f in files:
        if f.mode == SYMLINK_MODE and f.target:
            link = f.new_path or _strip_prefix(f.paths[-1] if f.paths else "")
            reason = link_problem(link, f.target[0])
            if reason and reason not in found:
                found.append(reason)
    return found


def _git_header_paths(rest: str) -> list[str]:
    """The two paths of ``diff --git a/X b/Y`` (quoted or not); for ambiguous unquoted names with
    spaces every whitespace-separated piece is returned, which can only make the check stricter."""
    rest = rest.rstrip("\r\n")
    if '"' in rest:
        return [_unquote(q) for q in re.findall(r'"(?:[^"\\]|\\.)*"|\S+', rest)]
    half = len(rest) // 2
    if rest[half : half + 1] == " " and rest[:half][2:] == rest[half + 1 :][2:]:
        return [rest[:half], rest[half + 1 :]]
    return rest.split()


def refusal(patch: str) -> str:
    """The first reason to refuse ``patch`` (``""`` when it stays inside the repository)."""
    found = problems(patch)
    return found[0] if found else ""
