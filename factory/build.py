"""The build stage: for each pending candidate, build its environment, then validate fail-to-pass.

One function per candidate (``process``) so a CLI thread pool and, later, a Prefect task can call the
same thing. Each finished step (status change, env record, each validation run) is committed before
the next begins, so an interrupted run resumes where it stopped: a candidate found ``building`` or
``validating`` is simply redone, and images already built are reused by their content-hash tags.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docker

from agents.builder import loop
from factory.config import Settings
from factory.docker.runtime import EngineError, connect, reap_leaked_containers
from factory.errors import UserError
from factory.mining.mirror import Mirror, open_mirror
from factory.models import Attempt, Candidate, InfraError, Instance, Status
from factory.store import Store
from factory.validation import validate


@dataclass
class BuildReport:
    processed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reaped_containers: list[str] = field(default_factory=list)


class _Mirrors:
    """Opens each source's mirror once per build run (fetching it is not free)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._cache: dict[str, Mirror] = {}

    def get(self, candidate: Candidate) -> Mirror:
        source = candidate.source.split(":", 1)[1]
        if source not in self._cache:
            self._cache[source] = open_mirror(source, self.settings.mirrors_dir, candidate.repo)
        return self._cache[source]


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


def process(
    instance_id: str,
    client: docker.DockerClient,
    store: Store,
    settings: Settings,
    mirrors: _Mirrors,
    run_dir: Path,
    rebuild_failed: bool = False,
) -> Instance:
    """Build and validate one candidate; an engine failure ends it as ``error(docker)``, retried later."""
    try:
        return _process(instance_id, client, store, settings, mirrors, run_dir, rebuild_failed)
    except EngineError as exc:
        inst = store.instance(instance_id)
        inst.status, inst.reason, inst.detail = Status.ERROR, InfraError.DOCKER.value, str(exc)[:2000]
        store.save_instance(inst)
        return inst


def _process(
    instance_id: str,
    client: docker.DockerClient,
    store: Store,
    settings: Settings,
    mirrors: _Mirrors,
    run_dir: Path,
    rebuild_failed: bool = False,
) -> Instance:
    """Build and validate one candidate; return its final instance record (already stored)."""
    candidate = store.candidate(instance_id)
    inst = store.instance(instance_id)
    log_dir = run_dir / instance_id
    log_dir.mkdir(parents=True, exist_ok=True)

    inst.status, inst.reason, inst.detail = Status.BUILDING, "", ""
    store.save_instance(inst)
    outcome = loop.build(client, candidate, mirrors.get(candidate), store, settings, log_dir, rebuild_failed)
    inst.fingerprint = outcome.fingerprint
    if not outcome.ok:
        inst.status, inst.reason, inst.detail = Status.BUILD_FAILED, "env_build", outcome.detail
        store.save_instance(inst)
        return inst
    inst.status, inst.image, inst.eval_script = Status.BUILT, outcome.image, outcome.eval_script
    store.save_instance(inst)

    inst.status = Status.VALIDATING
    store.save_instance(inst)
    started = time.monotonic()
    verdict = validate(client, candidate, outcome.image, outcome.eval_script, store, settings, log_dir)
    store.add_attempt(Attempt(
        instance_id=instance_id, role="test_analyst", action="validate fail2pass",
        outcome=f"{verdict.status.value}({verdict.reason})" if verdict.reason else verdict.status.value,
        detail=verdict.detail, log_path=str(log_dir), seconds=round(time.monotonic() - started, 3),
    ))
    inst.status, inst.reason, inst.detail = verdict.status, str(verdict.reason), verdict.detail
    inst.fail_to_pass, inst.pass_to_pass = verdict.fail_to_pass, verdict.pass_to_pass
    inst.flaky_tests = verdict.flaky_tests
    store.save_instance(inst)
    return inst


def build_pending(
    store: Store,
    settings: Settings,
    workers: int = 1,
    only: Iterable[str] | None = None,
    rebuild: bool = False,
    on_done: Callable[[Instance], None] | None = None,
    on_plan: Callable[[list[str]], None] | None = None,
) -> BuildReport:
    """Build + validate every pending candidate (or those in ``only``); ``rebuild`` redoes finished ones."""
    started = time.monotonic()
    report = BuildReport()
    if only is not None:
        only = list(only)
        unknown = sorted(set(only) - store.instance_ids())
        if unknown:
            raise UserError(f"unknown instance id(s): {', '.join(unknown)}", "see `factory status --list`")
    if rebuild:
        targets = only if only is not None else sorted(store.instance_ids())
        store.reset(targets)
    pending = store.pending(only)
    if on_plan:
        on_plan(pending)
    if not pending:
        report.seconds = time.monotonic() - started
        return report
    client = connect()
    report.reaped_containers = reap_leaked_containers(client)
    mirrors = _Mirrors(settings)
    run_dir = settings.runs_dir / new_run_id()

    def one(iid: str) -> Instance:
        return process(iid, client, store, settings, mirrors, run_dir, rebuild_failed=rebuild)

    if workers <= 1:
        for iid in pending:
            inst = one(iid)
            report.processed.append(iid)
            if on_done:
                on_done(inst)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="factory-build") as pool:
            futures = {pool.submit(one, iid): iid for iid in pending}
            for future in as_completed(futures):
                inst = future.result()
                report.processed.append(futures[future])
                if on_done:
                    on_done(inst)
    report.seconds = time.monotonic() - started
    return report
