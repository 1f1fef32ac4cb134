"""The environment pool itself: proven recipes stored in ``env_memory``, found again, ranked and shared.

Where :mod:`.entries` says what one remembered recipe is and :mod:`.requirements` how dependency names
are read, this module holds the rules of the pool as a whole: when a proof is written and how it merges
into an entry already there, how failures are counted, the three ways a builder finds recipes again
(same fingerprint, same repository, similar dependencies) and how a pool is exported to and imported
from a JSONL file. The package docstring (:mod:`memory_pool.environment`) tells the story end to end.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from pydantic import ValidationError

from factory.core.errors import UserError
from factory.core.recipe import Recipe
from factory.store import Store
from memory_pool.environment.entries import ImportReport, MemoryEntry, as_utc, describe_invalid, utc_now
from memory_pool.environment.requirements import dependency_names


def _jaccard(a: set[str], b: set[str]) -> float:
    """Overlap of two name sets: shared names over all names (0 when both are empty)."""
    union = a | b
    return len(a & b) / len(union) if union else 0.0


class EnvironmentPool:
    """Proven recipes in the store's ``env_memory`` table, and the ways to find them again."""

    def __init__(self, store: Store):
        self.store = store

    # ---- writing ------------------------------------------------------------------------------------

    def record_proof(
        self,
        *,
        repo: str,
        language: str,
        fingerprint: str,
        image_tag: str,
        recipe: Recipe,
        dockerfile: str,
        dependencies: Iterable[str],
        commit_date: datetime,
        version: str,
        instance_id: str,
        builder: str,
    ) -> MemoryEntry:
        """Remember that ``recipe`` produced an environment in which ``instance_id`` passed fail2pass.

        Call it only after validation passed. A recipe already in the pool gains a success and the
        instance in its provenance; fingerprint, image tag, Dockerfile and dependencies become the
        newest proof's; commit date and version stay the earliest proof's; builder stays who found it.
        """
        now = utc_now()
        proof = MemoryEntry(
            recipe_id=recipe.recipe_id(), repo=repo, language=language, fingerprint=fingerprint,
            image_tag=image_tag, recipe=recipe, dockerfile=dockerfile, dependencies=list(dependencies),
            commit_date=commit_date, version=version, provenance=[instance_id], successes=1, failures=0,
            builder=builder, created_at=now, updated_at=now,
        )
        written: list[MemoryEntry] = []

        def merge(stored: dict | None, incoming: dict) -> dict:
            entry = proof
            if stored is not None:
                old = MemoryEntry.model_validate(stored)
                earliest = old if old.commit_date <= proof.commit_date else proof
                entry = old.model_copy(update={
                    "fingerprint": proof.fingerprint,
                    "image_tag": proof.image_tag,
                    "dockerfile": proof.dockerfile,
                    "dependencies": proof.dependencies,
                    "commit_date": earliest.commit_date,
                    "version": earliest.version,
                    "provenance": list(dict.fromkeys([*old.provenance, instance_id])),
                    # An instance proves a recipe once: a rebuild or a crash before the instance row was
                    # saved must not count it again.
                    "successes": old.successes + (instance_id not in old.provenance),
                    "updated_at": now,
                })
            written.append(entry)
            return entry.model_dump()

        self.store.merge_env_memory([proof.model_dump()], merge)
        return written[-1]

    def record_failure(self, recipe_id: str) -> None:
        """Count one failure of a pooled recipe (tried from memory, environment did not pass).

        An id that is not in the pool is ignored: the pool only remembers recipes that were proven.
        """
        self.store.add_env_memory_failure(recipe_id)

    # ---- reading ------------------------------------------------------------------------------------

    def entries(self, repo: str | None = None) -> list[MemoryEntry]:
        """Every entry (of ``repo``), ordered by repo, commit date and id."""
        return [MemoryEntry.model_validate(row) for row in self.store.env_memory_rows(repo=repo)]

    def get(self, recipe_id_prefix: str) -> MemoryEntry:
        """The entry whose id starts with ``recipe_id_prefix``; UserError when none or several do."""
        prefix = recipe_id_prefix.strip().lower()
        if not re.fullmatch(r"[0-9a-f]+", prefix):
            raise UserError(
                f"{recipe_id_prefix!r} is not a memory entry id (ids are hexadecimal)",
                "copy an id (or its first characters) from `factory memory ls`",
            )
        ids = self.store.env_memory_ids(prefix)
        if not ids:
            raise UserError(
                f"no memory entry id starts with {prefix!r} in {self.store.path}", "see `factory memory ls`"
            )
        if len(ids) > 1:
            shown = ", ".join(i[:16] for i in ids[:5]) + (" …" if len(ids) > 5 else "")
            raise UserError(
                f"{len(ids)} memory entries start with {prefix!r}: {shown}", "give more characters of the id"
            )
        row = self.store.env_memory(ids[0])
        assert row is not None
        return MemoryEntry.model_validate(row)

    def by_fingerprint(self, fingerprint: str) -> MemoryEntry | None:
        """The non-demoted entry with this dependency fingerprint and the most successes, if any."""
        found = [
            e for e in map(MemoryEntry.model_validate, self.store.env_memory_rows(fingerprint=fingerprint))
            if not e.demoted
        ]
        found.sort(key=lambda e: (-e.successes, e.failures, e.recipe_id))
        return found[0] if found else None

    def for_repo(self, repo: str, commit_date: datetime, limit: int = 3) -> list[MemoryEntry]:
        """Entries of ``repo`` to try first: non-demoted before demoted, then nearest in commit date,
        then most successes."""
        when = as_utc(commit_date)
        ranked = sorted(
            self.entries(repo),
            key=lambda e: (e.demoted, abs(when - e.commit_date), -e.successes, e.recipe_id),
        )
        return ranked[:limit]

    def similar(
        self, language: str, dependencies: set[str], *, exclude_repo: str | None = None, limit: int = 3
    ) -> list[tuple[MemoryEntry, float]]:
        """Non-demoted entries of other repositories in ``language``, ranked by the Jaccard overlap of
        their dependencies with ``dependencies`` (only overlaps > 0), then by successes.

        ``dependencies`` may be project names or raw requirement strings (``requests>=2; ...``): they go
        through :func:`dependency_names` first."""
        wanted = dependency_names(dependencies)
        scored = []
        for row in self.store.env_memory_rows(language=language):
            entry = MemoryEntry.model_validate(row)
            if entry.demoted or (exclude_repo is not None and entry.repo == exclude_repo):
                continue
            score = _jaccard(wanted, set(entry.dependencies))
            if score > 0:
                scored.append((entry, score))
        scored.sort(key=lambda pair: (-pair[1], -pair[0].successes, pair[0].recipe_id))
        return scored[:limit]

    # ---- sharing ------------------------------------------------------------------------------------

    def export(self, path: Path) -> int:
        """Write every entry as one JSON line (sorted by id, sorted keys), atomically; return the count."""
        entries = sorted(self.entries(), key=lambda e: e.recipe_id)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            with tmp.open("w", encoding="utf-8") as fh:
                for entry in entries:
                    fh.write(json.dumps(entry.model_dump(mode="json"), sort_keys=True, ensure_ascii=False) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror}", "pass --out with a writable path") from exc
        return len(entries)

    def import_(self, path: Path) -> ImportReport:
        """Merge a file written by :meth:`export` into the pool.

        Entries merge by recipe id (recomputed from the recipe, so an edited recipe never hides under
        an old id): successes and failures add up, provenance is united, commit date, version and
        ``created_at`` keep the earliest, ``updated_at`` the latest; fingerprint, image tag, Dockerfile,
        dependencies and builder of an entry already here stay as they are (they describe this host).
        Blank lines are ignored; malformed ones are reported and skipped. Note that importing the same
        file twice counts its successes and failures twice.
        """
        path = Path(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise UserError(f"no such file: {path}", "pass a file written by `factory memory export`") from exc
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}", "check the path and its permissions") from exc
        report = ImportReport()
        incoming: list[dict] = []
        for number, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                report.bad_lines.append((number, "not UTF-8 text"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                report.bad_lines.append((number, f"not valid JSON: {exc.msg} (column {exc.colno})"))
                continue
            if not isinstance(obj, dict):
                report.bad_lines.append((number, f"not a JSON object but {type(obj).__name__}"))
                continue
            try:
                entry = MemoryEntry.model_validate(obj)
            except ValidationError as exc:
                report.bad_lines.append((number, describe_invalid(exc)))
                continue
            incoming.append(entry.model_copy(update={"recipe_id": entry.recipe.recipe_id()}).model_dump())

        def merge(stored: dict | None, new: dict) -> dict:
            if stored is None:
                return new
            old, other = MemoryEntry.model_validate(stored), MemoryEntry.model_validate(new)
            earliest = old if old.commit_date <= other.commit_date else other
            return old.model_copy(update={
                "commit_date": earliest.commit_date,
                "version": earliest.version,
                "provenance": list(dict.fromkeys([*old.provenance, *other.provenance])),
                "successes": old.successes + other.successes,
                "failures": old.failures + other.failures,
                "created_at": min(old.created_at, other.created_at),
                "updated_at": max(old.updated_at, other.updated_at),
            }).model_dump()

        for is_new in self.store.merge_env_memory(incoming, merge):
            if is_new:
                report.added += 1
            else:
                report.merged += 1
        return report
