"""Evaluation results (table ``eval_results``): one row per (run, model, instance) graded by the harness.

Why apart: factory/harness/runner.py stores every graded prediction here, and reuses a stored result
when its content key (instance, patch sha, image id, eval script sha) matches; ``report`` and ``grade`` are
JSON columns, decoded on read and encoded on write.
"""

from __future__ import annotations

import json

from factory.store.connection import Connection, decode_json, now


class EvalResults(Connection):
    """The ``eval_results`` table."""

    _EVAL_JSON = ("report", "grade")
    _EVAL_COLUMNS = (
        "run_id", "model", "instance_id", "patch_sha256", "image_id", "eval_script_sha256", "status", "reason",
        "resolved", "report", "grade", "exit_code", "test_seconds", "seconds", "reused_from", "log_dir",
    )

    def _eval_decode(self, row: dict) -> dict:
        return decode_json(row, self._EVAL_JSON)

    def save_eval_result(self, row: dict) -> None:
        """Insert or replace the result of one (run, model, instance) and commit."""
        values = [json.dumps(row[c], sort_keys=True) if c in self._EVAL_JSON else row[c] for c in self._EVAL_COLUMNS]
        with self._tx() as con:
            con.execute(
                "DELETE FROM eval_results WHERE run_id = ? AND model = ? AND instance_id = ?",
                [row["run_id"], row["model"], row["instance_id"]],
            )
            con.execute(
                f"INSERT INTO eval_results ({','.join(self._EVAL_COLUMNS)}, created_at)"
                f" VALUES ({','.join('?' * (len(self._EVAL_COLUMNS) + 1))})",
                [*values, now()],
            )

    def reusable_eval_result(
        self, instance_id: str, patch_sha256: str, image_id: str, eval_script_sha256: str
    ) -> dict | None:
        """The newest graded (resolved or unresolved) result with this exact content key, from any run;
        None when the instance, the patch bytes, the image or the eval script differ from every stored one."""
        rows = self._rows(
            "SELECT * FROM eval_results WHERE instance_id = ? AND patch_sha256 = ? AND image_id = ?"
            " AND eval_script_sha256 = ? AND status IN ('resolved', 'unresolved') AND image_id <> ''"
            " ORDER BY created_at DESC LIMIT 1",
            [instance_id, patch_sha256, image_id, eval_script_sha256],
        )
        return self._eval_decode(rows[0]) if rows else None

    def eval_results(self, run_id: str, model: str | None = None) -> list[dict]:
        """Rows of one run (one model's when given), by model and instance id."""
        sql, params = "SELECT * FROM eval_results WHERE run_id = ?", [run_id]
        if model is not None:
            sql, params = sql + " AND model = ?", [run_id, model]
        return [self._eval_decode(r) for r in self._rows(sql + " ORDER BY model, instance_id", params)]

    def eval_runs(self) -> list[dict]:
        """One row per (run, model): counts per status, reused results, container seconds, last write."""
        return self._rows(
            "SELECT run_id, model, count(*) AS instances,"
            " count(*) FILTER (WHERE status = 'resolved') AS resolved,"
            " count(*) FILTER (WHERE status = 'unresolved') AS unresolved,"
            " count(*) FILTER (WHERE status = 'error') AS error,"
            " count(*) FILTER (WHERE status = 'empty') AS empty,"
            " count(*) FILTER (WHERE reused_from <> '') AS reused,"
            " sum(seconds) AS seconds, max(created_at) AS updated_at"
            " FROM eval_results GROUP BY run_id, model ORDER BY updated_at DESC, run_id, model"
        )
