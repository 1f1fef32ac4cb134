"""The one place that reads and writes the DuckDB file.

Why one module: DuckDB allows a single writer, so every write goes through one connection guarded by a
lock (parallel workers in one process are serialized here), and every method that completes a step
commits before returning — a ``kill -9`` loses at most the step in flight. Schema changes are
append-only, named migration functions; a migration once released is never edited.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from factory.core.errors import UserError
from factory.core.models import FINAL, IN_FLIGHT, Attempt, Candidate, Environment, Instance, Status, Validation

# --------------------------------------------------------------------------------------------------
# Migrations: append new functions to MIGRATIONS, never edit or reorder released ones.


def m001_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE candidates (
            instance_id VARCHAR PRIMARY KEY,
            repo VARCHAR NOT NULL,
            base_commit VARCHAR NOT NULL,
            fix_commit VARCHAR NOT NULL,
            patch VARCHAR NOT NULL,
            test_patch VARCHAR NOT NULL,
            problem_statement VARCHAR NOT NULL,
            hints_text VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            version VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            language VARCHAR NOT NULL,
            issue_numbers VARCHAR NOT NULL,   -- JSON list
            pull_number INTEGER,
            test_files VARCHAR NOT NULL,      -- JSON list
            mined_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("CREATE UNIQUE INDEX candidates_fix ON candidates(repo, fix_commit)")
    con.execute(
        """
        CREATE TABLE instances (
            instance_id VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,
            image VARCHAR NOT NULL,
            eval_script VARCHAR NOT NULL,
            fail_to_pass VARCHAR NOT NULL,    -- JSON list
            pass_to_pass VARCHAR NOT NULL,    -- JSON list
            flaky_tests VARCHAR NOT NULL,     -- JSON list
            detail VARCHAR NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE environments (
            fingerprint VARCHAR PRIMARY KEY,
            repo VARCHAR NOT NULL,
            language VARCHAR NOT NULL,
            python_version VARCHAR NOT NULL,
            python_reason VARCHAR NOT NULL,
            base_image VARCHAR NOT NULL,
            install_commands VARCHAR NOT NULL,  -- JSON list
            dockerfile VARCHAR NOT NULL,
            image_tag VARCHAR NOT NULL,
            image_id VARCHAR NOT NULL,
            status VARCHAR NOT NULL,
            error VARCHAR NOT NULL,
            log_path VARCHAR NOT NULL,
            builder VARCHAR NOT NULL,
            seconds DOUBLE NOT NULL,
            source_commit VARCHAR NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("CREATE SEQUENCE attempts_id")
    con.execute(
        """
        CREATE TABLE attempts (
            id BIGINT PRIMARY KEY DEFAULT nextval('attempts_id'),
            instance_id VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,
            detail VARCHAR NOT NULL,
            log_path VARCHAR NOT NULL,
            tokens BIGINT NOT NULL,
            seconds DOUBLE NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute(
        """
        CREATE TABLE validations (
            instance_id VARCHAR NOT NULL,
            phase VARCHAR NOT NULL,
            run_index INTEGER NOT NULL,
            exit_code INTEGER,
            verdict VARCHAR NOT NULL,
            infra_error VARCHAR NOT NULL,
            patch_error VARCHAR NOT NULL,
            tests VARCHAR NOT NULL,          -- JSON object test id -> outcome
            seconds DOUBLE NOT NULL,
            timed_out BOOLEAN NOT NULL,
            log_path VARCHAR NOT NULL,
            log_sha256 VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (instance_id, phase, run_index)
        )
        """
    )


def m002_llm_ledger_and_environment_memory(con: duckdb.DuckDBPyConnection) -> None:
    """LLM call ledger (also the record/replay log), the environment memory pool, and which builder
    produced each instance's environment."""
    con.execute("CREATE SEQUENCE llm_calls_id")
    con.execute(
        """
        CREATE TABLE llm_calls (
            id BIGINT PRIMARY KEY DEFAULT nextval('llm_calls_id'),
            instance_id VARCHAR NOT NULL,
            role VARCHAR NOT NULL,
            model VARCHAR NOT NULL,
            request_sha VARCHAR NOT NULL,     -- sha256 of (model, messages, params): the replay key
            request VARCHAR NOT NULL,         -- JSON: messages and params (never the API key)
            response VARCHAR NOT NULL,        -- JSON: the assistant text and usage, '' on error
            status VARCHAR NOT NULL,          -- ok | error | replayed
            error VARCHAR NOT NULL,
            tokens_in BIGINT NOT NULL,
            tokens_out BIGINT NOT NULL,
            tokens_cached BIGINT NOT NULL,
            usd DOUBLE NOT NULL,
            seconds DOUBLE NOT NULL,
            created_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("CREATE INDEX llm_calls_request ON llm_calls(request_sha)")
    con.execute(
        """
        CREATE TABLE env_memory (
            recipe_id VARCHAR PRIMARY KEY,    -- sha256 of the recipe JSON
            repo VARCHAR NOT NULL,
            language VARCHAR NOT NULL,
            fingerprint VARCHAR NOT NULL,     -- dependency fingerprint of the env that proved it
            image_tag VARCHAR NOT NULL,       -- env image built from it (may be gone)
            recipe VARCHAR NOT NULL,          -- JSON of factory.core.recipe.Recipe
            dockerfile VARCHAR NOT NULL,      -- the env Dockerfile it rendered to
            dependencies VARCHAR NOT NULL,    -- JSON list of normalized package names
            commit_date TIMESTAMPTZ NOT NULL, -- base commit date of the first proof
            version VARCHAR NOT NULL,
            provenance VARCHAR NOT NULL,      -- JSON list of instance ids that proved it
            successes INTEGER NOT NULL,
            failures INTEGER NOT NULL,
            builder VARCHAR NOT NULL,         -- heuristic | llm:<model> | memory
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("ALTER TABLE instances ADD COLUMN builder VARCHAR DEFAULT ''")


def m003_eval_results(con: duckdb.DuckDBPyConnection) -> None:
    """One row per (run, model, instance) graded by the evaluation harness (factory/harness/runner.py). The
    content key (instance, patch sha, image id, eval script sha) lets any later run reuse a result."""
    con.execute(
        """
        CREATE TABLE eval_results (
            run_id VARCHAR NOT NULL,
            model VARCHAR NOT NULL,           -- model_name_or_path as given in the predictions
            instance_id VARCHAR NOT NULL,
            patch_sha256 VARCHAR NOT NULL,    -- sha256 of the model patch bytes ('' when empty)
            image_id VARCHAR NOT NULL,        -- engine image id (sha256:…) the run used ('' if none)
            eval_script_sha256 VARCHAR NOT NULL,
            status VARCHAR NOT NULL,          -- resolved | unresolved | error | empty
            reason VARCHAR NOT NULL,          -- why unresolved / error (patch refused, timeout, …)
            resolved BOOLEAN NOT NULL,
            report VARCHAR NOT NULL,          -- JSON: the SWE-bench per-instance report (report.json value)
            grade VARCHAR NOT NULL,           -- JSON: the graded run (verdict, exit code, patch error, per-test)
            exit_code INTEGER,
            test_seconds DOUBLE,              -- raw test-command seconds (FACTORY_TEST_SECONDS)
            seconds DOUBLE NOT NULL,          -- container seconds spent by this run (0 when reused)
            reused_from VARCHAR NOT NULL,     -- run id whose result was reused ('' = ran here)
            log_dir VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, model, instance_id)
        )
        """
    )
    con.execute(
        "CREATE INDEX eval_results_key ON eval_results(instance_id, patch_sha256, image_id, eval_script_sha256)"
    )


def m004_source_cursors(con: duckdb.DuckDBPyConnection) -> None:
    """Per-source state for incremental mining: where the code is fetched from (never with credentials)
    and how far the last run got (GitHub: the ``updated_at`` of the last pull request fully handled)."""
    con.execute(
        """
        CREATE TABLE sources (
            source VARCHAR PRIMARY KEY,       -- github:owner/repo
            location VARCHAR NOT NULL,        -- clone URL or path the mirror fetches (credentials stripped)
            cursor TIMESTAMPTZ,               -- last updated_at handled; NULL before the first run
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    m001_initial,
    m002_llm_ledger_and_environment_memory,
    m003_eval_results,
    m004_source_cursors,
]

# --------------------------------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


_LOCK_PID = re.compile(r"PID (\d+)")


class StoreLocked(UserError):
    """Another process holds the DuckDB file (DuckDB allows one writing process)."""


class Store:
    """DuckDB-backed record store. Use as a context manager or call :meth:`close`."""

    def __init__(
        self,
        path: Path | str,
        read_only: bool = False,
        lock_wait: float = 0.0,
        on_wait: Callable[[str], None] | None = None,
    ):
        """``read_only`` (for checks like ``factory doctor``): no migration runs, nothing is written.

        ``lock_wait``: seconds to wait while another process holds the file (scheduled flows that overlap
        queue up instead of failing); 0 fails at once with a message naming the holder. ``on_wait`` is told
        once that we are waiting, and why.
        """
        self.path = Path(path)
        self.read_only = read_only
        self._lock = threading.RLock()
        self._con = self._connect_waiting(lock_wait, on_wait)
        if not read_only:
            self._migrate()

    # ---- connection -------------------------------------------------------------------------------

    def _connect_waiting(self, lock_wait: float, on_wait: Callable[[str], None] | None) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + lock_wait
        delay, told = 0.2, False
        while True:
            try:
                return self._connect()
            except StoreLocked as exc:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise
                if on_wait and not told:
                    on_wait(f"{exc.what}; waiting up to {lock_wait:.0f}s for it")
                    told = True
                time.sleep(min(delay, remaining))
                delay = min(delay * 2, 5.0)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if self.path.parent and not self.path.parent.exists():
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise UserError(
                    f"cannot create the directory for the database {self.path}: {exc.strerror}",
                    "pass --db (or FACTORY_DB) pointing to a writable location",
                ) from exc
        try:
            return duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                pid = _LOCK_PID.search(text)
                holder = f" (PID {pid.group(1)})" if pid else ""
                raise StoreLocked(
                    f"the database {self.path} is in use by another factory process{holder}",
                    "wait for that process to finish, or use another --db",
                ) from exc
            if "not a valid duckdb database" in text.lower():
                raise UserError(
                    f"{self.path} is not a usable DuckDB database: {text.splitlines()[0]}",
                    "pass --db with a new file name, or move the damaged file away",
                ) from exc
            raise UserError(
                f"cannot open the database {self.path}: {text.splitlines()[0]}",
                "pass --db (or FACTORY_DB) pointing to a writable file",
            ) from exc
        except duckdb.Error as exc:
            raise UserError(
                f"{self.path} is not a usable DuckDB database: {str(exc).splitlines()[0]}",
                "pass --db with a new file name, or move the damaged file away",
            ) from exc

    def _migrate(self) -> None:
        with self._lock:
            con = self._con
            con.execute("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
            done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
            for migration in MIGRATIONS:
                if migration.__name__ in done:
                    continue
                con.execute("BEGIN")
                try:
                    migration(con)
                    con.execute("INSERT INTO _migrations VALUES (?, ?)", [migration.__name__, _now()])
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            self._con.execute("BEGIN")
            try:
                yield self._con
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: Iterable[object] = ()) -> list[dict]:
        with self._lock:
            cur = self._con.execute(sql, list(params))
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def migrations(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM _migrations ORDER BY applied_at, name")]

    def pending_migrations(self) -> list[str]:
        """Released migrations this file has not had yet (a read-only store does not apply them)."""
        done = set(self.migrations())
        return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]

    # ---- candidates -----------------------------------------------------------------------------

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
                        json.dumps(c.issue_numbers), c.pull_number, json.dumps(c.test_files), _now(),
                    ],
                )
                con.execute(
                    "INSERT INTO instances (instance_id, status, reason, fingerprint, image, eval_script,"
                    " fail_to_pass, pass_to_pass, flaky_tests, detail, updated_at, builder)"
                    " VALUES (?, ?, '', '', '', '', '[]', '[]', '[]', '', ?, '')",
                    [c.instance_id, Status.MINED.value, _now()],
                )
                added.append(c.instance_id)
        return added

    def known_pull_numbers(self, repo: str) -> set[int]:
        rows = self._rows("SELECT pull_number FROM candidates WHERE repo = ? AND pull_number IS NOT NULL", [repo])
        return {r["pull_number"] for r in rows}

    def image_last_use(self) -> dict[str, datetime]:
        """Image tag -> the last time a build or a verdict used it (``factory clean`` keeps recent ones)."""
        uses: dict[str, datetime] = {}
        for row in self._rows(
            "SELECT image_tag AS tag, updated_at FROM environments WHERE image_tag <> '' "
            "UNION ALL SELECT image AS tag, updated_at FROM instances WHERE image <> ''"
        ):
            uses[row["tag"]] = max(row["updated_at"], uses.get(row["tag"], row["updated_at"]))
        return uses

    # ---- sources (incremental mining) -------------------------------------------------------------

    def source(self, source: str) -> dict | None:
        """``{"source", "location", "cursor", "updated_at"}`` of a mined source, or None."""
        rows = self._rows("SELECT * FROM sources WHERE source = ?", [source])
        return rows[0] if rows else None

    def save_source(self, source: str, location: str, cursor: datetime | None = None) -> None:
        """Record where ``source`` is fetched from and, if given, move its cursor (never backwards)."""
        with self._tx() as con:
            con.execute(
                """INSERT INTO sources VALUES (?, ?, ?, ?) ON CONFLICT (source) DO UPDATE SET
                   location = excluded.location,
                   cursor = CASE WHEN excluded.cursor IS NULL THEN sources.cursor
                                 WHEN sources.cursor IS NULL THEN excluded.cursor
                                 ELSE greatest(sources.cursor, excluded.cursor) END,
                   updated_at = excluded.updated_at""",
                [source, location, cursor, _now()],
            )

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

    # ---- instances ------------------------------------------------------------------------------

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
                """UPDATE instances SET status=?, reason=?, fingerprint=?, image=?, eval_script=?,
                   fail_to_pass=?, pass_to_pass=?, flaky_tests=?, detail=?, builder=?, updated_at=?
                   WHERE instance_id=?""",
                [
                    inst.status.value, inst.reason, inst.fingerprint, inst.image, inst.eval_script,
                    json.dumps(inst.fail_to_pass), json.dumps(inst.pass_to_pass),
                    json.dumps(inst.flaky_tests), inst.detail, inst.builder, _now(), inst.instance_id,
                ],
            )

    def reset(self, instance_ids: Iterable[str]) -> None:
        """Send instances back to ``mined`` (a user-requested rebuild), dropping their old runs."""
        with self._tx() as con:
            for iid in instance_ids:
                con.execute("DELETE FROM validations WHERE instance_id = ?", [iid])
                con.execute(
                    """UPDATE instances SET status=?, reason='', image='', eval_script='', fail_to_pass='[]',
                       pass_to_pass='[]', flaky_tests='[]', detail='', builder='', updated_at=? WHERE instance_id=?""",
                    [Status.MINED.value, _now(), iid],
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

    # ---- environments ---------------------------------------------------------------------------

    def environment(self, fingerprint: str) -> Environment | None:
        rows = self._rows("SELECT * FROM environments WHERE fingerprint = ?", [fingerprint])
        if not rows:
            return None
        row = rows[0]
        row.pop("updated_at")
        row["install_commands"] = json.loads(row["install_commands"])
        return Environment(**row)

    def save_environment(self, env: Environment) -> None:
        values = env.model_dump()
        values["install_commands"] = json.dumps(env.install_commands)
        cols = list(values)
        with self._tx() as con:
            con.execute("DELETE FROM environments WHERE fingerprint = ?", [env.fingerprint])
            con.execute(
                f"INSERT INTO environments ({','.join(cols)}, updated_at) VALUES ({','.join('?' * (len(cols) + 1))})",
                [*values.values(), _now()],
            )

    # ---- attempts and validations ---------------------------------------------------------------

    def add_attempt(self, attempt: Attempt) -> None:
        a = attempt
        with self._tx() as con:
            con.execute(
                "INSERT INTO attempts (instance_id, role, action, outcome, detail, log_path, tokens, seconds,"
                " created_at) VALUES (?,?,?,?,?,?,?,?,?)",
                [a.instance_id, a.role, a.action, a.outcome, a.detail, a.log_path, a.tokens, a.seconds, _now()],
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
                    json.dumps(v.tests, sort_keys=True), v.seconds, v.timed_out, v.log_path, v.log_sha256, _now(),
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

    def table_counts(self) -> dict[str, int]:
        names = ["candidates", "instances", "environments", "attempts", "validations"]
        return {n: self._rows(f"SELECT count(*) AS n FROM {n}")[0]["n"] for n in names}

    # ---- LLM ledger (agents/llm.py): one row per chat call, also the record/replay log -------------

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
                 tokens_in, tokens_out, tokens_cached, usd, seconds, _now()],
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

    # ---- environment memory ---------------------------------------------------------------------
    # Rows of ``env_memory`` as plain dicts; the JSON columns (recipe, dependencies, provenance) are
    # decoded on read and encoded on write. The rules (what merges how) live in memory_pool.environment.

    _ENV_MEMORY_JSON = ("recipe", "dependencies", "provenance")
    _ENV_MEMORY_COLUMNS = (
        "recipe_id", "repo", "language", "fingerprint", "image_tag", "recipe", "dockerfile", "dependencies",
        "commit_date", "version", "provenance", "successes", "failures", "builder", "created_at", "updated_at",
    )

    def _env_memory_decode(self, row: dict) -> dict:
        return _decode_json(row, self._ENV_MEMORY_JSON)

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
                [_now(), recipe_id],
            ).fetchall()
        return bool(found)

    # ---- evaluation results ---------------------------------------------------------------------
    # Rows of ``eval_results`` (factory/harness/runner.py) as plain dicts; ``report`` and ``grade`` are JSON
    # columns, decoded on read and encoded on write.

    _EVAL_JSON = ("report", "grade")
    _EVAL_COLUMNS = (
        "run_id", "model", "instance_id", "patch_sha256", "image_id", "eval_script_sha256", "status", "reason",
        "resolved", "report", "grade", "exit_code", "test_seconds", "seconds", "reused_from", "log_dir",
    )

    def _eval_decode(self, row: dict) -> dict:
        return _decode_json(row, self._EVAL_JSON)

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
                [*values, _now()],
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


def _decode_json(row: dict, keys: Iterable[str]) -> dict:
    """A copy of ``row`` with its JSON text columns ``keys`` decoded."""
    row = dict(row)
    for key in keys:
        row[key] = json.loads(row[key])
    return row


def _candidate(row: dict) -> Candidate:
    row = dict(row)
    row.pop("mined_at", None)
    row["issue_numbers"] = json.loads(row["issue_numbers"])
    row["test_files"] = json.loads(row["test_files"])
    return Candidate(**row)


def _instance(row: dict) -> Instance:
    row = dict(row)
    for key in ("fail_to_pass", "pass_to_pass", "flaky_tests"):
        row[key] = json.loads(row[key])
    return Instance(**row)
