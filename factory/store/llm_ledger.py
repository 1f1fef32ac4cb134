"""The LLM call ledger (table ``llm_calls``): one row per chat call, also the record / replay log.

Why apart: agents/llm/ records every call here (spend, tokens, errors) and answers replays from the
recorded ``ok`` responses by request sha; the caller keeps API keys out of every field.
"""

from __future__ import annotations

from factory.store.connection import Connection, now


class LlmLedger(Connection):
    """The ``llm_calls`` table: recording calls, replay look-ups and spend totals."""

    def add_llm_call(
        self, *, instance_id: str, role: str, model: str, request_sha: str, request: str, response: str,
        status: str, error: str, tokens_in: int, tokens_out: int, tokens_cached: int, usd: float, seconds: float,
    ) -> int:
        """Record one LLM call (``status`` ok | error | replayed) and commit; return its id.
        ``request`` / ``response`` are JSON text; the caller keeps API keys out of every field."""
        with self._tx() as con:
            row = con.execute(
                "INSERT INTO llm_calls (instance_id, role, model, request_sha, request, response, status, error,"
                " tokens_in, tokens_out, tokens_cached, usd, seconds, created_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                [instance_id, role, model, request_sha, request, response, status, error,
                 tokens_in, tokens_out, tokens_cached, usd, seconds, now()],
            ).fetchone()
        return int(row[0])

    def recorded_responses(self, request_sha: str) -> list[dict]:
        """Successful (``ok``) calls with this request sha, oldest first: id, instance_id, request, response,
        tokens_in, tokens_out, tokens_cached, usd — what a replay answers from."""
        return self._rows(
            "SELECT id, instance_id, request, response, tokens_in, tokens_out, tokens_cached, usd FROM llm_calls"
            " WHERE request_sha = ? AND status = 'ok' ORDER BY id",
            [request_sha],
        )

    def llm_models(self) -> list[str]:
        """Models with successful calls in the ledger, most recently used first."""
        rows = self._rows(
            "SELECT model, max(id) AS last FROM llm_calls WHERE status = 'ok' GROUP BY model ORDER BY last DESC"
        )
        return [r["model"] for r in rows]

    def llm_calls(self, instance_id: str | None = None) -> list[dict]:
        """Ledger rows (all columns), oldest first; only ``instance_id``'s when given."""
        sql, params = "SELECT * FROM llm_calls", []
        if instance_id is not None:
            sql, params = sql + " WHERE instance_id = ?", [instance_id]
        return self._rows(sql + " ORDER BY id", params)

    def llm_totals(self, instance_id: str | None = None) -> dict:
        """Spend of live calls (ok and error; replayed ones cost nothing and are counted apart):
        ``{"calls", "errors", "replayed", "tokens_in", "tokens_out", "tokens_cached", "usd", "seconds"}``."""
        sql = (
            "SELECT count(*) FILTER (WHERE status <> 'replayed') AS calls,"
            " count(*) FILTER (WHERE status = 'error') AS errors,"
            " count(*) FILTER (WHERE status = 'replayed') AS replayed,"
            " coalesce(sum(tokens_in) FILTER (WHERE status <> 'replayed'), 0) AS tokens_in,"
            " coalesce(sum(tokens_out) FILTER (WHERE status <> 'replayed'), 0) AS tokens_out,"
            " coalesce(sum(tokens_cached) FILTER (WHERE status <> 'replayed'), 0) AS tokens_cached,"
            " coalesce(sum(usd) FILTER (WHERE status <> 'replayed'), 0) AS usd,"
            " coalesce(sum(seconds) FILTER (WHERE status <> 'replayed'), 0) AS seconds"
            " FROM llm_calls"
        )
        params: list[object] = []
        if instance_id is not None:
            sql, params = sql + " WHERE instance_id = ?", [instance_id]
        row = self._rows(sql, params)[0]
        return {k: (float(v) if k in ("usd", "seconds") else int(v)) for k, v in row.items()}
