"""Mined candidates (table ``candidates``): adding them without duplicates and reading them back.

Why apart: the miners write here and every later stage starts from here. Adding a candidate also opens its
``instances`` row in status ``mined`` in the same transaction, so no candidate is ever without an instance.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from factory.core.errors import UserError
from factory.core.models import Candidate, Status
from factory.store.connection import Connection, now


class Candidates(Connection):
    """The ``candidates`` table: what the miners found, keyed by instance id and by (repo, fix commit)."""

    def add_candidates(self, candidates: Iterable[Candidate]) -> list[str]:
        """Insert candidates not stored yet (by instance id or fix commit); return the new ids."""
        added: list[str] = []
        with self._tx() as con:
            for c in candidates:
                exists = con.execute(
                    "SELECT 1 FROM candidates WHERE instance_id = ? OR (repo = ? AND fix_commit = ?)",
                    [c.instance_id, c.repo, c.fix_commit],
                ).fetchone()
                if exists:
                    continue
                con.execute(
                    "INSERT INTO candidates VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    [
                        c.instance_id, c.repo, c.base_commit, c.fix_commit, c.patch, c.test_patch,
                        c.problem_statement, c.hints_text, c.created_at, c.version, c.source, c.language,
                        json.dumps(c.issue_numbers), c.pull_number, json.dumps(c.test_files), now(),
                    ],
                )
                con.execute(
                    "INSERT INTO instances (instance_id, status, reason, fingerprint, image, eval_script,"
                    " fail_to_pass, pass_to_pass, flaky_tests, detail, updated_at, builder)"
                    " VALUES (?, ?, '', '', '', '', '[]', '[]', '[]', '', ?, '')",
                    [c.instance_id, Status.MINED.value, now()],
                )
                added.append(c.instance_id)
        return added

    def known_pull_numbers(self, repo: str) -> set[int]:
        rows = self._rows("SELECT pull_number FROM candidates WHERE repo = ? AND pull_number IS NOT NULL", [repo])
        return {r["pull_number"] for r in rows}

    def known_fix_commits(self, repo: str) -> set[str]:
        return {r["fix_commit"] for r in self._rows("SELECT fix_commit FROM candidates WHERE repo = ?", [repo])}

    def instance_ids(self) -> set[str]:
        return {r["instance_id"] for r in self._rows("SELECT instance_id FROM candidates")}

    def candidate(self, instance_id: str) -> Candidate:
        rows = self._rows("SELECT * FROM candidates WHERE instance_id = ?", [instance_id])
        if not rows:
            raise UserError(f"no candidate named {instance_id!r} in {self.path}", "run `factory status`")
        return _candidate(rows[0])

    def candidates(self, repo: str | None = None) -> list[Candidate]:
        sql = "SELECT * FROM candidates"
        params: list[object] = []
        if repo:
            sql += " WHERE repo = ?"
            params.append(repo)
        return [_candidate(r) for r in self._rows(sql + " ORDER BY created_at, instance_id", params)]


def _candidate(row: dict) -> Candidate:
    row = dict(row)
    row.pop("mined_at", None)
    row["issue_numbers"] = json.loads(row["issue_numbers"])
    row["test_files"] = json.loads(row["test_files"])
    return Candidate(**row)
