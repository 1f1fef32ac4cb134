"""What one remembered environment recipe is: the :class:`MemoryEntry` record and its import report.

The pool's rows (``env_memory``) and the lines of an exported pool file are both ``MemoryEntry``
objects, so validation, normalization (UTC times, PEP 503 dependency names, provenance without
duplicates) and the rule for demotion live here once, next to the model, and the pool (:mod:`.pool`)
only stores, finds and merges them. The time helpers and the wording of a validation failure are here
for the same reason: they are how an entry is made and checked, whoever makes or checks it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from packaging.utils import canonicalize_name
from pydantic import BaseModel, Field, ValidationError, field_validator

from factory.core.recipe import Recipe


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Aware datetimes in UTC; a naive one is taken to be UTC already."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class MemoryEntry(BaseModel):
    """One proven environment recipe (a row of ``env_memory``)."""

    recipe_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    """sha256 of the recipe JSON (:meth:`Recipe.recipe_id`): the entry's identity."""
    repo: str
    """``owner/name`` of the repository whose instances proved the recipe."""
    language: str
    """Language of the repository (``python``)."""
    fingerprint: str
    """Dependency fingerprint of the environment of the newest proof; equal fingerprint = reusable image."""
    image_tag: str
    """Env image built for the newest proof (may have been removed since, or live on another host)."""
    recipe: Recipe
    """The recipe itself: Python version, system packages, env, install and test commands."""
    dockerfile: str
    """The env Dockerfile the recipe rendered to for the newest proof."""
    dependencies: list[str]
    """PEP 503-normalized names of the projects the repository depends on (sorted, unique)."""
    commit_date: datetime
    """Base-commit date of the earliest proof."""
    version: str
    """Repository version at the earliest proof (SWE-bench ``version``)."""
    provenance: list[str]
    """Instance ids that proved the recipe, in the order they did (no duplicates)."""
    successes: int = Field(ge=0)
    """How many times an environment from this recipe passed fail2pass."""
    failures: int = Field(ge=0)
    """How many times the recipe was tried from memory and did not produce a passing environment."""
    builder: str
    """Who found the recipe first: ``heuristic``, ``llm:<model>`` (or ``memory``)."""
    created_at: datetime
    """When the first proof was recorded."""
    updated_at: datetime
    """When the latest proof or failure was recorded."""

    @field_validator("commit_date", "created_at", "updated_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return as_utc(value)

    @field_validator("dependencies")
    @classmethod
    def _normalized(cls, value: list[str]) -> list[str]:
        return sorted({canonicalize_name(name) for name in value if name.strip()})

    @field_validator("provenance")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @property
    def demoted(self) -> bool:
        """A recipe that keeps failing: at least two failures and more failures than successes."""
        return self.failures >= 2 and self.failures > self.successes


@dataclass
class ImportReport:
    """What :meth:`EnvironmentPool.import_` did with a pool file: entries added, entries merged, lines skipped."""

    added: int = 0
    """Entries whose recipe id was not in the pool."""
    merged: int = 0
    """Entries merged into one already in the pool (or earlier in the same file)."""
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, what is wrong)`` for every line skipped."""


def describe_invalid(exc: ValidationError) -> str:
    """What is wrong with an entry that failed validation, in one line (missing fields first)."""
    missing, other = [], []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "entry"
        if error["type"] == "missing":
            missing.append(where)
        else:
            other.append(f"{where}: {error['msg']}")
    parts = [f"missing field(s): {', '.join(missing)}"] if missing else []
    parts += other[:3]
    if len(other) > 3:
        parts.append(f"and {len(other) - 3} more problem(s)")
    return "; ".join(parts)
