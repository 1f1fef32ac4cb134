"""``kill -9`` a running ``factory build`` at a random moment; the rerun must end where an uninterrupted
run ends: the same verdicts, no duplicate rows, no leaked containers, a byte-identical export.

The moment is drawn from a seeded RNG and the seed is printed (set FACTORY_CRASH_SEED to replay one).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess

from examples import tinyledger
from factory.demo import summary
from factory.store import Store

FLAKY_SUBJECT = "Add tag export"


def test_killed_build_resumes_to_the_same_dataset(pipeline, run_factory, spawn_factory, leaks, tmp_path):
    seed = int(os.environ.get("FACTORY_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    delay = random.Random(seed).uniform(3, 12)
    print(f"crash-resume seed {seed}: kill -9 after {delay:.1f} s (replay with FACTORY_CRASH_SEED={seed})")
    where = f"[seed {seed}, kill after {delay:.1f} s]"

    repo = tinyledger.create(tmp_path / "tinyledger")
    db, home = tmp_path / "crash.duckdb", tmp_path / "home"
    mined = run_factory("mine", "--git", str(repo), "--db", str(db), "--home", str(home))
    assert mined.returncode == 0, mined.output

    first_log = tmp_path / "build-killed.log"
    proc = spawn_factory(first_log, "build", "--workers", "2", "--db", str(db), "--home", str(home))
    try:
        proc.wait(timeout=delay)
        killed = False
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        killed = True
    owner = f"{socket.gethostname()}:{proc.pid}"
    if killed:
        with Store(db) as store:
            left = {i.instance_id: i.status.value for i in store.instances()}
        print(f"killed pid {proc.pid}; statuses then: {left}; its containers: {leaks(owner=owner)}")
    else:
        print(f"the first build finished before the kill (rc {proc.returncode}); the rerun must do nothing")
        assert proc.returncode == 0, first_log.read_text()[-3000:]

    rerun = run_factory("build", "--workers", "2", "--db", str(db), "--home", str(home), timeout=600)
    assert rerun.returncode == 0, f"{where}\n{rerun.output[-3000:]}"
    out = tmp_path / "dataset.jsonl"
    exported = run_factory("export", "--out", str(out), "--db", str(db))
    assert exported.returncode == 0, exported.output

    # No container created by the killed process (or any other dead one here) survives the rerun.
    assert leaks(owner=owner) == [], where
    assert leaks() == [], where

    # The export names the source it was mined from; everything else must match byte for byte.
    crash_bytes = out.read_bytes()
    ours, theirs = f'"git:{repo}"'.encode(), f'"git:{pipeline.repo}"'.encode()
    assert crash_bytes.count(ours) == 3, where
    assert crash_bytes.replace(ours, theirs) == pipeline.export_path.read_bytes(), where

    flaky_id = next(r.instance_id for r in summary(pipeline.store, pipeline.repo) if r.subject == FLAKY_SUBJECT)
    expected = {i.instance_id: (i.status.value, i.reason) for i in pipeline.store.instances()}
    with Store(db) as store:
        got = {i.instance_id: (i.status.value, i.reason) for i in store.instances()}
        counts = store.table_counts()
        runs = {iid: len(store.validations(iid)) for iid in got}
    assert set(got) == set(expected), where
    for iid, outcome in expected.items():
        if iid == flaky_id:
            assert got[iid] in {("rejected", "flaky"), ("rejected", "fail2fail")}, (where, iid, got[iid])
        else:
            assert got[iid] == outcome, (where, iid, got[iid], outcome)
    assert counts["candidates"] == 7 and counts["instances"] == 7, (where, counts)
    expected_runs = {iid: 0 if status == "build_failed" else 3 for iid, (status, _) in expected.items()}
    assert runs == expected_runs, (where, runs)
    assert counts["validations"] == 18, (where, counts)
