"""Builder attempts and validation runs (tables ``attempts`` and ``validations``): the record of work done.

Why apart: these are the append-mostly logs of each instance's history — one row per builder round and
one per test run (before / after, by run index); the verdict on an instance is computed from its runs.
"""

from __future__ import annotations

import json

from factory.core.models import Attempt, Validation
from factory.store.connection import Connection, now


class Runs(Connection):
    """The ``attempts`` and ``validations`` tables."""

    def add_attempt(self, attempt: Attempt) -> None:
        a = attempt
        with self._tx() as con:
            con.execute(
                "INSERT INTO attempts (instance_id, role, action, outcome, detail, log_path, tokens, seconds,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [a.instance_id, a.role, a.action, a.outcome, a.detail, a.log_path, a.tokens, a.seconds, now()],
            )

    def attempts(self, instance_id: str) -> list[Attempt]:
        rows = self._rows("SELECT * FROM attempts WHERE instance_id = ? ORDER BY id", [instance_id])
        return [Attempt(**{k: v for k, v in r.items() if k in Attempt.model_fields}) for r in rows]

    def clear_validations(self, instance_id: str) -> None:
        with self._tx() as con:
            con.execute("DELETE FROM validations WHERE instance_id = ?", [instance_id])

    def add_validation(self, v: Validation) -> None:
        with self._tx() as con:
            con.execute(
                "INSERT OR REPLACE INTO validations VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    v.instance_id, v.phase, v.run_index, v.exit_code, v.verdict, v.infra_error, v.patch_error,
                    json.dumps(v.tests, sort_keys=True), v.seconds, v.timed_out, v.log_path, v.log_sha256, now(),
                ],
            )

    def validations(self, instance_id: str) -> list[Validation]:
        rows = self._rows(
            "SELECT * FROM validations WHERE instance_id = ? ORDER BY phase DESC, run_index", [instance_id]
        )
        out = []
        for r in rows:
            r.pop("created_at")
            r["tests"] = json.loads(r["tests"])
            out.append(Validation(**r))
        return out
