"""Crash-safety fault scenarios on the built-in example, through the real ``factory`` CLI.

Reference: mine the example once, build it uninterrupted, export. Then, each from a copy of the mined DB:
``kill -9`` of ``factory build`` at random moments (each followed by a rerun), a Docker daemon restart
in the middle of a build, and two ``factory build`` processes started on the same DB. Each must end
with an export byte-identical to the reference and nothing stored before the fault lost.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from examples import tinyledger
from tests.faults import FaultRow, rows_lost, snapshot

ROOT = Path(__file__).resolve().parent.parent
ENGINE_PIDFILE = Path("/run/issue-factory-dockerd.pid")
PROJECT_FILE = """\
[build]
workers = 2
infra_retries = 3
retry_delay = 5
"""


class Example:
    """The example repository mined once; ``fresh(name)`` gives a copy of that DB to fault on."""

    def __init__(self, workdir: Path, factory_cmd: list[str]):
        self.workdir, self.cmd = workdir, factory_cmd
        self.repo = tinyledger.create(workdir / "tinyledger")
        self.config = workdir / "factory.toml"
        self.config.write_text(PROJECT_FILE)
        self.mined = workdir / "mined.duckdb"
        self.home = workdir / "home"  # one home: the mirror is cloned once, run logs are per instance
        done = self.cli("mine", "--git", str(self.repo), db=self.mined)
        if done.returncode != 0:
            raise RuntimeError(f"mining the example failed:\n{done.stdout}{done.stderr}")

    def cli(self, *args: str, db: Path, home: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
        where = ["--db", str(db), *(["--home", str(self.home)] if home else [])]
        return subprocess.run([*self.cmd, *args, *where], cwd=self.workdir, capture_output=True, text=True,
                              timeout=timeout)

    def spawn_build(self, db: Path, log: Path) -> subprocess.Popen:
        with open(log, "w") as out:
            return subprocess.Popen(
                [*self.cmd, "build", "--config", str(self.config), "--db", str(db), "--home", str(self.home)],
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT)

    def build(self, db: Path) -> subprocess.CompletedProcess:
        return self.cli("build", "--config", str(self.config), db=db)

    def fresh(self, name: str) -> Path:
        db = self.workdir / f"{name}.duckdb"
        shutil.copyfile(self.mined, db)
        return db

    def export(self, db: Path) -> bytes:
        out = db.with_suffix(".jsonl")
        done = self.cli("export", "--out", str(out), db=db, home=False)
        if done.returncode != 0:
            raise RuntimeError(f"export failed:\n{done.stdout}{done.stderr}")
        return out.read_bytes()


def _kill_once(example: Example, reference: bytes, delay: float, index: int) -> tuple[str, int, float]:
    """One kill -9 after ``delay`` seconds and a rerun: (what was observed, rows lost, the delay used).

    A build that finishes before the moment is not a kill: the moment is moved earlier (x0.6) and tried
    again on a fresh copy, up to four times (warm builds are faster than the timed reference)."""
    for attempt in range(4):
        db = example.fresh(f"kill-{index}-{attempt}")
        proc = example.spawn_build(db, example.workdir / f"kill-{index}-{attempt}.log")
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        delay *= 0.6
    else:
        return "finished before every moment", 0, delay
    before = snapshot(db)
    rerun = example.build(db)
    if rerun.returncode != 0:
        return f"rerun failed (exit {rerun.returncode}): {(rerun.stdout + rerun.stderr)[-300:]}", 0, delay
    lost = rows_lost(before, snapshot(db))
    same = example.export(db) == reference
    leaked = _containers_of(proc.pid)
    return "killed" + (f", {len(leaked)} container(s) leaked" if leaked else "") \
        + (", export identical" if same else ", export DIFFERS"), lost, delay


def _containers_of(pid: int) -> list[str]:
    """Our containers created by process ``pid`` on this host that still exist."""
    import socket

    import docker

    owner = f"{socket.gethostname()}:{pid}"
    return [c["Id"][:12] for c in docker.from_env().api.containers(all=True, filters={"label": "issue-factory=1"})
            if (c.get("Labels") or {}).get("issue-factory.owner") == owner]


def kill_rows(example: Example, reference: bytes, reference_seconds: float, kills: int, seed: int) -> list[FaultRow]:
    rng = random.Random(seed)
    # within the first 85 % of an uninterrupted build; one that lands after the end is moved earlier
    delays = sorted(rng.uniform(1.0, 0.85 * reference_seconds) for _ in range(kills))
    observed, lost, used = [], 0, []
    for i, delay in enumerate(delays):
        what, n, moment = _kill_once(example, reference, delay, i)
        observed.append(what)
        lost += n
        used.append(moment)
    killed = sum(o.startswith("killed") for o in observed)
    bad = [f"#{i} at {d:.1f} s: {o}" for i, (d, o) in enumerate(zip(used, observed, strict=True))
           if o != "killed, export identical"]
    return [FaultRow(
        f"crash: kill -9 of factory build at {kills} random moments, rerun each",
        f"{kills}/{kills} killed mid-run, exports identical",
        f"{kills - len(bad)}/{kills} killed mid-run, exports identical" + (f" ({'; '.join(bad)})" if bad else ""),
        lost,
        f"seed {seed}; {killed} killed mid-run at {', '.join(f'{d:.1f}' for d in used)} s "
        f"(uninterrupted build {reference_seconds:.0f} s)",
    )]


def _our_engine_pid() -> int | None:
    """The dockerd that scripts/ensure-docker.sh started (the only engine this suite may restart)."""
    try:
        pid = int(ENGINE_PIDFILE.read_text().strip())
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dockerd" else None


def _restart_engine(pid: int) -> float:
    started = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    while Path(f"/proc/{pid}").exists() and time.monotonic() - started < 60:
        time.sleep(0.2)
    subprocess.run([str(ROOT / "scripts" / "ensure-docker.sh")], check=True, capture_output=True, timeout=120)
    return time.monotonic() - started


def _first_run_container(owner_pid: int, timeout: float) -> bool:
    """Wait until the build process ``owner_pid`` has a test-run container running."""
    import docker

    client = docker.from_env()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for c in client.api.containers(filters={"label": "issue-factory.phase"}):
            if (c.get("Labels") or {}).get("issue-factory.owner", "").endswith(f":{owner_pid}"):
                return True
        time.sleep(0.3)
    return False


async def _task_run_counts(since: datetime) -> dict[str, int]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import TaskRunFilter, TaskRunFilterStartTime

    async with get_client() as client:
        runs = await client.read_task_runs(
            task_run_filter=TaskRunFilter(start_time=TaskRunFilterStartTime(after_=since)), limit=200)
    return {r.name: r.run_count for r in runs if r.name.startswith("build ")}


def engine_restart_row(example: Example, reference: bytes) -> FaultRow:
    scenario = "crash: Docker daemon restarted in the middle of factory build"
    expected = "infra errors retried, build completes, export identical"
    pid = _our_engine_pid()
    if pid is None:
        return FaultRow(scenario, expected, f"not run: no engine started by scripts/ensure-docker.sh "
                        f"({ENGINE_PIDFILE} missing or stale); this scenario never restarts someone else's engine")
    db = example.fresh("restart")
    since = datetime.now(UTC)
    proc = example.spawn_build(db, example.workdir / "restart.log")
    try:
        if not _first_run_container(proc.pid, timeout=300):
            return FaultRow(scenario, expected, "no test run started within 300 s")
        restart_seconds = _restart_engine(pid)
        proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (example.workdir / "restart.log").read_text()
    retried = {name: n for name, n in asyncio.run(_task_run_counts(since)).items() if n > 1}
    rest = example.build(db)  # anything still in error(...) is the next run's job, as for a user
    observed = ", ".join([
        "infra errors retried" if retried else "nothing retried",
        "build completes" if proc.returncode == 0 and "Traceback" not in log else f"build exit {proc.returncode}",
        "export identical" if example.export(db) == reference else "export DIFFERS",
    ])
    return FaultRow(
        scenario, expected, observed,
        detail=f"engine down and back in {restart_seconds:.1f} s; task runs retried: "
               f"{', '.join(f'{k[-8:]}x{v}' for k, v in sorted(retried.items()))}; follow-up build exit "
               f"{rest.returncode}" + ("" if observed == expected else f"; log tail {log[-300:]!r}"),
    )


def two_builds_row(example: Example, reference: bytes) -> FaultRow:
    scenario = "concurrency: two factory build processes on one DB"
    expected = "second exits 2 naming the lock holder, first completes, export identical, no duplicates"
    db = example.fresh("two")
    first = example.spawn_build(db, example.workdir / "two-first.log")
    try:
        time.sleep(6)  # the first holds the DB from its start to its end
        second = example.build(db)
        first.wait(timeout=900)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    message = " ".join((second.stdout + second.stderr).split())  # rich wraps long lines
    named = "in use" in message and str(first.pid) in message
    same = example.export(db) == reference
    from factory.store import Store

    with Store(db, read_only=True) as store:
        ids = [i.instance_id for i in store.instances()]
    parts = [
        "second exits 2 naming the lock holder" if second.returncode == 2 and named and "Traceback" not in message
        else f"second exit {second.returncode}: {message[-200:]!r}",
        "first completes" if first.returncode == 0 else f"first exit {first.returncode}",
        "export identical" if same else "export DIFFERS",
        "no duplicates" if len(ids) == len(set(ids)) else f"{len(ids) - len(set(ids))} duplicates",
    ]
    return FaultRow(scenario, expected, ", ".join(parts), detail=message[:160])


def crash_rows(workdir: Path, factory_cmd: list[str], kills: int, seed: int | None = None) -> list[FaultRow]:
    seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
    example = Example(workdir, factory_cmd)
    db = example.fresh("reference")
    started = time.monotonic()
    done = example.build(db)
    reference_seconds = time.monotonic() - started
    if done.returncode != 0:
        raise RuntimeError(f"the uninterrupted reference build failed:\n{done.stdout}{done.stderr}")
    reference = example.export(db)
    rows = kill_rows(example, reference, reference_seconds, kills, seed)
    rows.append(two_builds_row(example, reference))
    rows.append(engine_restart_row(example, reference))
    return rows
