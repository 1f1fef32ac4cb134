"""The DuckDB store (factory.store) on a temporary file."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from factory.core.errors import UserError
from factory.core.models import Candidate, Instance, Status, Validation
from factory.store import Store
from factory.store import migrations as migrations_module

RELEASED = [m.__name__ for m in migrations_module.MIGRATIONS]

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def cand(n: int, *, repo: str = "acme/lib", fix: str | None = None, iid: str | None = None) -> Candidate:
    return Candidate(
        instance_id=iid or f"acme__lib-{n}",
        repo=repo,
        base_commit=f"{n:040x}",
        fix_commit=fix or f"{n + 1000:040x}",
        patch=f"diff --git a/src/m{n}.py b/src/m{n}.py\n",
        test_patch=f"diff --git a/tests/test_m{n}.py b/tests/test_m{n}.py\n",
        problem_statement=f"Problem {n}",
        created_at=T0 + timedelta(hours=n),
        source="git:/tmp/lib",
        issue_numbers=[str(n), "other/lib#4"],
        pull_number=n if n % 2 else None,
        test_files=[f"tests/test_m{n}.py"],
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "f.duckdb"


@pytest.fixture
def store(db: Path):
    with Store(db) as s:
        yield s


def _migration_rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT name, applied_at FROM _migrations ORDER BY name").fetchall()
    finally:
        con.close()


# ---- migrations ---------------------------------------------------------------------------------


def test_migrations_recorded_once(db: Path) -> None:
    with Store(db) as s:
        assert s.migrations() == RELEASED
        assert s.table_counts() == {
            "candidates": 0,
            "instances": 0,
            "environments": 0,
            "attempts": 0,
            "validations": 0,
        }
    first = _migration_rows(db)
    assert [r[0] for r in first] == RELEASED
    with Store(db) as s:  # reopening applies nothing again (m001 would fail: its tables exist)
        assert s.migrations() == RELEASED
    assert _migration_rows(db) == first


def test_new_migration_applied_once_on_reopen(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(db) as s:
        s.add_candidates([cand(1)])
    calls: list[int] = []

    def m999_notes(con: duckdb.DuckDBPyConnection) -> None:
        calls.append(1)
        con.execute("CREATE TABLE notes (instance_id VARCHAR, note VARCHAR)")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, m999_notes])
    for _ in range(2):
        with Store(db) as s:
            assert s.migrations() == [*RELEASED, "m999_notes"]
            assert s.instance_ids() == {"acme__lib-1"}  # data survived the migration
    assert calls == [1]


def test_m006_adds_unstable_tests_to_an_existing_db(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [m.__name__ for m in migrations_module.MIGRATIONS]
    at = names.index("m006_unstable_tests")
    monkeypatch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:at])
    with Store(db) as old:
        old.add_candidates([cand(1)])
        assert "m006_unstable_tests" not in old.migrations()
    monkeypatch.undo()
    with Store(db) as s:
        assert "m006_unstable_tests" in s.migrations()
        inst = s.instance("acme__lib-1")
        assert inst.unstable_tests == []  # the row made before the column exists reads as none
        inst.unstable_tests = ["t::x[06:34:26]"]
        s.save_instance(inst)
        assert s.instance("acme__lib-1").unstable_tests == ["t::x[06:34:26]"]


def test_failing_migration_is_rolled_back(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(db).close()

    def m002_broken(con: duckdb.DuckDBPyConnection) -> None:
        con.execute("CREATE TABLE half_done (x INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(migrations_module, "MIGRATIONS", [*migrations_module.MIGRATIONS, m002_broken])
    with pytest.raises(RuntimeError, match="boom"):
        Store(db)
    monkeypatch.setattr(migrations_module, "MIGRATIONS", migrations_module.MIGRATIONS[:1])
    with Store(db) as s:
        assert s.migrations() == RELEASED
        tables = {r["name"] for r in s._rows("SELECT table_name AS name FROM information_schema.tables")}
    assert "half_done" not in tables


# ---- candidates ---------------------------------------------------------------------------------


def test_add_candidates_idempotent(store: Store) -> None:
    assert store.add_candidates([cand(1), cand(2)]) == ["acme__lib-1", "acme__lib-2"]
    # Same fix commit under another id, and the same id with another fix commit: both skipped.
    again = [cand(1, iid="acme__lib-other"), cand(2, fix="f" * 40), cand(1)]
    assert store.add_candidates(again) == []
    assert store.table_counts()["candidates"] == 2
    assert store.table_counts()["instances"] == 2
    assert store.known_fix_commits("acme/lib") == {cand(1).fix_commit, cand(2).fix_commit}
    assert store.known_fix_commits("acme/other") == set()
    # The same fix commit in another repository is a different candidate.
    assert store.add_candidates([cand(1, repo="acme/fork", iid="acme__fork-1")]) == ["acme__fork-1"]


def test_duplicate_within_one_batch(store: Store) -> None:
    assert store.add_candidates([cand(3), cand(3, iid="acme__lib-dup")]) == ["acme__lib-3"]


def test_candidate_round_trip(store: Store) -> None:
    original = cand(3)
    store.add_candidates([original])
    loaded = store.candidate("acme__lib-3")
    assert loaded == original
    assert loaded.issue_numbers == ["3", "other/lib#4"]
    assert loaded.pull_number == 3
    assert store.instance("acme__lib-3").status is Status.MINED
    assert [c.instance_id for c in store.candidates("acme/lib")] == ["acme__lib-3"]
    assert store.candidates("nobody/else") == []


def test_unknown_ids_are_user_errors(store: Store) -> None:
    with pytest.raises(UserError, match="acme__lib-404"):
        store.candidate("acme__lib-404")
    with pytest.raises(UserError, match="acme__lib-404"):
        store.instance("acme__lib-404")


# ---- instances ----------------------------------------------------------------------------------

STATES = {
    1: (Status.VALID, ""),
    2: (Status.VALID, ""),
    3: (Status.REJECTED, "fail2fail"),
    4: (Status.REJECTED, "flaky"),
    5: (Status.ERROR, "timeout"),
    6: (Status.BUILD_FAILED, "pip install failed"),
    7: (Status.BUILDING, ""),
    8: (Status.MINED, ""),
    9: (Status.VALIDATING, ""),
    10: (Status.REJECTED, "fail2fail"),
    11: (Status.BUILT, ""),
}


@pytest.fixture
def populated(store: Store) -> Store:
    # Insert out of order: pending() sorts by the fix's date.
    store.add_candidates([cand(n) for n in sorted(STATES, reverse=True)])
    for n, (status, reason) in STATES.items():
        store.save_instance(Instance(instance_id=f"acme__lib-{n}", status=status, reason=reason))
    return store


def test_counts_shape(populated: Store) -> None:
    assert populated.counts() == {
        "valid": 2,
        "rejected": {"fail2fail": 2, "flaky": 1},
        "error": {"timeout": 1},
        "build_failed": 1,
        "pending": 4,  # building, mined, validating, built
    }


def test_counts_empty(store: Store) -> None:
    assert store.counts() == {"valid": 0, "rejected": {}, "error": {}, "build_failed": 0, "pending": 0}


def test_pending(populated: Store) -> None:
    assert populated.pending() == ["acme__lib-5", "acme__lib-7", "acme__lib-8", "acme__lib-9", "acme__lib-11"]
    assert populated.pending(only=["acme__lib-1", "acme__lib-8", "acme__lib-5"]) == [
        "acme__lib-5",
        "acme__lib-8",
    ]
    assert sorted(populated.in_flight()) == ["acme__lib-7", "acme__lib-9"]


def test_save_instance_round_trip(store: Store) -> None:
    store.add_candidates([cand(1)])
    store.save_instance(
        Instance(
            instance_id="acme__lib-1",
            status=Status.VALID,
            fingerprint="fp1",
            image="factory/acme__lib-1:latest",
            eval_script="pytest tests/test_m1.py",
            fail_to_pass=["tests/test_m1.py::test_a"],
            pass_to_pass=["tests/test_m1.py::test_b", "tests/test_m1.py::test_c"],
            detail="ok",
        )
    )
    inst = store.instance("acme__lib-1")
    assert inst.status is Status.VALID
    assert inst.fail_to_pass == ["tests/test_m1.py::test_a"]
    assert inst.pass_to_pass == ["tests/test_m1.py::test_b", "tests/test_m1.py::test_c"]
    assert (inst.fingerprint, inst.image, inst.detail) == ("fp1", "factory/acme__lib-1:latest", "ok")
    assert inst.updated_at is not None


def test_reset(populated: Store) -> None:
    iid = "acme__lib-3"
    populated.save_instance(
        Instance(
            instance_id=iid,
            status=Status.REJECTED,
            reason="fail2fail",
            image="img",
            fail_to_pass=["t::a"],
            flaky_tests=["t::b"],
            unstable_tests=["t::c[06:34:26]"],
            detail="still failing",
        )
    )
    assert populated.instance(iid).unstable_tests == ["t::c[06:34:26]"]
    populated.add_validation(
        Validation(instance_id=iid, phase="after", run_index=0, exit_code=1, verdict="fail")
    )
    populated.add_validation(
        Validation(instance_id="acme__lib-4", phase="after", run_index=0, exit_code=1, verdict="fail")
    )
    assert len(populated.validations(iid)) == 1

    populated.reset([iid])
    inst = populated.instance(iid)
    assert (inst.status, inst.reason, inst.image, inst.detail) == (Status.MINED, "", "", "")
    assert (inst.fail_to_pass, inst.pass_to_pass, inst.flaky_tests, inst.unstable_tests) == ([], [], [], [])
    assert populated.validations(iid) == []
    assert len(populated.validations("acme__lib-4")) == 1  # other instances untouched
    assert iid in populated.pending()
    assert populated.counts()["rejected"] == {"fail2fail": 1, "flaky": 1}
    assert populated.counts()["pending"] == 5


def test_data_survives_reopen(db: Path) -> None:
    with Store(db) as s:
        s.add_candidates([cand(1)])
        s.save_instance(Instance(instance_id="acme__lib-1", status=Status.REJECTED, reason="pass2pass"))
    with Store(db) as s:
        assert s.counts()["rejected"] == {"pass2pass": 1}
        assert s.candidate("acme__lib-1") == cand(1)


# ---- opening failures ---------------------------------------------------------------------------


def test_db_under_a_regular_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    for path in (blocker / "f.duckdb", blocker / "sub" / "f.duckdb"):
        with pytest.raises(UserError) as info:
            Store(path)
        assert str(path) in info.value.what
        assert "--db" in info.value.fix


def test_db_path_is_a_directory(tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        Store(tmp_path)
    assert str(tmp_path) in info.value.what


def test_db_file_not_duckdb(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("just some text, not a database\n" * 10)
    with pytest.raises(UserError) as info:
        Store(path)
    assert info.value.what.startswith(f"{path} is not a usable DuckDB database")
    assert "move the damaged file away" in info.value.fix


def test_db_locked_by_another_process(db: Path) -> None:
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            "con = duckdb.connect(sys.argv[1])\n"
            "print('ready', flush=True)\n"
            "time.sleep(60)\n",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(UserError) as info:
            Store(db, busy_wait=0.5)  # a factory process holds the file for one query; this one does not let go
        assert "held open by another process" in info.value.what
        assert str(db) in info.value.what
        assert f"(PID {holder.pid})" in info.value.what
        assert "duckdb shell" in info.value.fix
    finally:
        holder.kill()
        holder.wait(timeout=10)
    with Store(db) as s:  # free again once the holder is gone
        assert s.migrations() == RELEASED


def test_rejected_for_reasons_in_build_order(populated: Store) -> None:
    assert populated.rejected_for(["fail2fail", "pass2pass"]) == ["acme__lib-3", "acme__lib-10"]
    assert populated.rejected_for(["fail2fail", "flaky"], only=["acme__lib-4", "acme__lib-10"]) == [
        "acme__lib-4", "acme__lib-10"]
    assert populated.rejected_for([]) == [] and populated.rejected_for(["timeout"]) == []


def test_retry_rejected_reasons_are_checked_against_the_enum() -> None:
    from factory.pipeline.build import rejection_reasons

    assert rejection_reasons(["no_tests_ran", "error2pass,pass2pass", " no_tests_ran "]) == [
        "no_tests_ran", "error2pass", "pass2pass"]
    assert rejection_reasons(None) == []
    with pytest.raises(UserError, match="'bogus' is not a rejection reason") as caught:
        rejection_reasons(["no_tests_ran,bogus"])
    assert "error2pass" in caught.value.fix and "gold_patch_failed" in caught.value.fix
