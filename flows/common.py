"""What every flow shares: reading the project file, opening the store, and the infra-only retry rule."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime

from prefect import get_run_logger
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from factory.core.models import InfraError, Instance, Status, outcome_label
from factory.core.project import Project
from factory.core.resolve import resolve
from factory.store import Store


@dataclass(frozen=True)
class Watch:
    """What a flow run tells whoever watches it (the CLI's progress display), from the threads that run its
    tasks: the ids it will work on, each candidate as it starts (a Docker slot is free) and as it ends.
    Every hook is optional; an infrastructure error that Prefect retries starts and ends again."""

    planned: Callable[[list[str]], None] | None = None
    started: Callable[[str], None] | None = None
    done: Callable[[Instance], None] | None = None


#: Set by the CLI around a flow run (tasks run in threads that inherit it); nobody watches by default.
watch: ContextVar[Watch | None] = ContextVar("watch", default=None)


def _watcher() -> Watch:
    return watch.get() or Watch()


def report_planned(ids: list[str]) -> None:
    """Tell the watcher which candidates this run will work on, in order."""
    if _watcher().planned is not None:
        _watcher().planned(list(ids))


class InfraFailure(Exception):  # noqa: N818 - reads as the state it causes in the Prefect UI
    """A candidate ended in an infrastructure error (docker, timeout, oom, marker_missing): worth a retry.

    Raised by a task *after* the error is stored, so the DB is right whether or not Prefect retries.
    """

    def __init__(self, instance_id: str, reason: str, detail: str = ""):
        super().__init__(instance_id, reason, detail)
        self.instance_id, self.reason, self.detail = instance_id, reason, detail

    @classmethod
    def of(cls, inst: Instance) -> InfraFailure:
        return cls(inst.instance_id, inst.reason, inst.detail[:300])

    def __str__(self) -> str:
        return f"{self.instance_id}: error({self.reason}) {self.detail}".rstrip()


def retry_on_infra_only(task: object, task_run: TaskRun, state: State) -> bool:
    """Prefect ``retry_condition_fn``: retry infrastructure errors, never rejections or user errors — nor
    ``error(internal)``: a bug in one candidate repeats at once, so only a later run (with a fix) retries it."""
    return isinstance(state.data, InfraFailure) and state.data.reason != InfraError.INTERNAL


class DockerSlots:
    """At most ``workers`` candidates use the Docker engine at once within one flow run.

    Why a semaphore as well as the submission window: creating a task run and setting its states are API
    round trips (on a busy 2-core host with the SQLite-backed server, sometimes seconds). The flow keeps
    one task more than ``workers`` submitted, waiting here, so those round trips overlap with work
    instead of sitting between two candidates.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._slots = threading.BoundedSemaphore(workers)

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self._slots:
            yield


def backoff(first: float, retries: int) -> list[float]:
    """Retry delays doubling from ``first``: 30, 60, 120, ..."""
    return [first * 2**i for i in range(retries)]


def load_project(
    config: str | None, db: str | None = None, home: str | None = None, db_lock_wait: float | None = None
) -> Project:
    """The project file a flow run was given (none: defaults and ``FACTORY_*``), with per-run overrides."""
    return resolve(config, flags={"db": db or None, "home": home or None, "db_lock_wait": db_lock_wait})


def open_store(project: Project) -> Store:
    """The project's store; waits (``db_lock_wait``) while another scheduled flow holds the file."""
    return Store(project.db_path, lock_wait=project.db_lock_wait, on_wait=get_run_logger().warning)


def report_done(inst: Instance) -> None:
    """Log one finished instance (visible in the Prefect UI) and tell the CLI's progress bar, if any."""
    get_run_logger().info("%s: %s", inst.instance_id, outcome_label(inst.status, inst.reason))
    if _watcher().done is not None:
        _watcher().done(inst)


def run_candidate(instance_id: str, session, slots: DockerSlots, step: Callable[[str, object], Instance]) -> str:
    """The body of every per-candidate task: ``step`` under a Docker slot, its outcome reported.

    An exception (a user error, a bug) is kept in ``session.errors`` as raised and stops the run from
    starting more candidates; an infrastructure error, already stored, is raised as :class:`InfraFailure`
    so Prefect retries the task.
    """
    try:
        with slots.hold():
            if session.stop.is_set():
                get_run_logger().info("%s: skipped (the run is stopping)", instance_id)
                return "skipped"
            if _watcher().started is not None:
                _watcher().started(instance_id)
            inst = step(instance_id, session)
    except Exception as exc:
        session.stop.set()
        session.errors[instance_id] = exc
        raise
    report_done(inst)
    if inst.status is Status.ERROR:
        raise InfraFailure.of(inst)
    return outcome_label(inst.status, inst.reason)


def run_name(stage: str) -> Callable[[], str]:
    """Flow run names that sort by time in the UI: ``build-20261125-201500``."""
    return lambda: f"{stage}-{datetime.now(UTC):%Y%m%d-%H%M%S}"


def quiet_console() -> None:
    """For the CLI: keep Prefect's console log lines off the terminal (the CLI prints its own progress);
    the logs still go to the Prefect API, so the UI shows every line of the run."""
    import logging

    from prefect.logging.handlers import PrefectConsoleHandler

    for handler in logging.getLogger().handlers:
        if isinstance(handler, PrefectConsoleHandler):
            handler.setLevel(logging.CRITICAL)


def require_api() -> None:
    """Fail early, with the fix, when ``PREFECT_API_URL`` names a server that does not answer (instead of
    Prefect's traceback once the flow has started)."""
    import os
    import urllib.error
    import urllib.request

    from factory.core.errors import UserError

    url = os.environ.get("PREFECT_API_URL", "").rstrip("/")
    if not url:
        return  # Prefect starts its temporary local server
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            if response.status == 200:
                return
            problem = f"HTTP {response.status}"
    except urllib.error.HTTPError as exc:
        problem = f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        problem = str(getattr(exc, "reason", exc))
    raise UserError(f"the Prefect API at PREFECT_API_URL={url} does not answer ({problem})",
                    "start it (`prefect server start`), fix PREFECT_API_URL, or unset it to use a temporary "
                    "local server")
