"""Text read from git, made valid UTF-8 before it reaches the store, the logs or an export.

Git stores bytes: commit messages in any encoding (named by the commit's ``encoding`` header, or none at
all), file and branch names in any byte sequence. GitPython hands undecodable bytes on as lone
surrogates (``surrogateescape``), which DuckDB, JSON and a UTF-8 terminal reject. Everything the factory
stores goes through these helpers: undecodable bytes become U+FFFD, never an exception.
"""

from __future__ import annotations

import re

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def utf8_text(value: str | bytes, encoding: str = "utf-8") -> str:
    """``value`` as valid UTF-8 text: bytes decoded with ``encoding`` (UTF-8 when that codec is unknown
    or not a text encoding), bytes carried as surrogates decoded the same way, bad bytes as U+FFFD."""
    if isinstance(value, str):
        if not _SURROGATE.search(value):
            return value
        value = value.encode("utf-8", "surrogateescape") if _only_escapes(value) else value.encode(
            "utf-8", "surrogatepass")
    try:
        text = value.decode(encoding, "replace")
    except (LookupError, UnicodeError, ValueError, TypeError):
        text = value.decode("utf-8", "replace")
    return _SURROGATE.sub("\ufffd", text)


def is_utf8(value: str) -> bool:
    """True when ``value`` came from valid UTF-8 bytes (no lone surrogates standing for raw bytes)."""
    return not _SURROGATE.search(value)


def commit_message(raw_commit: bytes) -> str:
    """The message of a raw commit object, decoded as its ``encoding`` header says (UTF-8 without one).

    GitPython does not apply that header (it decodes a Latin-1 message as UTF-8 with replacement
    characters), so ``café`` committed with ``i18n.commitEncoding=latin1`` would come out as ``caf�``.
    """
    header, _, body = raw_commit.partition(b"\n\n")
    encoding = "utf-8"
    for line in header.split(b"\n"):
        if line.startswith(b"encoding "):
            encoding = line[len(b"encoding "):].strip().decode("ascii", "replace") or "utf-8"
    return utf8_text(body, encoding)


def _only_escapes(value: str) -> bool:
    """True when every surrogate in ``value`` is one ``surrogateescape`` makes (U+DC80..U+DCFF)."""
    return all("\udc80" <= ch <= "\udcff" for ch in _SURROGATE.findall(value))
