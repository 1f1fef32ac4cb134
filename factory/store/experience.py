"""Experience memory storage (tables ``experience_cases``, ``experience_insights``, ``experience_ops``).

Why apart: this is storage only, like :mod:`factory.store.env_memory` — plain dict rows in and out, the
JSON columns decoded on read and encoded on write. The rules (what a case is, which cases may be written,
how an insight operation changes insights, the cap per stage) live in memory_pool.experience, which the
store never imports. An operation reads and writes several rows and appends to the op log; it does so
inside :meth:`Experience.experience_tx`, one transaction under the store lock, so concurrent operations
never interleave and an interrupted one leaves nothing half done.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import duckdb

from factory.store.connection import Connection, decode_json

CASE_JSON = ("stage_notes", "files", "functions", "candidate_patches")
CASE_COLUMNS = (
    "case_id", "run_id", "instance_id", "repo", "pr_number", "base_commit", "issue_created_at", "issue_text",
    "stage_notes", "files", "functions", "reproduction", "reproduction_output", "candidate_patches",
    "submitted_patch", "outcome", "positive", "calls", "tokens_in", "tokens_out", "usd", "seconds", "model",
    "config", "split", "written_at",
)
INSIGHT_JSON = ("case_ids",)
INSIGHT_COLUMNS = (
    "insight_id", "stage", "text", "support", "contradiction", "case_ids", "status", "version", "created_at",
    "updated_at",
)
OP_JSON = ("insight_ids", "detail")
OP_COLUMNS = ("op", "stage", "insight_ids", "case_id", "reason", "detail", "created_at")


def _encoded(row: dict, columns: tuple[str, ...], json_columns: tuple[str, ...]) -> list[object]:
    return [json.dumps(row[c], sort_keys=True) if c in json_columns else row[c] for c in columns]


def _select(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> list[dict]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _insights_sql(stage: str | None, active_only: bool) -> tuple[str, list[object]]:
    where, params = [], []
    if stage is not None:
        where.append("stage = ?")
        params.append(stage)
    if active_only:
        where.append("status = 'active'")
    sql = "SELECT * FROM experience_insights" + (" WHERE " + " AND ".join(where) if where else "")
    return sql + " ORDER BY stage, created_at, insight_id", params


class ExperienceTx:
    """Reads and writes inside one experience transaction (see :meth:`Experience.experience_tx`)."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con

    def case_exists(self, case_id: str) -> bool:
        return bool(self._con.execute("SELECT 1 FROM experience_cases WHERE case_id = ?", [case_id]).fetchall())

    def write_case(self, row: dict) -> bool:
        """Insert or replace a case row; True when its id was new."""
        new = not self.case_exists(row["case_id"])
        self._con.execute(
            f"INSERT OR REPLACE INTO experience_cases ({','.join(CASE_COLUMNS)})"
            f" VALUES ({','.join('?' * len(CASE_COLUMNS))})",
            _encoded(row, CASE_COLUMNS, CASE_JSON),
        )
        return new

    def insight(self, insight_id: str) -> dict | None:
        rows = _select(self._con, "SELECT * FROM experience_insights WHERE insight_id = ?", [insight_id])
        return decode_json(rows[0], INSIGHT_JSON) if rows else None

    def insights(self, stage: str | None = None, active_only: bool = True) -> list[dict]:
        sql, params = _insights_sql(stage, active_only)
        return [decode_json(r, INSIGHT_JSON) for r in _select(self._con, sql, params)]

    def write_insight(self, row: dict) -> None:
        """Insert or replace an insight row."""
        self._con.execute(
            f"INSERT OR REPLACE INTO experience_insights ({','.join(INSIGHT_COLUMNS)})"
            f" VALUES ({','.join('?' * len(INSIGHT_COLUMNS))})",
            _encoded(row, INSIGHT_COLUMNS, INSIGHT_JSON),
        )

    def log_op(self, row: dict) -> None:
        """Append one row to the operation log."""
        self._con.execute(
            f"INSERT INTO experience_ops ({','.join(OP_COLUMNS)}) VALUES ({','.join('?' * len(OP_COLUMNS))})",
            _encoded(row, OP_COLUMNS, OP_JSON),
        )


class Experience(Connection):
    """The ``experience_cases``, ``experience_insights`` and ``experience_ops`` tables."""

    @contextmanager
    def experience_tx(self) -> Iterator[ExperienceTx]:
        """One transaction over the experience tables: committed when the block ends, rolled back (nothing
        written) when it raises."""
        with self._tx() as con:
            yield ExperienceTx(con)

    def save_experience_case(self, row: dict) -> bool:
        """Insert or replace one case and commit; True when its id was new."""
        with self.experience_tx() as tx:
            return tx.write_case(row)

    def experience_case(self, case_id: str) -> dict | None:
        """The stored case ``case_id`` (JSON columns decoded), or None."""
        rows = self._rows("SELECT * FROM experience_cases WHERE case_id = ?", [case_id])
        return decode_json(rows[0], CASE_JSON) if rows else None

    def experience_cases(
        self, *, split: str | None = None, repo: str | None = None, before: datetime | None = None
    ) -> list[dict]:
        """Cases matching every filter given (``before``: issue created strictly earlier), oldest issue first."""
        where, params = [], []
        for column, value in (("split", split), ("repo", repo)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before is not None:
            where.append("issue_created_at < ?")
            params.append(before)
        sql = "SELECT * FROM experience_cases" + (" WHERE " + " AND ".join(where) if where else "")
        rows = self._rows(sql + " ORDER BY issue_created_at, instance_id, case_id", params)
        return [decode_json(r, CASE_JSON) for r in rows]

    def experience_insight(self, insight_id: str) -> dict | None:
        """The stored insight ``insight_id`` (case ids decoded), or None."""
        rows = self._rows("SELECT * FROM experience_insights WHERE insight_id = ?", [insight_id])
        return decode_json(rows[0], INSIGHT_JSON) if rows else None

    def experience_insights(self, *, stage: str | None = None, active_only: bool = True) -> list[dict]:
        """Insights (of ``stage``; only active ones unless ``active_only`` is False), by stage, age and id."""
        sql, params = _insights_sql(stage, active_only)
        return [decode_json(r, INSIGHT_JSON) for r in self._rows(sql, params)]

    def experience_ops(self, *, insight_id: str | None = None, stage: str | None = None) -> list[dict]:
        """The operation log in the order it was written (only ops touching ``insight_id`` / of ``stage``)."""
        sql, params = "SELECT * FROM experience_ops", []
        if stage is not None:
            sql, params = sql + " WHERE stage = ?", [stage]
        rows = [decode_json(r, OP_JSON) for r in self._rows(sql + " ORDER BY id", params)]
        return [r for r in rows if insight_id is None or insight_id in r["insight_ids"]]
