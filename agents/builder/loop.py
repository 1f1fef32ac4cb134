"""The SWE-Builder loop: explorer → environment manager → test manager → test analyst.

This is the heuristic (no LLM) builder: one deterministic round, every role's action recorded as an
Attempt so a failure can be traced to the role that must change. Success is decided by execution
(the images build; validation then runs the eval script), never by a role's say-so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import docker

from agents.builder import environment_manager, explorer, test_analyst, test_manager
from factory.config import Settings
from factory.mining.mirror import Mirror, Snapshot
from factory.models import Attempt, Candidate
from factory.store import Store


@dataclass
class BuildOutcome:
    ok: bool
    fingerprint: str = ""
    image: str = ""
    eval_script: str = ""
    detail: str = ""
    """Why the build failed (e.g. pip's error lines); empty on success."""


def build(
    client: docker.DockerClient,
    candidate: Candidate,
    mirror: Mirror,
    store: Store,
    settings: Settings,
    log_dir: Path,
    rebuild_failed: bool = False,
) -> BuildOutcome:
    """Build the environment of one candidate; every role's action is stored as an Attempt."""
    snapshot = Snapshot(mirror, candidate.base_commit)

    def record(role: str, action: str, outcome: str, started: float, detail: str = "", log: str = "") -> None:
        store.add_attempt(Attempt(
            instance_id=candidate.instance_id, role=role, action=action, outcome=outcome, detail=detail,
            log_path=log, seconds=round(time.monotonic() - started, 3),
        ))

    started = time.monotonic()
    facts = explorer.explore(snapshot, settings.default_python)
    record("explorer", "read setup files", "ok", started,
           f"python {facts.python_version} ({facts.python_reason}); " + "; ".join(facts.install_commands))

    started = time.monotonic()
    env_recipe = environment_manager.write_env_recipe(candidate, facts)
    record("environment_manager", "render env Dockerfile", "ok", started, env_recipe.image_tag)

    started = time.monotonic()
    eval_script = test_manager.write_eval_script(candidate, snapshot)
    record("test_manager", "render eval script", "ok", started,
           "targets: " + " ".join(test_manager.target_tests(candidate.test_files)))

    started = time.monotonic()
    env = test_analyst.build_env(
        client, candidate, facts, env_recipe, snapshot, store, settings, log_dir, rebuild_failed
    )
    outcome = "reused" if env.reused and env.ok else ("ok" if env.ok else "failed")
    record("test_analyst", "build env image", outcome, started, env.detail or env_recipe.image_tag, env.log_path)
    if not env.ok:
        return BuildOutcome(False, env_recipe.fingerprint, detail=env.detail)

    started = time.monotonic()
    instance_recipe = environment_manager.write_instance_recipe(candidate, facts, env.image)
    inst = test_analyst.build_instance(client, instance_recipe, snapshot, settings, log_dir)
    record("test_analyst", "build instance image", "reused" if inst.reused else ("ok" if inst.ok else "failed"),
           started, inst.detail or instance_recipe.image_tag, inst.log_path)
    if not inst.ok:
        return BuildOutcome(False, env_recipe.fingerprint, detail=inst.detail)
    return BuildOutcome(True, env_recipe.fingerprint, inst.image, eval_script)
