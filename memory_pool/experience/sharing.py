"""Experience as a JSONL file: writing cases and insights one per line, and reading such a file back,
validated line by line.

Why apart: the file format is the contract between teams (and between a train run and the eval that
reads its memory), independent of how the memory applies what it reads. Every line is one JSON object
with a ``kind`` — ``case`` or ``insight`` — and the record's fields; cases come first, then insights,
each sorted by id, keys sorted, so the same memory always writes the same bytes. Reading reports every
malformed line by number and what is wrong with it, in the words of :mod:`memory_pool.environment`'s
import; :meth:`ExperienceMemory.import_` decides what to do with the valid ones.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from factory.core.errors import UserError
from memory_pool.environment.entries import describe_invalid
from memory_pool.experience.records import Case, Insight

KINDS = {"case": Case, "insight": Insight}


@dataclass
class ExperienceImportReport:
    """What :meth:`ExperienceMemory.import_` did with a file."""

    cases_added: int = 0
    """Cases whose id was not in the memory."""
    insights_added: int = 0
    """Insights whose id was not in the memory."""
    already: int = 0
    """Lines whose id was already here (or earlier in the file): left as stored, so importing twice changes nothing."""
    evicted: list[str] = field(default_factory=list)
    """Active insights the cap retired after the import (lowest support − contradiction, oldest first)."""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, what is wrong)`` for every line skipped."""


def write_jsonl(path: Path, cases: Iterable[Case], insights: Iterable[Insight]) -> tuple[int, int]:
    """Write cases then insights (each sorted by id) atomically; return how many of each."""
    cases = sorted(cases, key=lambda c: c.case_id)
    insights = sorted(insights, key=lambda i: i.insight_id)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        with tmp.open("w", encoding="utf-8") as fh:
            for kind, records in (("case", cases), ("insight", insights)):
                for record in records:
                    line = {"kind": kind, **record.model_dump(mode="json")}
                    fh.write(json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}", "pass --out with a writable path") from exc
    return len(cases), len(insights)


def read_jsonl(path: Path) -> tuple[list[tuple[int, Case | Insight]], list[tuple[int, str]]]:
    """Every valid line of ``path`` as ``(line number, Case | Insight)``, and ``(line number, problem)``
    for the others. Blank lines are ignored; a missing or unreadable file is a :class:`UserError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise UserError(
            f"no such file: {path}", "pass a file written by `factory memory export --kind experience`"
        ) from exc
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from exc
    good: list[tuple[int, Case | Insight]] = []
    bad: list[tuple[int, str]] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            bad.append((number, "not UTF-8 text"))
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append((number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        if not isinstance(obj, dict):
            bad.append((number, f"not a JSON object but {type(obj).__name__}"))
            continue
        kind = obj.pop("kind", None)
        if kind not in KINDS:
            bad.append((number, f"kind must be 'case' or 'insight', not {kind!r}"))
            continue
        try:
            good.append((number, KINDS[kind].model_validate(obj)))
        except ValidationError as exc:
            bad.append((number, f"{kind}: {describe_invalid(exc)}"))
    return good, bad
