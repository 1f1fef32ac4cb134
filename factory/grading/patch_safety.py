"""Refuse patches that would write outside the repository before they reach a container.

The harness applies an untrusted patch (a model's or a mined one) with ``git apply``, ``git apply --3way``,
then ``patch --batch --forward --fuzz=5 -p1`` (GNU patch): a patch is as dangerous as the most permissive
reader. Every name any of them could take from a header (``diff --git``, ``---`` / ``+++`` / ``***``,
``Index:``, rename and copy lines) must stay in the work tree: not absolute, no ``..``, nothing under
``.git`` (nor ``.GIT``, ``.git.``, ``.git ``). Each rule below closes a way the check and a tool disagreed:

* Lines end at ``\\n`` only, as in git and GNU patch. ``str.splitlines`` also splits at ``\\r``, ``\\x1c``,
  ``\\u2028`` and more, and a fake hunk header hidden that way once hid ``+++ b/.git/config`` from the check.
* A header's name is checked under every reading: each whitespace-separated word (GNU patch ends a name
  at whitespace, a tab or a NUL, git at a tab or the end of the line, CR included or not) and each
  C-quoted string unquoted.
* GNU patch also finds headers after leading spaces, tabs and ``X`` and after ``- `` (RFC 934), skips
  ``#`` lines even inside hunks and takes tab and ``=`` lines as context (newer versions), ignores ``@@``
  until it has seen a ``---`` / ``+++`` / ``***`` / ``Index:`` header, accepts looser ``@@`` lines, and has
  context, normal and ed formats. Lines inside a hunk count as content (a removed SQL comment ``-- ../x`` reads
  ``--- ../x``) only while both tools surely read the hunk the same way: a well-formed ``@@`` at column 0
  right after such a header or after the previous hunk, holding only `` ``, ``-``, ``+``, empty and ``\\``
  lines, as many as it says. Anything else makes the check *strict*: every line of the patch is then read
  as a possible header (in all those forms) and any symlink in the patch is refused as ambiguous.

Symlinks (mode ``120000``) are resolved as the file system would: the targets of the links the patch
creates or retargets (text hunks, or git ``literal`` binary hunks, decoded) are followed component by
component through one another (chains; loops and over ``MAX_HOPS`` hops are refused) and must end inside
the repository, outside ``.git``. No path may go through a link the patch creates or changes, or deletes
later (git refuses "beyond a symbolic link", GNU patch may not). A target the patch does not spell out
(binary ``delta``, mode change without content, renamed or copied link, a hunk that is not the whole old
target) is refused. GNU patch never applies a git binary hunk: those need only git's reading.

Limits: pure text analysis, without the repository. Symlinks already in it (not mentioned by the patch,
or renamed without showing their mode) are unknown here; the in-container check covers them.
:func:`problems` lists every reason, :func:`refusal` gives the first (``""`` for a safe patch).
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field

SYMLINK_MODE = "120000"
MAX_HOPS = 40  # Linux's MAXSYMLINKS
_HUNK = re.compile(r"@@ -(\d{1,9})(?:,(\d{1,9}))? \+(\d{1,9})(?:,(\d{1,9}))? @@")
_P1_NAMES = ("diff --git ", "--- ", "+++ ", "*** ", "Index:")  # names that carry the a/ b/ prefix (-p1)
_RAW_NAMES = ("rename from ", "rename to ", "rename old ", "rename new ", "copy from ", "copy to ")
_GNU_HEADERS = ("--- ", "+++ ", "*** ", "Index:")  # what ends GNU patch's wait for a header
_STATEFUL = (*_P1_NAMES, *_RAW_NAMES, "@@", "********", "new file mode ", "new mode ", "old mode ",
             "deleted file mode ", "index ", "GIT binary patch", "Prereq:")  # indented: GNU's state is unknown
_COMMAND = re.compile(r"(?:\d+(?:,\d+)?)?(?:[acdi]|s/\.//)[ \t]*\r?$|\d[\d,]*[acd][\d,]*[ \t]*\r?$")  # ed, normal
_MODE = re.compile(r"(new file mode|new mode|old mode|deleted file mode|index [^.\n]*\.\.\S*) \s*([+-]?)([0-7]+)")
_BINARY = re.compile(r"(literal|delta) (\d{1,9})$")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ESCAPES = {b"n": b"\n", b"t": b"\t", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"r": b"\r", b"v": b"\v"}
_B85 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"


def _unquote(path: str) -> str:
    """Git's C-style quoted path (``"a/sp\\303\\251cial"``) to text; unquoted paths pass through."""
    if not (len(path) >= 2 and path.startswith('"') and path.endswith('"')):
        return path

    def one(match: re.Match[bytes]) -> bytes:
        return bytes([int(match[1], 8) & 0xFF]) if len(match[1]) == 3 else _ESCAPES.get(match[1], match[1])

    body = path[1:-1].encode("utf-8", "surrogatepass")
    return re.sub(rb"\\([0-7]{3}|.)", one, body, flags=re.S).decode("utf-8", "replace")


def _readings(rest: str, whole: bool = True) -> list[str]:
    """Every name a tool may take from the text after a header keyword (most likely first)."""
    out: list[str] = []
    for text in dict.fromkeys((rest, rest.split("\x00")[0])):  # GNU patch's C strings end at a NUL
        out += [_unquote(q) for q in _QUOTED.findall(text)]
        out += [*([text.split("\t")[0].strip()] if whole else []), *text.split()]
    return out


def _dotgit(part: str) -> bool:
    return part.rstrip(". ").lower() == ".git"


def path_problem(path: str) -> str:
    """Why ``path`` (as written in the patch, prefix included) is not inside the repository, or ``""``."""
    if path == "/dev/null" or not path:
        return ""
    if path.startswith("/"):
        return f"absolute path {path!r}"
    parts = path.split("/")
    if ".." in parts:
        return f"path {path!r} climbs out of the repository with '..'"
    if any(_dotgit(part) for part in parts):
        return f"path {path!r} writes into the .git directory"
    return ""


def _norm(path: str) -> str:
    return "/".join(part for part in path.split("/") if part not in ("", "."))


def _resolve(path: str, links: dict[str, str]) -> list[str] | str:
    """The components of repo-relative ``path`` once ``links`` (path -> target) are followed as the file
    system would, or ``"outside"`` / ``"loop"``."""
    done: list[str] = []
    todo, hops = path.split("/")[::-1], 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            if not done:
                return "outside"
            done.pop()
            continue
        done.append(part)
        target = links.get("/".join(done))
        if target is not None:
            hops += 1
            if hops > MAX_HOPS:
                return "loop"
            if target.startswith("/"):
                return "outside"
            done.pop()
            todo.extend(target.split("/")[::-1])
    return done


def link_problem(link: str, target: str, links: dict[str, str] | None = None) -> str:
    """Why a symlink at ``link`` (repo-relative) pointing to ``target`` escapes the repository, or ``""``;
    ``links`` are the other symlinks (path -> target) the patch leaves behind, followed on the way."""
    if target.startswith("/"):
        return f"symlink {link!r} points to the absolute path {target!r}"
    parent = link.rsplit("/", 1)[0] if "/" in link else ""
    where = _resolve(f"{parent}/{target}", links or {})
    if where == "outside":
        return f"symlink {link!r} points outside the repository ({target!r})"
    if where == "loop":
        return f"symlink {link!r} does not resolve (a loop or more than {MAX_HOPS} links): {target!r}"
    if any(_dotgit(part) for part in where):
        return f"symlink {link!r} points into the .git directory ({target!r})"
    return ""


def _literal(data: list[str], size: int) -> bytes | None:
    """Git's ``literal`` binary hunk (base85 lines, each led by its byte count A-Z = 1..26, a-z = 27..52,
    of zlib data) decoded as git decodes it, or None where git would call it corrupt."""
    raw = bytearray()
    for line in data:
        count = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".find(line[:1]) + 1
        room = (len(line) - 1) // 5 * 4
        if len(line) < 6 or (len(line) - 1) % 5 or not room - 4 < count <= room:
            return None
        chunk = bytearray()
        for i in range(1, len(line), 5):
            digits = [_B85.find(ch) for ch in line[i : i + 5]]
            value = sum(digit * 85 ** (4 - k) for k, digit in enumerate(digits))
            if min(digits) < 0 or value > 0xFFFFFFFF:
                return None
            chunk += value.to_bytes(4, "big")
        raw += chunk[:count]
    try:
        out = zlib.decompressobj().decompress(bytes(raw), 1 << 20)
    except zlib.error:
        return None
    return out if len(out) == size else None


@dataclass
class _Entry:  # one file of the patch as git reads it: the paths it names and what it does to them
    index: int
    paths: list[str] = field(default_factory=list)  # every repo path it may touch
    dests: list[str] = field(default_factory=list)  # where its result may land
    links: dict[str, bool] = field(default_factory=dict)  # "old" / "new" / "index" -> names a symlink mode
    created: bool = False
    deleted: bool = False
    moved: bool = False
    opaque: bool = False  # "Binary files ... differ": content taken from elsewhere
    minus: bool = False
    hunks: list[tuple[int, list[tuple[str, str]]]] = field(default_factory=list)  # (old start, lines)
    binary: list[tuple[str, int, list[str]]] = field(default_factory=list)  # (method, size, base85 lines)

    def add(self, names: list[str], p1: bool, dest: bool = False) -> None:
        for name in names:
            path = (name.split("/", 1)[1] if "/" in name else "") if p1 else name
            if name != "/dev/null" and _norm(path):
                self.paths.append(_norm(path))
                if dest:
                    self.dests.append(_norm(path))


def _is_link(text: str) -> tuple[str, bool] | None:
    """(which side, names a symlink) for a mode line (git reads the mode with strtoul), else None."""
    if not (match := _MODE.match(text)):
        return None
    side = {"new file mode": "new", "new mode": "new", "old mode": "old", "deleted file mode": "old"}
    return side.get(match[1], "index"), bool(match[2]) or int(match[3], 8) & 0o170000 == 0o120000


def _forms(line: str) -> list[str]:
    """The line as git reads it, and as GNU patch looks for headers in it (indent and ``- `` removed)."""
    indented = line.lstrip(" \tX")
    nested = indented
    while nested.startswith("- "):
        nested = nested[2:]
    return list(dict.fromkeys((line, indented, nested)))


def _header_problem(line: str) -> str:
    """The first problem with any name any tool may read from ``line`` as a header, or ``""``."""
    for form in _forms(line):
        for key in (*_P1_NAMES, *_RAW_NAMES):
            if form.startswith(key):
                for name in _readings(form[len(key) :]):
                    if reason := path_problem(name):
                        return reason
    return ""


def problems(patch: str) -> list[str]:
    """Every reason the patch is unsafe to apply (empty list: safe)."""
    found: list[str] = []

    def note(reason: str) -> None:
        if reason and reason not in found:
            found.append(reason)

    lines = patch.split("\n")
    entries: list[_Entry] = []
    strict = ""  # why hunk boundaries cannot be trusted ("" while they can)
    old_left = new_left = 0
    hunk: list[tuple[str, str]] = []
    after_hunk = tail_ok = header_seen = False
    binary: list[str] | None = None  # the base85 lines of the binary hunk being read
    binary_next = False

    def entry(new: bool = False) -> _Entry:
        if new or not entries:
            entries.append(_Entry(len(entries)))
        return entries[-1]

    for n, line in enumerate(lines, 1):
        if old_left > 0 or new_left > 0:  # inside a hunk: content lines, never headers
            tag = line[:1]
            if tag in (" ", "", "-", "+", "\\"):
                old_left -= tag in (" ", "", "-")
                new_left -= tag in (" ", "", "+")
                if old_left < 0 or new_left < 0:
                    strict = strict or f"line {n}: the hunk has more lines than its header says"
                hunk.append((tag or " ", line[1:]))
                after_hunk = tail_ok = old_left <= 0 and new_left <= 0
                continue
            strict = strict or f"line {n}: the hunk ends before its header says ({line[:30]!r})"
            old_left = new_left = 0
        continuing, after_hunk = after_hunk, False
        if continuing and tail_ok and line.startswith("\\"):  # "\ No newline at end of file" of the last line
            hunk.append(("\\", line[1:]))
            after_hunk, tail_ok = True, False
            continue
        forms = _forms(line)
        if (match := _HUNK.match(line)) and not strict and (continuing or header_seen):
            old_left = int(match[2]) if match[2] is not None else 1
            new_left = int(match[4]) if match[4] is not None else 1
            hunk = []
            entry().hunks.append((int(match[1]), hunk))
            after_hunk = tail_ok = old_left <= 0 and new_left <= 0
            continue
        if continuing:
            header_seen = False  # GNU patch's file ended with its last hunk; the next one needs a header
        note(_header_problem(line))
        if any(form.startswith("@@") or form.startswith("********") or _COMMAND.match(form) for form in forms):
            strict = strict or f"line {n}: {line[:30]!r} may start a hunk the checker does not follow"
        if len(forms) > 1 and any(form.startswith(_STATEFUL) for form in forms[1:]):
            strict = strict or f"line {n}: GNU patch reads the indented header {line[:30]!r}"
        if forms[-1].startswith(("diff --git ", *_GNU_HEADERS)):  # a new file; one GNU patch has a header for
            header_seen = not forms[-1].startswith("diff --git ")
        # The file model, as git reads it (GNU patch reads the same lines at column 0).
        if binary is not None:  # base85 lines up to a blank line; a reverse hunk may follow
            if line:
                binary.append(line)
            else:
                binary, binary_next = None, True
        elif binary_next and (match := _BINARY.match(line)):
            binary, binary_next = [], False
            entry().binary.append((match[1], int(match[2]), binary))
        else:
            binary_next = line == "GIT binary patch"
        if line.startswith("diff --git "):
            current = entry(new=True)
            rest = line[len("diff --git ") :]
            half = len(rest) // 2
            names = _readings(rest, whole=False)
            current.add(names, p1=True)
            if rest[half : half + 1] == " " and rest[:half][2:] == rest[half + 1 :][2:]:  # "a/x y b/x y"
                current.add([rest[half + 1 :]], p1=True, dest=True)
            current.add([name for name in names if name.startswith("b/")], p1=True, dest=True)
        elif line.startswith("--- "):
            current = entry(new=not entries or entries[-1].minus or bool(entries[-1].hunks or entries[-1].binary))
            current.minus = True
            current.created |= _readings(line[4:])[0] == "/dev/null"
            current.add(_readings(line[4:]), p1=True)
        elif line.startswith(("+++ ", "*** ", "Index:")):
            names = _readings(line[4:] if not line.startswith("Index:") else line[6:])
            entry().deleted |= line.startswith("+++ ") and names[0] == "/dev/null"
            entry().add(names, p1=True, dest=line.startswith("+++ "))
        elif line.startswith(_RAW_NAMES):
            key = next(k for k in _RAW_NAMES if line.startswith(k))
            entry().moved = True
            entry().add(_readings(line[len(key) :]), p1=False, dest=key.endswith(("to ", "new ")))
        elif mode := _is_link(line):
            entry().links[mode[0]] = entry().links.get(mode[0], False) or mode[1]
            entry().created |= line.startswith("new file mode ")
            entry().deleted |= line.startswith("deleted file mode ")
        elif line.startswith("Binary files "):
            entry().opaque = True
    if strict:
        for line in lines:
            note(_header_problem(line))
        if any((mode := _is_link(form)) and mode[1] for line in lines for form in _forms(line)):
            note(f"ambiguous patch with a symlink (mode {SYMLINK_MODE}): {strict}")
        return found
    _check_links(entries, note)
    return found


def _link_target(e: _Entry) -> tuple[str | None, str]:
    """The target a symlink entry gives its link, or (None, why it cannot be known)."""
    if e.binary:
        method, size, data = e.binary[0]
        if method == "delta":
            return None, "is changed by a binary delta hunk, which cannot be checked without the old content"
        target = _literal(data, size)
        if target is None:
            return None, "has a binary hunk that does not decode"
        return target.decode("utf-8", "replace"), ""
    if e.opaque:
        return None, "takes its content from outside the patch ('Binary files ... differ')"
    if not e.hunks:
        if e.moved:
            return None, "is renamed or copied, and its target is not in the patch"
        return None, f"gets mode {SYMLINK_MODE} without a content change: its target is not in the patch"
    start, lines = e.hunks[0]
    tags = [tag for tag, _ in lines]

    def ends(tag: str) -> bool:  # the last such line has no newline: the file ends there
        last = max(i for i, t in enumerate(tags) if t == tag)
        return last + 1 < len(tags) and tags[last + 1] == "\\"

    whole = len(e.hunks) == 1 and " " not in tags and (
        "-" not in tags if e.created else (start == 1 and "-" in tags and ends("-")))
    if not whole:
        return None, "has a hunk that does not replace its whole old target"
    new = [text for tag, text in lines if tag == "+"]
    return "\n".join(new) + ("\n" if new and not ends("+") else ""), ""


def _check_links(entries: list[_Entry], note) -> None:
    """Model the symlinks the patch creates, retargets and deletes, then check their targets and every path."""
    links: dict[str, str] = {}  # symlinks the patch leaves behind -> target
    created: set[str] = set()  # symlinks the patch creates or changes
    old: dict[str, int] = {}  # symlinks before the patch -> index of the entry that deletes it (or past the end)
    for e in entries:
        if e.deleted:
            e.dests = []
        if e.links.get("old") or e.links.get("index"):
            for path in e.paths:
                old[path] = e.index if e.deleted else len(entries)
        new_side = e.links.get("new") or e.links.get("index") or ("new" not in e.links and e.links.get("old"))
        if new_side and not e.deleted:
            where = list(dict.fromkeys(e.dests or e.paths))
            target, why = _link_target(e)
            if not where:
                note(f"a symlink (mode {SYMLINK_MODE}) at a path the checker cannot tell")
            for path in where:
                created.add(path)
                if target is None:
                    note(f"symlink {path!r} {why}")
                else:
                    links[path] = target
    for e in entries:
        for path in e.paths:
            parts = path.split("/")
            for i in range(1, len(parts)):
                prefix = "/".join(parts[:i])
                # Only a deletion or a rename's source may name a path under a new link: git removes them from
                # the old tree first, GNU patch reaches no further than the link's (checked) target.
                writes = path in e.dests or not (e.deleted or e.moved)
                if (prefix in created and writes) or old.get(prefix, -1) >= e.index:
                    note(f"path {path!r} goes through the symlink {prefix!r}")
    written = [dest for e in entries for dest in dict.fromkeys(e.dests)]
    for path in created:
        if written.count(path) > 1:
            note(f"symlink {path!r} is written by more than one file of the patch")
    for path, target in links.items():
        note(link_problem(path, target, links))


def refusal(patch: str) -> str:
    """The first reason to refuse ``patch`` (``""`` when it stays inside the repository)."""
    found = problems(patch)
    return found[0] if found else ""
