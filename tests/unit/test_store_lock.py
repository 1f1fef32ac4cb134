"""The store's file lock (another process holds the DuckDB file) and the validate stage's selection."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.core.models import Candidate, Instance, Status, Validation
from factory.store import Store, StoreLocked

REPO_ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from factory.store import Store
from tests.unit.test_store_lock import cand

store = Store(sys.argv[1])
store.add_candidates([cand(1, "acme__lib-1")])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
store.close()
"""

#: Another program (a duckdb shell, a notebook) keeping the file open read-only for a while.
READER = """
import sys, time
import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("closed", flush=True)
"""


@contextmanager
def held(path: Path, seconds: float = 60.0, script: str = HOLDER) -> Iterator[subprocess.Popen]:
    """Another process that opens ``Store(path)``, writes one candidate and keeps the store open for
    ``seconds`` (killed on exit); ``script=READER``: one that keeps the bare file open instead."""
    holder = subprocess.Popen(
        [sys.executable, "-c", script, str(path), str(seconds)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline().strip()
        if line != "ready":
            holder.kill()
            _, err = holder.communicate(timeout=10)
            pytest.fail(f"the holder process did not open the store: {err}")
        yield holder
    finally:
        holder.kill()
        holder.wait(timeout=10)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "locked.duckdb"


def test_locked_fails_at_once_without_lock_wait(db: Path) -> None:
    calls: list[str] = []
    with held(db) as holder:
        start = time.monotonic()
        with pytest.raises(StoreLocked) as info:
            Store(db, lock_wait=0, on_wait=calls.append)
        elapsed = time.monotonic() - start
    assert isinstance(info.value, UserError)
    assert str(db) in info.value.what
    assert f"(PID {holder.pid})" in info.value.what
    assert "--db" in info.value.fix
    assert calls == []  # never waited
    assert elapsed < 2.0


def test_locked_waits_then_fails(db: Path) -> None:
    calls: list[str] = []
    with held(db):
        start = time.monotonic()
        with pytest.raises(StoreLocked) as info:
            Store(db, lock_wait=1.0, on_wait=calls.append)
        elapsed = time.monotonic() - start
    assert str(db) in info.value.what
    assert len(calls) == 1
    assert "waiting" in calls[0]
    assert str(db) in calls[0]
    assert 0.2 <= elapsed < 5.0  # at least one retry delay, nowhere near forever


def test_locked_waits_the_whole_lock_wait(db: Path) -> None:
    with held(db):
        start = time.monotonic()
        with pytest.raises(StoreLocked):
            Store(db, lock_wait=1.0)
        elapsed = time.monotonic() - start
    assert elapsed >= 0.8


def test_lock_wait_succeeds_once_the_holder_exits(db: Path) -> None:
    calls: list[str] = []
    with held(db, seconds=1.0) as holder:
        start = time.monotonic()
        with Store(db, lock_wait=10, on_wait=calls.append) as store:
            elapsed = time.monotonic() - start
            assert store.table_counts()["candidates"] == 1  # the holder's write
        assert holder.wait(timeout=10) == 0  # it finished on its own: that is what freed the file
    assert len(calls) == 1
    assert "waiting" in calls[0]
    assert elapsed < 10


def test_unlocked_store_does_not_wait(db: Path) -> None:
    calls: list[str] = []
    with Store(db, lock_wait=10, on_wait=calls.append):
        pass
    assert calls == []


def test_reader_reads_while_a_writer_process_holds_the_store(db: Path) -> None:
    """What ``factory status`` does during ``factory build``: the writer's committed rows are readable,
    and a second writer is still refused."""
    with held(db) as holder:
        with Store(db, read_only=True) as reader:
            assert [c.instance_id for c in reader.candidates()] == ["acme__lib-1"]
            assert reader.table_counts()["candidates"] == 1
        with pytest.raises(StoreLocked) as info:
            Store(db)
        assert f"(PID {holder.pid})" in info.value.what
        assert "factory status" in info.value.fix


def test_killed_writer_leaves_no_lock(db: Path) -> None:
    with held(db) as holder:
        holder.kill()  # kill -9: no clean-up runs
        holder.wait(timeout=10)
        with Store(db) as store:
            assert [c.instance_id for c in store.candidates()] == ["acme__lib-1"]  # its commit survived


def test_write_waits_out_another_process_reading(db: Path) -> None:
    """A write that meets the file open elsewhere retries the open, and lands once the file is free."""
    with Store(db) as store:
        store.add_candidates([cand(1, "acme__lib-1")])
        with held(db, seconds=1.0, script=READER) as reader:
            assert store.add_candidates([cand(2, "acme__lib-2")]) == ["acme__lib-2"]
            assert reader.stdout is not None
            assert reader.stdout.readline().strip() == "closed"  # the write got in only after the reader left
        assert store.table_counts()["candidates"] == 2


def test_file_held_open_too_long_is_a_clear_error(db: Path) -> None:
    with Store(db, busy_wait=0.5) as store, held(db, script=READER) as reader:
        with pytest.raises(StoreLocked) as info:
            store.add_candidates([cand(1, "acme__lib-1")])
        assert f"held open by another process (PID {reader.pid}) for more than" in info.value.what
        assert "duckdb shell" in info.value.fix
    with Store(db) as store:
        assert store.table_counts()["candidates"] == 0  # nothing half-written


def test_stores_of_one_process_share_the_writer_lock(db: Path) -> None:
    """The CLI holds a store while the flow it runs opens its own: no lock against itself."""
    with Store(db) as outer, Store(db) as inner:
        inner.add_candidates([cand(1, "acme__lib-1")])
        assert outer.table_counts()["candidates"] == 1
    with held(db, seconds=0.1):  # both closed: another process may write
        pass


def test_closed_store_refuses_queries(db: Path) -> None:
    store = Store(db)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.candidates()


def test_reader_of_a_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        Store(tmp_path / "none.duckdb", read_only=True)
    assert "no database at" in info.value.what
    assert "factory mine" in info.value.fix
    assert not (tmp_path / "none.duckdb").exists()


# ---- valid_with_fewer_runs --------------------------------------------------------------------------

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def cand(n: int, iid: str) -> Candidate:
    """A candidate fixed ``n`` hours after T0 (two ids may share a time; each has its own fix commit)."""
    return Candidate(
        instance_id=iid,
        repo="acme/lib",
        base_commit=f"{n:040x}",
        fix_commit=hashlib.sha1(iid.encode()).hexdigest(),
        patch=f"diff --git a/src/m{n}.py b/src/m{n}.py\n",
        test_patch=f"diff --git a/tests/test_m{n}.py b/tests/test_m{n}.py\n",
        problem_statement=f"Problem {n}",
        created_at=T0 + timedelta(hours=n),
        source="git:/tmp/lib",
    )


def runs(store: Store, iid: str, phase: str, count: int) -> None:
    for i in range(count):
        store.add_validation(Validation(instance_id=iid, phase=phase, run_index=i, exit_code=0, verdict="pass"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "f.duckdb") as s:
        # (status, before-runs, after-runs); hours after T0 decide the order, not the id's spelling.
        layout = {
            "acme__lib-10": (10, Status.VALID, 0, 0),
            "acme__lib-2": (2, Status.VALID, 1, 1),
            "acme__lib-3": (3, Status.VALID, 3, 2),  # enough after-runs already
            "acme__lib-4": (4, Status.REJECTED, 0, 0),
            "acme__lib-5": (5, Status.ERROR, 0, 0),
            "acme__lib-6": (6, Status.MINED, 0, 0),
            "acme__lib-7": (7, Status.VALID, 0, 5),
            "acme__lib-1b": (1, Status.VALID, 0, 0),  # same fix time as -1a: id breaks the tie
            "acme__lib-1a": (1, Status.VALID, 0, 1),
        }
        added = s.add_candidates([cand(n, iid) for iid, (n, *_rest) in reversed(layout.items())])
        assert sorted(added) == sorted(layout)
        for iid, (_n, status, before, after) in layout.items():
            s.save_instance(Instance(instance_id=iid, status=status))
            runs(s, iid, "before", before)
            runs(s, iid, "after", after)
        yield s


def test_valid_with_fewer_runs_selects_and_orders(store: Store) -> None:
    assert store.valid_with_fewer_runs(2) == ["acme__lib-1a", "acme__lib-1b", "acme__lib-2", "acme__lib-10"]
    assert store.valid_with_fewer_runs(1) == ["acme__lib-1b", "acme__lib-10"]
    assert store.valid_with_fewer_runs(3) == [
        "acme__lib-1a", "acme__lib-1b", "acme__lib-2", "acme__lib-3", "acme__lib-10",
    ]
    assert store.valid_with_fewer_runs(6) == [
        "acme__lib-1a", "acme__lib-1b", "acme__lib-2", "acme__lib-3", "acme__lib-7", "acme__lib-10",
    ]
    assert store.valid_with_fewer_runs(0) == []


def test_valid_with_fewer_runs_only(store: Store) -> None:
    only = ["acme__lib-10", "acme__lib-4", "acme__lib-3", "acme__lib-2", "acme__lib-404"]
    # Only valid ones with too few after-runs, in fix order (not the order asked for).
    assert store.valid_with_fewer_runs(2, only=only) == ["acme__lib-2", "acme__lib-10"]
    assert store.valid_with_fewer_runs(2, only=[]) == []
    assert store.valid_with_fewer_runs(2, only=iter(["acme__lib-1b"])) == ["acme__lib-1b"]


def test_valid_with_fewer_runs_follows_new_runs_and_status(store: Store) -> None:
    runs(store, "acme__lib-10", "after", 2)
    runs(store, "acme__lib-2", "after", 1)  # rewrites run 0: still one after-run
    store.save_instance(Instance(instance_id="acme__lib-1b", status=Status.REJECTED, reason="flaky"))
    assert store.valid_with_fewer_runs(2) == ["acme__lib-1a", "acme__lib-2"]
    store.clear_validations("acme__lib-3")
    assert store.valid_with_fewer_runs(2) == ["acme__lib-1a", "acme__lib-2", "acme__lib-3"]
