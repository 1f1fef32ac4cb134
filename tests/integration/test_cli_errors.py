"""Errors a user can cause end in one clear message and exit code 2, and never lose stored work.

Every test runs the real ``factory`` command in a subprocess with its own --db/--home in tmp_path.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from examples import tinyledger
from factory.store import Store

EXPECTED_COUNTS_KEYS = {"valid", "rejected", "error", "build_failed", "pending"}


def _mined_db(run_factory, tmp_path: Path) -> Path:
    repo = tinyledger.create(tmp_path / "tinyledger")
    db = tmp_path / "mined.duckdb"
    done = run_factory("mine", "--git", str(repo), "--db", str(db), "--home", str(tmp_path / "home"))
    assert done.returncode == 0, done.output
    return db


def test_mine_a_missing_path_names_it_and_says_how_to_fix(run_factory, tmp_path):
    done = run_factory("mine", "--git", "/does/not/exist", "--db", str(tmp_path / "f.duckdb"),
                       "--home", str(tmp_path / "home"))
    assert done.returncode == 2, done.output
    assert "/does/not/exist" in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.output


def test_mine_a_repo_without_tests_finds_no_candidates(run_factory, tmp_path):
    repo = tmp_path / "notests"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@example.com",
           "GIT_COMMITTER_NAME": "A", "GIT_COMMITTER_EMAIL": "a@example.com",
           "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    for i in range(3):
        (repo / "app.py").write_text(f"VALUE = {i}\n")
        git("add", "-A")
        git("commit", "-q", "-m", f"change {i}")
    db = tmp_path / "f.duckdb"
    done = run_factory("mine", "--git", str(repo), "--db", str(db), "--home", str(tmp_path / "home"))
    assert done.returncode == 0, done.output
    assert "No candidates" in done.stdout
    assert "scanned 3" in done.stdout
    with Store(db) as store:
        assert store.table_counts()["candidates"] == 0


def test_build_without_docker_fails_clearly_and_keeps_the_candidates(run_factory, tmp_path):
    db = _mined_db(run_factory, tmp_path)
    with Store(db) as store:
        before = store.table_counts()
        statuses = {i.instance_id: i.status for i in store.instances()}
    assert before["candidates"] == 7

    done = run_factory("build", "--db", str(db), "--home", str(tmp_path / "home"),
                       env={"DOCKER_HOST": "unix:///tmp/nope.sock"}, timeout=120)
    assert done.returncode == 2, done.output
    assert "Docker" in done.stderr
    assert "DOCKER_HOST" in done.stderr
    assert "unix:///tmp/nope.sock" in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.output

    with Store(db) as store:
        assert store.table_counts() == before
        assert {i.instance_id: i.status for i in store.instances()} == statuses
        assert len(store.candidates()) == 7


def test_status_with_an_unusable_db_path_is_a_clear_error(run_factory):
    done = run_factory("status", "--db", "/etc/passwd/x.duckdb")
    assert done.returncode == 2, done.output
    assert "/etc/passwd/x.duckdb" in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.output


def test_status_json_has_the_documented_shape(run_factory, tmp_path):
    empty = run_factory("status", "--json", "--db", str(tmp_path / "empty.duckdb"))
    assert empty.returncode == 0, empty.output
    assert json.loads(empty.stdout) == {
        "counts": {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 0},
        "total": 0, "in_progress": [],
    }

    db = _mined_db(run_factory, tmp_path)
    mined = run_factory("status", "--json", "--db", str(db))
    assert mined.returncode == 0, mined.output
    payload = json.loads(mined.stdout)
    assert set(payload) == {"counts", "total", "in_progress"}
    assert (payload["total"], payload["in_progress"]) == (7, [])
    assert set(payload["counts"]) == EXPECTED_COUNTS_KEYS
    assert payload["counts"] == {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 7}


HOLDER = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
print("ready", flush=True)
time.sleep(120)
"""


def test_status_while_another_program_holds_the_db_says_so(run_factory, tmp_path):
    """A program that is not the factory keeps the file open (factory writers let go after each write)."""
    db = tmp_path / "held.duckdb"
    with Store(db):
        pass
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        started = time.monotonic()
        done = run_factory("status", "--db", str(db), timeout=60)
        assert done.returncode == 2, done.output
        assert f"held open by another process (PID {holder.pid})" in done.stderr
        assert str(db) in done.stderr
        assert "fix:" in done.stderr
        assert time.monotonic() - started < 30
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    after = run_factory("status", "--json", "--db", str(db))
    assert after.returncode == 0, after.output
