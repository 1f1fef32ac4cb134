"""The schema: append-only, named migration functions (:data:`MIGRATIONS`) and applying them to a file.

Why apart: the schema history must never change once released — existing DuckDB files are opened by
replaying only the migrations they have not had yet, by name, each in its own transaction. New schema
changes are new functions appended to :data:`MIGRATIONS`; released ones are never edited or reordered.
:class:`Migrations` reads this module's :data:`MIGRATIONS` at call time, so it is the one list that counts.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from factory.store.connection import Connection, now

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

def m005_experience(con: duckdb.DuckDBPyConnection) -> None:
    """The repair agent's experience memory (memory_pool/experience): episodic cases (one per run and
    instance, positive and negative, with cost and provenance), semantic insights per stage with
    support/contradiction counts, and the log of every operation that changed an insight (provenance)."""
    con.execute(
        """
        CREATE TABLE experience_cases (
            case_id VARCHAR PRIMARY KEY,      -- sha256 of run_id + instance_id (first 24 hex digits)
            run_id VARCHAR NOT NULL,
            instance_id VARCHAR NOT NULL,
            repo VARCHAR NOT NULL,
            pr_number INTEGER,
            base_commit VARCHAR NOT NULL,
            issue_created_at TIMESTAMPTZ NOT NULL,
            issue_text VARCHAR NOT NULL,
            stage_notes VARCHAR NOT NULL,     -- JSON object stage -> the agent's short note
            files VARCHAR NOT NULL,           -- JSON list: paths the submitted patch touches
            functions VARCHAR NOT NULL,       -- JSON list
            reproduction VARCHAR NOT NULL,    -- the reproduction script the agent wrote
            reproduction_output VARCHAR NOT NULL,  -- its output, bounded
            candidate_patches VARCHAR NOT NULL,    -- JSON list of diffs
            submitted_patch VARCHAR NOT NULL,
            outcome VARCHAR NOT NULL,         -- resolved | unresolved | error | empty | self_verified | self_failed
            positive BOOLEAN NOT NULL,        -- resolved or self_verified
            calls INTEGER NOT NULL,
            tokens_in BIGINT NOT NULL,
            tokens_out BIGINT NOT NULL,
            usd DOUBLE NOT NULL,
            seconds DOUBLE NOT NULL,
            model VARCHAR NOT NULL,
            config VARCHAR NOT NULL,
            split VARCHAR NOT NULL,           -- train | test
            written_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("CREATE INDEX experience_cases_repo ON experience_cases(repo, issue_created_at)")
    con.execute(
        """
        CREATE TABLE experience_insights (
            insight_id VARCHAR PRIMARY KEY,   -- sha256 of stage, text and the insights it merged (24 hex digits)
            stage VARCHAR NOT NULL,           -- reproduce | localize | patch | select
            text VARCHAR NOT NULL,
            support INTEGER NOT NULL,
            contradiction INTEGER NOT NULL,
            case_ids VARCHAR NOT NULL,        -- JSON list of the cases it came from or that counted for/against it
            status VARCHAR NOT NULL,          -- active | retired
            version INTEGER NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            updated_at TIMESTAMPTZ NOT NULL
        )
        """
    )
    con.execute("CREATE INDEX experience_insights_stage ON experience_insights(stage, status)")
    con.execute("CREATE SEQUENCE experience_ops_id")
    con.execute(
        """
        CREATE TABLE experience_ops (
            id BIGINT PRIMARY KEY DEFAULT nextval('experience_ops_id'),
            op VARCHAR NOT NULL,              -- add | merge | retire | support | contradict | evict | import
            stage VARCHAR NOT NULL,
            insight_ids VARCHAR NOT NULL,     -- JSON list: the insight written first, then those it changed
            case_id VARCHAR NOT NULL,         -- the case a support / contradict counted ('' otherwise)
            reason VARCHAR NOT NULL,
            detail VARCHAR NOT NULL,          -- JSON object: the op as given, and what it changed
            created_at TIMESTAMPTZ NOT NULL
        )
        """
    )


def m006_unstable_tests(con: duckdb.DuckDBPyConnection) -> None:
    """Test ids present in some but not all runs of a phase (time-parametrized ids): kept next to
    flaky_tests, so an instance says which of its tests were left out of PASS_TO_PASS and why."""
    con.execute("ALTER TABLE instances ADD COLUMN unstable_tests VARCHAR DEFAULT '[]'")  # JSON list


def m007_instance_image_id(con: duckdb.DuckDBPyConnection) -> None:
    """The engine's image ID of each instance's image, so an export pins the exact image it was validated in
    (a tag can be rebuilt to other bytes; an ID cannot). Empty for instances built before."""
    con.execute("ALTER TABLE instances ADD COLUMN image_id VARCHAR DEFAULT ''")


MIGRATIONS: list[Callable[[duckdb.DuckDBPyConnection], None]] = [
    m001_initial,
    m002_llm_ledger_and_environment_memory,
    m003_eval_results,
    m004_source_cursors,
    m005_experience,
    m006_unstable_tests,
    m007_instance_image_id,
]


class Migrations(Connection):
    """Applying :data:`MIGRATIONS` on open (never on a read-only store), and saying which ones a file has."""

    def _migrate(self) -> None:
        with self._use() as con:
            con.execute("CREATE TABLE IF NOT EXISTS _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
            done = {row[0] for row in con.execute("SELECT name FROM _migrations").fetchall()}
            for migration in MIGRATIONS:
                if migration.__name__ in done:
                    continue
                con.execute("BEGIN")
                try:
                    migration(con)
                    con.execute("INSERT INTO _migrations VALUES (?, ?)", [migration.__name__, now()])
                    con.execute("COMMIT")
                except Exception:
                    con.execute("ROLLBACK")
                    raise

    def migrations(self) -> list[str]:
        return [r["name"] for r in self._rows("SELECT name FROM _migrations ORDER BY applied_at, name")]

    def pending_migrations(self) -> list[str]:
        """Released migrations this file has not had yet (a read-only store does not apply them)."""
        done = set(self.migrations())
        return [m.__name__ for m in MIGRATIONS if m.__name__ not in done]
