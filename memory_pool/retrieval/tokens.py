"""A code-aware tokenizer for issue text, tracebacks, paths and identifiers: :func:`tokenize`.

Plain whitespace tokens (what ExpeRepair feeds rank_bm25) miss that ``parseDate``, ``parse_date`` and
``utils/dates.py`` are about the same code. So, deterministically and in text order:

* A *compound* is a run of word characters joined by ``.``, ``/``, ``\\`` or ``-`` (``tests/test_x.py``,
  ``pkg.mod.Class``, ``acme__x-12``). It yields itself, its file name (for a path), each segment
  (``tests``, ``test_x``, ``py``) and each segment's camelCase / snake_case words (``test``; ``parseDate`` →
  ``parse``, ``date``), each distinct token once per occurrence, all lowercase.
* Numbers are dropped unless inside an identifier: ``line 42`` and ``1.2.3`` give nothing, ``py3k``,
  ``abc123`` and ``x-12`` stay whole (their bare number pieces are dropped).
* A traceback keeps what identifies the failure: ``File "a/b.py", line 3, in parse`` becomes
  ``a/b.py parse`` (with the path's parts; pseudo names such as ``<stdin>`` and ``<module>`` are dropped),
  the ``Traceback (most recent call last):`` header is dropped, and exception class names
  (``KeyError`` → ``keyerror``, ``key``, ``error``) come through as identifiers.
* Tokens of one character and a small list of English stopwords (:data:`STOPWORDS`) are dropped.
"""

from __future__ import annotations

import re

_STOPWORD_TEXT = """
    an and are as at be been but by can could did do does for from had has have how if in into is it its me my
    no not of on or our should so than that the their them then there these they this those to was we were what
    when where which while who why will with would you your
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""English words too common to tell two cases apart."""

_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+(?:, in (?P<func>\S+))?', re.MULTILINE)
_HEADER = re.compile(r"^\s*Traceback \(most recent call last\):?\s*$", re.MULTILINE)
_COMPOUND = re.compile(r"[A-Za-z0-9_]+(?:[./\\-][A-Za-z0-9_]+)*")
_JOINERS = re.compile(r"[./\\-]")
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _frame(match: re.Match[str]) -> str:
    """``path function`` of one frame; pseudo names such as ``<stdin>`` and ``<module>`` say nothing."""
    names = (match["path"], match["func"] or "")
    return " ".join(name for name in names if not name.startswith("<"))


def _plain_tracebacks(text: str) -> str:
    """Traceback frames reduced to ``path function``, the header line removed."""
    return _FRAME.sub(_frame, _HEADER.sub(" ", text))


def _keep(token: str) -> bool:
    return len(token) > 1 and not token.isdigit() and token not in STOPWORDS and any(c.isalnum() for c in token)


def _expand(compound: str) -> list[str]:
    """The distinct tokens one compound yields, whole first."""
    segments = [part for part in _JOINERS.split(compound) if part]
    if all(part.isdigit() for part in segments):
        return []  # a number or a version: 42, 3.14, 1.2.3
    found = [compound]
    if "/" in compound or "\\" in compound:
        found.append(re.split(r"[/\\]", compound)[-1])  # the file name of a path
    for segment in segments:
        found.append(segment)
        found.extend(word for word in _WORDS.findall(segment) if not word.isdigit())
    out: list[str] = []
    for token in (item.lower() for item in found):
        if _keep(token) and token not in out:
            out.append(token)
    return out


def tokenize(text: str) -> list[str]:
    """The code-aware tokens of ``text``, lowercase, in text order (repeats kept: BM25 counts them)."""
    tokens: list[str] = []
    for match in _COMPOUND.finditer(_plain_tracebacks(text)):
        tokens.extend(_expand(match.group()))
    return tokens
