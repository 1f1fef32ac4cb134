"""Instances (table ``instances``): each candidate's status through the pipeline, and what is left to do.

Why apart: the status of every instance decides what the build and validate stages pick up next
(:meth:`Instances.pending`, :meth:`Instances.valid_with_fewer_runs`), what a crash left in flight, and
what ``factory status`` counts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from factory.core.errors import UserError
from factory.core.models import FINAL, IN_FLIGHT, Instance, Status
from factory.store.connection import Connection, now


class Instances(Connection):
    """The ``instances`` table: one row per candidate, from ``mined`` to a final status."""

    def instance(self, instance_id: str) -> Instance:
        rows = self._rows("SELECT * FROM instances WHERE instance_id = ?", [instance_id])
        if not rows:
            raise UserError(f"no instance named {instance_id!r} in {self.path}", "run `factory status`")
        return _instance(rows[0])

    def instances(self) -> list[Instance]:
        return [_instance(r) for r in self._rows("SELECT * FROM instances ORDER BY instance_id")]

    def pending(self, only: Iterable[str] | None = None) -> list[str]:
        """Ids needing work: never finished, crashed mid-step, or ended in a (retryable) infra error."""
        final = [s.value for s in FINAL if s is not Status.ERROR]
        rows = self._rows(
            "SELECT i.instance_id FROM instances i JOIN candidates c USING (instance_id) "
            f"WHERE i.status NOT IN ({','.join('?' * len(final))}) ORDER BY c.created_at, i.instance_id",
            final,
        )
        ids = [r["instance_id"] for r in rows]
        if only is not None:
            wanted = set(only)
            ids = [i for i in ids if i in wanted]
        return ids

    def rejected_for(self, reasons: Iterable[str], only: Iterable[str] | None = None) -> list[str]:
        """Ids of instances rejected for one of ``reasons`` (within ``only``), in build order."""
        reasons = sorted(set(reasons))
        if not reasons:
            return []
        rows = self._rows(
            "SELECT i.instance_id FROM instances i JOIN candidates c USING (instance_id) WHERE i.status = ? "
            f"AND i.reason IN ({','.join('?' * len(reasons))}) ORDER BY c.created_at, i.instance_id",
            [Status.REJECTED.value, *reasons],
        )
        ids = [r["instance_id"] for r in rows]
        if only is not None:
            wanted = set(only)
            ids = [i for i in ids if i in wanted]
        return ids

    def valid_with_fewer_runs(self, runs_after: int, only: Iterable[str] | None = None) -> list[str]:
        """Valid instances with fewer than ``runs_after`` stored after-runs (the validate stage's work)."""
        rows = self._rows(
            "SELECT i.instance_id FROM instances i JOIN candidates c USING (instance_id) "
            "LEFT JOIN (SELECT instance_id, count(*) AS n FROM validations WHERE phase = 'after' GROUP BY ALL) v "
            "USING (instance_id) WHERE i.status = ? AND coalesce(v.n, 0) < ? ORDER BY c.created_at, i.instance_id",
            [Status.VALID.value, runs_after],
        )
        ids = [r["instance_id"] for r in rows]
        if only is not None:
            wanted = set(only)
            ids = [i for i in ids if i in wanted]
        return ids

    def in_flight(self) -> list[str]:
        states = [s.value for s in IN_FLIGHT]
        rows = self._rows("SELECT instance_id FROM instances WHERE status IN (?, ?)", states)
        return [r["instance_id"] for r in rows]

    def save_instance(self, inst: Instance) -> None:
        with self._tx() as con:
            con.execute(
                """UPDATE instances SET status=?, reason=?, fingerprint=?, image=?, image_id=?, eval_script=?,
                   fail_to_pass=?, pass_to_pass=?, flaky_tests=?, unstable_tests=?, detail=?, builder=?,
                   updated_at=? WHERE instance_id=?""",
                [
                    inst.status.value, inst.reason, inst.fingerprint, inst.image, inst.image_id, inst.eval_script,
                    json.dumps(inst.fail_to_pass), json.dumps(inst.pass_to_pass),
                    json.dumps(inst.flaky_tests), json.dumps(inst.unstable_tests), inst.detail, inst.builder, now(),
                    inst.instance_id,
                ],
            )

    def reset(self, instance_ids: Iterable[str]) -> None:
        """Send instances back to ``mined`` (a user-requested rebuild), dropping their old runs."""
        with self._tx() as con:
            for iid in instance_ids:
                con.execute("DELETE FROM validations WHERE instance_id = ?", [iid])
                con.execute(
                    """UPDATE instances SET status=?, reason='', image='', image_id='', eval_script='',
                       fail_to_pass='[]', pass_to_pass='[]', flaky_tests='[]', unstable_tests='[]',
                       detail='', builder='', updated_at=?
                       WHERE instance_id=?""",
                    [Status.MINED.value, now(), iid],
                )

    def counts(self) -> dict:
        """``{"valid": n, "rejected": {reason: n}, "error": {reason: n}, "build_failed": n, "pending": n}``."""
        out: dict = {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 0}
        for r in self._rows("SELECT status, reason, count(*) AS n FROM instances GROUP BY ALL ORDER BY ALL"):
            status, n = r["status"], r["n"]
            if status in (Status.REJECTED, Status.ERROR):
                bucket = out[status]
                bucket[r["reason"]] = bucket.get(r["reason"], 0) + n
            elif status in (Status.VALID, Status.BUILD_FAILED):
                out[status] += n
            else:
                out["pending"] += n
        return out


def _instance(row: dict) -> Instance:
    row = dict(row)
    for key in ("fail_to_pass", "pass_to_pass", "flaky_tests", "unstable_tests"):
        row[key] = json.loads(row.get(key) or "[]")
    return Instance(**row)
