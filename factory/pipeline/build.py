"""The build stage: for each pending candidate, build its environment, then validate fail-to-pass.

One function per candidate (``process``) so a plain thread pool and the Prefect tasks of ``flows/`` call the
same thing. Each finished step (status change, env record, each validation run) is committed before
the next begins, so an interrupted run resumes where it stopped: a candidate found ``building`` or
``validating`` is simply redone, and images already built are reused by their content-hash tags.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import git
import requests
from docker.errors import DockerException

from agents.builder import loop
from agents.builder.loop import BuildContext
from factory.core.errors import UserError
from factory.core.models import Candidate, InfraError, Instance, Rejection, Status
from factory.core.settings import Settings
from factory.docker.archive import image_id
from factory.docker.runtime import BuildError, EngineError, connect, reap_leaked_containers
from factory.grading import patch_safety
from factory.mining.mirror import Mirror, open_mirror
from factory.store import Store
from memory_pool.environment import EnvironmentPool


@dataclass
class BuildReport:
    processed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reaped_containers: list[str] = field(default_factory=list)


class _Mirrors:
    """Opens each source's mirror once per build run (fetching it is not free)."""

    def __init__(self, settings: Settings, store: Store):
        self.settings = settings
        self.store = store
        self._cache: dict[str, Mirror] = {}
        self._lock = threading.Lock()

    def location(self, candidate: Candidate) -> str:
        """Where the candidate's code is fetched from: the path/URL of a git source, the recorded clone URL
        of a GitHub one."""
        kind, _, rest = candidate.source.partition(":")
        if kind == "github":
            known = self.store.source(candidate.source)
            if known is None:
                raise UserError(f"no clone URL recorded for {candidate.source}",
                                f"run `factory mine --github {rest}` again to record it")
            return known["location"]
        return rest

    def get(self, candidate: Candidate) -> Mirror:
        """The mirror holding ``candidate.base_commit``; fetched only if that commit is missing (and never
        by two workers at once)."""
        source = self.location(candidate)
        with self._lock:
            mirror = self._cache.get(source) or open_mirror(
                source, self.settings.mirrors_dir, candidate.repo, fetch=False
            )
            try:
                mirror.repo.git.cat_file("-e", f"{candidate.base_commit}^{{commit}}")
            except git.GitCommandError:
                mirror = open_mirror(source, self.settings.mirrors_dir, candidate.repo, fetch=True)
            self._cache[source] = mirror
            return mirror


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + f"-{os.getpid()}"


@dataclass
class BuildSession:
    """What every candidate of one build run shares: engine client, store, mirrors, LLM, the run's log dir.

    Opened once per run by :func:`open_session`, then handed to :func:`process` for each candidate — by the
    thread pool of :func:`build_pending` or by the Prefect tasks of ``flows/build.py`` alike.
    """

    ctx: BuildContext
    mirrors: _Mirrors
    reaped_containers: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    """Set when a worker hits an error that is the user's to fix: queued candidates are then skipped."""
    errors: dict[str, BaseException] = field(default_factory=dict)
    """The exception each failed candidate raised, as raised (an executor may hand back only its text)."""


def rejection_reasons(values: Iterable[str] | None) -> list[Rejection]:
    """``--retry-rejected`` values (repeatable, or comma-separated) as rejection reasons; a UserError names a
    value that is none."""
    words = [w.strip() for v in values or () for w in v.split(",") if w.strip()]
    allowed = [r.value for r in Rejection]
    bad = [w for w in words if w not in allowed]
    if bad:
        raise UserError(f"--retry-rejected: {', '.join(map(repr, bad))} is not a rejection reason",
                        f"use one or more of {', '.join(allowed)} (e.g. --retry-rejected no_tests_ran,error2pass)")
    return list(dict.fromkeys(Rejection(w) for w in words))


def plan(store: Store, only: Iterable[str] | None = None, rebuild: bool = False,
         retry_rejected: Iterable[str] | None = None) -> list[str]:
    """The ids a build run will process, in order; ``rebuild`` first sends them back to ``mined``, and
    ``retry_rejected`` (rejection reasons) re-opens the instances rejected for one of them — verdicts a
    better environment or grader could overturn (``no_tests_ran``, ``error2pass``, ``pass2pass``)."""
    reasons = rejection_reasons(retry_rejected)
    if only is not None:
        only = list(only)
        unknown = sorted(set(only) - store.instance_ids())
        if unknown:
            raise UserError(f"unknown instance id(s): {', '.join(unknown)}", "see `factory status --list`")
    reopen = (only if only is not None else sorted(store.instance_ids())) if rebuild else []
    reopen += [i for i in store.rejected_for(reasons, only) if i not in reopen]
    if reopen:  # only once the engine answers: a rebuild must not wipe verdicts it cannot redo
        connect()
        store.reset(reopen)
    return store.pending(only)


def open_session(
    store: Store, settings: Settings, llm: object | None = None, budget: object | None = None, rebuild: bool = False
) -> BuildSession:
    """Connect to the engine, remove containers a killed run left behind, and share the rest."""
    client = connect()
    reaped = reap_leaked_containers(client)
    ctx = BuildContext(
        client=client, store=store, settings=settings, log_dir=settings.runs_dir / new_run_id(),
        pool=EnvironmentPool(store) if settings.build.memory else None, llm=llm, budget=budget,
        rebuild_failed=rebuild,
    )
    return BuildSession(ctx, _Mirrors(settings, store), reaped)


def process(instance_id: str, session: BuildSession) -> Instance:
    """Build and validate one candidate; an engine failure ends it as ``error(docker)``, retried later.

    Any other exception but a :class:`UserError` (a git error, a bug: something wrong with this one
    candidate) ends it as ``error(internal)`` with the traceback in ``internal-error.log`` of its log
    directory, and the run goes on with the next candidate: one deterministic failure must not leave the
    candidate ``building`` and so block the queue on every later run. A user error, Ctrl-C and exit stop
    the run as before."""
    store = session.ctx.store
    ctx = replace(session.ctx, log_dir=session.ctx.log_dir / instance_id)
    try:
        return _process(instance_id, ctx, session.mirrors)
    except (EngineError, BuildError, DockerException, requests.RequestException) as exc:
        return _stop(store, instance_id, InfraError.DOCKER, str(exc))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded with its traceback, and the run goes on
        log = ctx.log_dir / "internal-error.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("".join(traceback.format_exception(exc)))
        return _stop(store, instance_id, InfraError.INTERNAL,
                     f"{type(exc).__name__} (traceback in {log}): {str(exc).strip()}")


def _stop(store: Store, instance_id: str, reason: InfraError, detail: str) -> Instance:
    """End one candidate in an infrastructure error (retried by a later run)."""
    inst = store.instance(instance_id)
    inst.status, inst.reason, inst.detail = Status.ERROR, reason.value, detail[:2000]
    store.save_instance(inst)
    return inst


def _process(
    instance_id: str,
    ctx: BuildContext,
    mirrors: _Mirrors,
) -> Instance:
    candidate = ctx.store.candidate(instance_id)
    inst = ctx.store.instance(instance_id)
    ctx.log_dir.mkdir(parents=True, exist_ok=True)

    unsafe = unsafe_patch(candidate)
    if unsafe:
        inst.status, (inst.reason, inst.detail) = Status.REJECTED, unsafe
        ctx.store.save_instance(inst)
        return inst

    inst.status, inst.reason, inst.detail = Status.BUILDING, "", ""
    ctx.store.save_instance(inst)

    def validating() -> None:
        if inst.status is not Status.VALIDATING:
            inst.status = Status.VALIDATING
            ctx.store.save_instance(inst)

    trial = loop.build_and_validate(ctx, candidate, mirrors.get(candidate), on_validating=validating)
    inst.fingerprint, inst.builder = trial.fingerprint, trial.source
    inst.image, inst.eval_script = trial.image, trial.eval_script if trial.image else ""
    inst.image_id = image_id(ctx.client, trial.image) if trial.image else ""
    inst.status, inst.reason, inst.detail = trial.status, trial.reason, trial.detail
    verdict = trial.verdict
    inst.fail_to_pass = verdict.fail_to_pass if verdict else []
    inst.pass_to_pass = verdict.pass_to_pass if verdict else []
    inst.flaky_tests = verdict.flaky_tests if verdict else []
    inst.unstable_tests = verdict.unstable_tests if verdict else []
    ctx.store.save_instance(inst)
    return inst


def unsafe_patch(candidate: Candidate) -> tuple[str, str] | None:
    """(rejection, detail) when the test or gold patch would write outside the repository: refused before
    any container sees it (``patch_safety``), like a model patch in the harness."""
    for rejection, patch in ((Rejection.TEST_PATCH_FAILED, candidate.test_patch),
                             (Rejection.GOLD_PATCH_FAILED, candidate.patch)):
        why = patch_safety.refusal(patch)
        if why:
            return rejection.value, f"refused before applying: {why}"
    return None


def build_pending(
    store: Store,
    settings: Settings,
    workers: int = 1,
    only: Iterable[str] | None = None,
    rebuild: bool = False,
    on_done: Callable[[Instance], None] | None = None,
    on_plan: Callable[[list[str]], None] | None = None,
    llm: object | None = None,
    budget: object | None = None,
    retry_rejected: Iterable[str] | None = None,
) -> BuildReport:
    """Build + validate every pending candidate (or those in ``only``) with a plain thread pool.

    The library path, without Prefect: what ``flows/build.py`` does with tasks, for scripts, tests and
    the overhead benchmark. ``rebuild`` redoes finished ones; ``retry_rejected`` re-opens rejections for these
    reasons (see :func:`plan`).
    """
    started = time.monotonic()
    report = BuildReport()
    pending = plan(store, only, rebuild, retry_rejected)
    if on_plan:
        on_plan(pending)
    if not pending:
        report.seconds = time.monotonic() - started
        return report
    session = open_session(store, settings, llm, budget, rebuild)
    report.reaped_containers = session.reaped_containers

    def one(iid: str) -> Instance:
        return process(iid, session)

    if workers <= 1:
        for iid in pending:
            inst = one(iid)
            report.processed.append(iid)
            if on_done:
                on_done(inst)
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="factory-build")
        try:
            futures = {pool.submit(one, iid): iid for iid in pending}
            for future in as_completed(futures):
                inst = future.result()
                report.processed.append(futures[future])
                if on_done:
                    on_done(inst)
        except BaseException:
            # A user error in one worker, or Ctrl-C: stop now; queued candidates stay pending.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    report.seconds = time.monotonic() - started
    return report
