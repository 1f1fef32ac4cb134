"""Split a fix's diff into the gold ``patch`` and the ``test_patch``, by documented path rules.

Test-path rules (docs/mining.md), applied to each file of the diff (old or new path):
  1. a directory component is ``test``, ``tests`` or ``testing`` (fixtures and data inside count);
  2. the file name is ``test_*.py``, ``*_test.py``, ``*_tests.py``, ``tests.py``, ``test.py`` or
     ``conftest.py``.
Everything else goes to ``patch``. Binary hunks (``git diff --binary``) and newly added or deleted files
are kept whole, so a fix that ships a binary fixture or a brand-new test module is not silently cut.
Symlinks are ordinary blocks (mode 120000, the target as content). File names that are not UTF-8 (git
quotes them as octal escapes) and submodule (gitlink, mode 160000) changes are reported, so mining can
name them as skip reasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from factory.mining.text import is_utf8, utf8_text

TEST_DIRS = frozenset({"test", "tests", "testing"})
_TEST_FILE = re.compile(r"^(test_.*\.py|.*_tests?\.py|tests?\.py|conftest\.py)$")
DOC_DIRS = frozenset({"doc", "docs", "documentation"})
DOC_SUFFIXES = frozenset({".md", ".rst", ".adoc", ".txt"})
DOC_NAMES = re.compile(r"^(LICEN[SC]E|COPYING|CHANGELOG|CHANGES|HISTORY|NEWS|AUTHORS|CONTRIBUTORS)(\..*)?$", re.I)
_REQUIREMENTS = re.compile(r"requirements.*\.txt$", re.I)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_GITLINK = re.compile(r"^(?:(?:new file|deleted file|old|new) mode|index \S+) 160000$", re.M)


def is_test_path(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(p in TEST_DIRS for p in parts[:-1]) or bool(_TEST_FILE.match(parts[-1] if parts else ""))


def is_doc_path(path: str) -> bool:
    pure = PurePosixPath(path)
    if pure.parts and pure.parts[0].lower() in DOC_DIRS:
        return True
    if _REQUIREMENTS.search(pure.name):
        return False
    return pure.suffix.lower() in DOC_SUFFIXES or bool(DOC_NAMES.match(pure.name))


@dataclass(frozen=True)
class FileDiff:
    old_path: str | None
    """Path before the change; None for an added file."""
    new_path: str | None
    """Path after the change; None for a deleted file."""
    text: str
    """The whole ``diff --git`` block, header included."""

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def is_test(self) -> bool:
        return any(is_test_path(p) for p in (self.old_path, self.new_path) if p)

    @property
    def is_doc(self) -> bool:
        return all(is_doc_path(p) for p in (self.old_path, self.new_path) if p)

    @property
    def is_submodule(self) -> bool:
        """A gitlink (submodule commit) is added, removed or moved: mode 160000 in the block header."""
        return bool(_GITLINK.search(self.text.split("\n@@", 1)[0]))

    @property
    def has_utf8_paths(self) -> bool:
        """False when a path of this block is not valid UTF-8 (it holds ``surrogateescape`` characters)."""
        return all(is_utf8(p) for p in (self.old_path, self.new_path) if p)


@dataclass(frozen=True)
class SplitDiff:
    patch: str
    test_patch: str
    test_files: list[str]
    """Test files touched or added (their new path; deleted ones are not run)."""
    source_files: list[str]
    """Non-test, non-documentation files the gold patch changes."""
    non_utf8_paths: list[str] = field(default_factory=list)
    """Paths of the diff that are not UTF-8 (undecodable bytes as U+FFFD, for messages only)."""
    submodules: list[str] = field(default_factory=list)
    """Submodule paths whose gitlink the diff adds, removes or moves."""


def _unquote(path: str) -> str:
    match = _QUOTED.fullmatch(path)
    if not match:
        return path
    raw = match.group(1).encode("latin-1", "backslashreplace").decode("unicode_escape")
    return raw.encode("latin-1").decode("utf-8", "surrogateescape")


def _header_paths(block: str) -> tuple[str | None, str | None]:
    """Old/new path of one file block, from ``---``/``+++``, rename lines, or the ``diff --git`` line."""
    old = new = None
    saw_minus = saw_plus = False
    for line in block.splitlines()[1:]:
        if line.startswith("@@") or line.startswith("GIT binary patch"):
            break
        if line.startswith("--- "):
            saw_minus, value = True, _unquote(line[4:].rstrip("\t"))
            old = None if value == "/dev/null" else value[2:]
        elif line.startswith("+++ "):
            saw_plus, value = True, _unquote(line[4:].rstrip("\t"))
            new = None if value == "/dev/null" else value[2:]
        elif line.startswith(("rename from ", "copy from ")):
            old = _unquote(line.split(" ", 2)[2])
        elif line.startswith(("rename to ", "copy to ")):
            new = _unquote(line.split(" ", 2)[2])
    if saw_minus or saw_plus or old or new:
        if not saw_minus and not old:
            old = new
        if not saw_plus and not new:
            new = old
        if "\nnew file mode" in block.split("\n@@")[0]:
            old = None
        if "\ndeleted file mode" in block.split("\n@@")[0]:
            new = None
        return old, new
    # Binary or mode-only change with no ---/+++: both paths are equal, read them off the header.
    rest = block.splitlines()[0][len("diff --git ") :]
    quoted = _QUOTED.findall(rest)
    if len(quoted) == 2:
        a, b = (_unquote(f'"{q}"')[2:] for q in quoted)
    else:
        half = (len(rest) - 5) // 2
        a, b = rest[2 : 2 + half], rest[5 + half :]
    head = block.split("\n@@")[0]
    return (None if "\nnew file mode" in head else a), (None if "\ndeleted file mode" in head else b)


def file_diffs(diff: str) -> list[FileDiff]:
    """Cut a ``git diff`` into its per-file blocks, each kept byte for byte."""
    blocks = re.split(r"(?m)^(?=diff --git )", diff)
    out = []
    for block in blocks:
        if not block.startswith("diff --git "):
            continue
        old, new = _header_paths(block)
        out.append(FileDiff(old, new, block))
    return out


def split_diff(diff: str) -> SplitDiff:
    files = file_diffs(diff)
    tests = [f for f in files if f.is_test]
    code = [f for f in files if not f.is_test]
    return SplitDiff(
        patch="".join(f.text for f in code),
        test_patch="".join(f.text for f in tests),
        test_files=[f.new_path for f in tests if f.new_path],
        source_files=[f.path for f in code if not f.is_doc],
        non_utf8_paths=[utf8_text(f.path) for f in files if not f.has_utf8_paths],
        submodules=[f.path for f in files if f.is_submodule],
    )
