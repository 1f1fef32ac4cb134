"""Test analyst role: build the images in Docker and say, from the evidence, why something failed.

Heuristic implementation: it builds the (shared) env image once per fingerprint, the thin instance
image per base commit, and turns a failed build log into the few lines that explain it (pip's
``ERROR:`` lines, say), which are kept in the DB while the whole log stays on disk.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import docker
import git

from agents.builder.environment_manager import EnvPlan, InstancePlan
from factory.core.models import Candidate, Environment
from factory.core.recipe import Recipe
from factory.core.settings import Settings
from factory.docker import base_images
from factory.docker.runtime import BuildError, build_image, image_exists
from factory.mining.mirror import Snapshot
from factory.store import Store

_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
_locks_guard = threading.Lock()
_ERROR_LINE = re.compile(
    r"^(ERROR|error|E:|fatal|Traceback|\w*Error:|cause:|Because |And because |× |╰─▶ "
    r"|The command .* returned a non-zero code)"
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _lock(key: str) -> threading.Lock:
    with _locks_guard:
        return _locks[key]


def base_image_id(client: docker.DockerClient, python_version: str, settings: Settings) -> str:
    """Id of the base image for ``python_version``, made first if missing (once per process at a time).

    Env image tags include it, so a rebuilt base (new CA bundle, new template) rebuilds env images too.
    """
    with _lock(f"base:{python_version}"):
        tag = base_images.ensure(client, python_version, settings, say=lambda _msg: None)
        return client.images.get(tag).id


def explain_build_failure(log: str, limit: int = 4000) -> str:
    """The lines of a build log that say why it failed: error lines first, then the tail for context."""
    lines = [line.rstrip() for line in _ANSI.sub("", log).splitlines() if line.strip()]
    errors = [line.strip() for line in lines if _ERROR_LINE.match(line.strip())]
    text = "\n".join(errors[-20:] if errors else lines[-12:])
    return text[-limit:]


@dataclass
class ImageOutcome:
    ok: bool
    image: str = ""
    detail: str = ""
    log_path: str = ""
    seconds: float = 0.0
    reused: bool = False


def _context_dir(settings: Settings) -> Path:
    settings.contexts_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="ctx-", dir=settings.contexts_dir))


def build_env(
    client: docker.DockerClient,
    candidate: Candidate,
    recipe: Recipe,
    plan: EnvPlan,
    snapshot: Snapshot,
    store: Store,
    settings: Settings,
    log_dir: Path,
    *,
    python_reason: str = "",
    builder: str = "heuristic",
    rebuild_failed: bool = False,
) -> ImageOutcome:
    """The env image for ``plan``: reused when it exists, built once per fingerprint otherwise."""

    def record(status: str, error: str, log_path: str, seconds: float) -> Environment:
        return _env_record(candidate, recipe, plan, python_reason, builder, status, error, log_path, seconds)

    with _lock(plan.image_tag):
        known = store.environment(plan.fingerprint)
        if image_exists(client, plan.image_tag):
            if known is None or known.status != "built":
                store.save_environment(record("built", "", "", 0.0))
            elif _earlier(snapshot, candidate.base_commit, known.source_commit):
                # Name the earliest candidate using this env, whichever parallel worker got here first,
                # so two runs store (and export) the same environment_setup_commit and Dockerfile.
                store.save_environment(known.model_copy(
                    update={"source_commit": candidate.base_commit, "dockerfile": plan.dockerfile}))
            return ImageOutcome(True, plan.image_tag, reused=True)
        same_run = bool(known and known.log_path) and Path(known.log_path).parent.parent == log_dir.parent
        if known and known.status == "failed" and known.image_tag == plan.image_tag and same_run \
                and not rebuild_failed:
            # Within one run a failed recipe is not rebuilt for every candidate sharing it; a later run
            # tries again (the failure may have been PyPI's, not the recipe's).
            return ImageOutcome(False, detail=known.error, log_path=known.log_path, reused=True)
        base_image_id(client, recipe.python_version, settings)
        context = _context_dir(settings)
        log_path = log_dir / f"env-{plan.fingerprint[:16]}.log"
        started = time.monotonic()
        try:
            snapshot.archive(context / "source.tar")
            (context / "Dockerfile").write_text(plan.dockerfile)
            image_id = build_image(
                client, context, plan.image_tag,
                extra_labels={"issue-factory.kind": "env", "issue-factory.fingerprint": plan.fingerprint},
                log_path=log_path, timeout=settings.build.build_timeout,
            )
        except BuildError as exc:
            detail = explain_build_failure(exc.log, settings.build.max_log_excerpt)
            seconds = time.monotonic() - started
            store.save_environment(record("failed", detail, str(log_path), seconds))
            return ImageOutcome(False, detail=detail, log_path=str(log_path), seconds=seconds)
        finally:
            shutil.rmtree(context, ignore_errors=True)
        seconds = time.monotonic() - started
        env = record("built", "", str(log_path), seconds)
        env.image_id = image_id
        store.save_environment(env)
        return ImageOutcome(True, plan.image_tag, log_path=str(log_path), seconds=seconds)


def build_instance(
    client: docker.DockerClient,
    plan: InstancePlan,
    snapshot: Snapshot,
    settings: Settings,
    log_dir: Path,
) -> ImageOutcome:
    with _lock(plan.image_tag):
        if image_exists(client, plan.image_tag):
            return ImageOutcome(True, plan.image_tag, reused=True)
        context = _context_dir(settings)
        log_path = log_dir / "instance-build.log"
        started = time.monotonic()
        try:
            snapshot.bundle(context / "repo.bundle")
            (context / "Dockerfile").write_text(plan.dockerfile)
            build_image(
                client, context, plan.image_tag,
                extra_labels={"issue-factory.kind": "instance", "issue-factory.env": plan.env_image},
                log_path=log_path, timeout=settings.build.build_timeout,
            )
        except BuildError as exc:
            detail = explain_build_failure(exc.log, settings.build.max_log_excerpt)
            return ImageOutcome(False, detail=detail, log_path=str(log_path), seconds=time.monotonic() - started)
        finally:
            shutil.rmtree(context, ignore_errors=True)
        return ImageOutcome(True, plan.image_tag, log_path=str(log_path), seconds=time.monotonic() - started)


def _earlier(snapshot: Snapshot, sha: str, than: str) -> bool:
    """True when ``sha`` is a strict ancestor of ``than`` in the mirror (False if either is unknown)."""
    if sha == than:
        return False
    try:
        return snapshot.mirror.repo.is_ancestor(sha, than)
    except git.GitCommandError:
        return False


def _env_record(
    candidate: Candidate, recipe: Recipe, plan: EnvPlan, python_reason: str, builder: str, status: str, error: str,
    log_path: str, seconds: float,
) -> Environment:
    return Environment(
        fingerprint=plan.fingerprint,
        repo=candidate.repo,
        python_version=recipe.python_version,
        python_reason=python_reason,
        base_image=plan.base_image,
        install_commands=recipe.install_commands,
        dockerfile=plan.dockerfile,
        image_tag=plan.image_tag,
        status=status,
        error=error,
        log_path=log_path,
        builder=builder,
        seconds=seconds,
        source_commit=candidate.base_commit,
    )
