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

store = Store(sys.argv[1])
print("ready", flush=True)
time.sleep(float(sys.argv[2]))
store.close()
"""


@contextmanager
def held(path: Path, seconds: float = 60.0) -> Iterator[subprocess.Popen]:
    """Another process that opens ``Store(path)`` and keeps it open for ``seconds`` (killed on exit)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
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
            assert store.table_counts()["candidates"] == 0
        assert holder.wait(timeout=10) == 0  # it finished on its own: that is what freed the file
    assert len(calls) == 1
    assert "waiting" in calls[0]
    assert elapsed < 10


def test_unlocked_store_does_not_wait(db: Path) -> None:
    calls: list[str] = []
    with Store(db, lock_wait=10, on_wait=calls.append):
        pass
    assert calls == []


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
