"""Instances for ``factory report``, streamed: one row at a time with everything its page shows.

Why a merge of sorted streams: a page needs the candidate, its instance, its environment, every run, every
builder attempt, its LLM spend and its evaluation results. One query per instance and table would cost
tens of thousands of round trips on a large store; one query per table holding everything in Python would
hold the store in memory. Instead each table is read once by one streamed query ordered by instance id,
and :func:`instances` walks them side by side (a merge join), holding one instance at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import groupby

from factory.store import Store

INSTANCES = (
    "SELECT c.instance_id, c.repo, c.base_commit, c.fix_commit, c.patch, c.test_patch, c.problem_statement,"
    " c.hints_text, c.created_at, c.version, c.source, c.pull_number, c.issue_numbers, c.test_files,"
    " i.status, i.reason, i.detail, i.fail_to_pass, i.pass_to_pass, i.flaky_tests, i.unstable_tests, i.builder,"
    " i.image, i.eval_script, i.fingerprint, i.updated_at,"
    " e.dockerfile, e.status AS env_status, e.error AS env_error, e.log_path AS env_log, e.python_version,"
    " e.python_reason, e.base_image, e.seconds AS env_seconds, e.image_tag AS env_image"
    " FROM candidates c JOIN instances i USING (instance_id) LEFT JOIN environments e ON e.fingerprint = i.fingerprint"
    " ORDER BY c.instance_id"
)
RUNS = ("SELECT instance_id, phase, run_index, exit_code, verdict, infra_error, patch_error, tests, seconds,"
        " timed_out, log_path FROM validations ORDER BY instance_id, phase DESC, run_index")
ATTEMPTS = ("SELECT instance_id, role, action, outcome, detail, log_path, tokens, seconds FROM attempts"
            " ORDER BY instance_id, id")
LLM = ("SELECT instance_id, count(*) AS calls, sum(tokens_in) AS tokens_in, sum(tokens_out) AS tokens_out,"
       " sum(usd) AS usd FROM llm_calls WHERE status <> 'replayed' GROUP BY instance_id ORDER BY instance_id")
EVALS = ("SELECT instance_id, run_id, model, status, reason, log_dir FROM eval_results"
         " ORDER BY instance_id, created_at, run_id, model")
LIST = ("SELECT c.instance_id, c.repo, i.status, i.reason, i.builder, c.created_at FROM candidates c"
        " JOIN instances i USING (instance_id) ORDER BY c.instance_id")
JSON_LISTS = ("issue_numbers", "test_files", "fail_to_pass", "pass_to_pass", "flaky_tests", "unstable_tests")


class _Side:
    """A stream of rows sorted by instance id, read forward as the main stream advances."""

    def __init__(self, rows: Iterator[dict]):
        self._groups = groupby(rows, key=lambda r: r["instance_id"])
        self._head: tuple[str, list[dict]] | None = None
        self._advance()

    def _advance(self) -> None:
        nxt = next(self._groups, None)
        self._head = (nxt[0], list(nxt[1])) if nxt else None

    def take(self, instance_id: str) -> list[dict]:
        """Rows of ``instance_id`` (ids before it that the main stream does not have are skipped)."""
        while self._head is not None and self._head[0] < instance_id:
            self._advance()
        if self._head is not None and self._head[0] == instance_id:
            rows = self._head[1]
            self._advance()
            return rows
        return []


def count(store: Store) -> int:
    return int(store.select_one("SELECT count(*) AS n FROM candidates c JOIN instances i USING (instance_id)")["n"])


def instances(store: Store) -> Iterator[dict]:
    """Every instance with its page's data, by instance id: ``runs``, ``attempts``, ``llm``, ``evals`` added."""
    runs, attempts = _Side(store.select(RUNS)), _Side(store.select(ATTEMPTS))
    llm, evals = _Side(store.select(LLM)), _Side(store.select(EVALS))
    for row in store.select(INSTANCES, batch=500):
        iid = row["instance_id"]
        for key in JSON_LISTS:
            row[key] = json.loads(row[key] or "[]")
        row["runs"] = [{**r, "tests": json.loads(r["tests"] or "{}")} for r in runs.take(iid)]
        row["attempts"] = attempts.take(iid)
        spent = llm.take(iid)
        row["llm"] = spent[0] if spent else None
        row["evals"] = evals.take(iid)
        yield row


def listing(store: Store) -> Iterator[dict]:
    """One short row per instance (the instance list pages), by instance id."""
    return store.select(LIST)
