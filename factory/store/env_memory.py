"""Environment memory pool storage (table ``env_memory``): proven environment recipes, as plain dict rows.

Why apart: this is storage only — rows in and out, the JSON columns (recipe, dependencies, provenance)
decoded on read and encoded on write, merges done under the store lock so none is lost. The rules (what
merges how) live in memory_pool.environment, which the store never imports.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

import duckdb

from factory.store.connection import Connection, decode_json, now


class EnvMemory(Connection):
    """The ``env_memory`` table."""

    _ENV_MEMORY_JSON = ("recipe", "dependencies", "provenance")
    _ENV_MEMORY_COLUMNS = (
        "recipe_id", "repo", "language", "fingerprint", "image_tag", "recipe", "dockerfile", "dependencies",
        "commit_date", "version", "provenance", "successes", "failures", "builder", "created_at", "updated_at",
    )

    def _env_memory_decode(self, row: dict) -> dict:
        return decode_json(row, self._ENV_MEMORY_JSON)

    def _env_memory_write(self, con: duckdb.DuckDBPyConnection, row: dict) -> None:
        values = [
            json.dumps(row[c], sort_keys=True) if c in self._ENV_MEMORY_JSON else row[c]
            for c in self._ENV_MEMORY_COLUMNS
        ]
        con.execute(
            f"INSERT OR REPLACE INTO env_memory ({','.join(self._ENV_MEMORY_COLUMNS)})"
            f" VALUES ({','.join('?' * len(self._ENV_MEMORY_COLUMNS))})",
            values,
        )

    def env_memory(self, recipe_id: str) -> dict | None:
        """The stored row for ``recipe_id`` (JSON columns decoded), or None."""
        rows = self._rows("SELECT * FROM env_memory WHERE recipe_id = ?", [recipe_id])
        return self._env_memory_decode(rows[0]) if rows else None

    def env_memory_rows(
        self, *, repo: str | None = None, language: str | None = None, fingerprint: str | None = None
    ) -> list[dict]:
        """Rows matching every filter given, ordered by repo, commit date and id."""
        where, params = [], []
        for column, value in (("repo", repo), ("language", language), ("fingerprint", fingerprint)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = "SELECT * FROM env_memory" + (" WHERE " + " AND ".join(where) if where else "")
        return [self._env_memory_decode(r) for r in self._rows(sql + " ORDER BY repo, commit_date, recipe_id", params)]

    def env_memory_ids(self, prefix: str) -> list[str]:
        """Ids starting with ``prefix`` (a literal prefix, not a pattern), sorted."""
        rows = self._rows("SELECT recipe_id FROM env_memory WHERE starts_with(recipe_id, ?) ORDER BY 1", [prefix])
        return [r["recipe_id"] for r in rows]

    def merge_env_memory(self, rows: Iterable[dict], merge: Callable[[dict | None, dict], dict]) -> list[bool]:
        """Upsert rows in one transaction: for each incoming row, ``merge(stored row or None, incoming)``
        returns the row to write (the read and the write happen under the store lock, so concurrent
        merges never lose an update). Returns, per incoming row, whether its id was new."""
        new: list[bool] = []
        with self._tx() as con:
            for incoming in rows:
                cur = con.execute("SELECT * FROM env_memory WHERE recipe_id = ?", [incoming["recipe_id"]])
                names = [d[0] for d in cur.description]
                found = cur.fetchone()
                stored = self._env_memory_decode(dict(zip(names, found, strict=True))) if found else None
                self._env_memory_write(con, merge(stored, incoming))
                new.append(stored is None)
        return new

    def add_env_memory_failure(self, recipe_id: str) -> bool:
        """``failures += 1`` for ``recipe_id``; False when no such row exists."""
        with self._tx() as con:
            found = con.execute(
                "UPDATE env_memory SET failures = failures + 1, updated_at = ? WHERE recipe_id = ? RETURNING 1",
                [now(), recipe_id],
            ).fetchall()
        return bool(found)
