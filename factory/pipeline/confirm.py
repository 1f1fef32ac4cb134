"""The validate stage: confirmation runs for instances already found valid.

Why a stage of its own: the build checks fail-to-pass with a quick default (1 run before, 2 after) so that
environments are found fast; a dataset for training or evaluation may want stronger evidence against
flaky tests. This stage reruns the full before/after validation, with the stored image and eval script
(no rebuild), for every valid instance that has fewer after-runs than asked, and records the new verdict —
a test that flips between runs now demotes the instance to ``rejected(flaky)``. Idempotent: confirmed
instances are skipped on the next run. While it runs, the instance is ``validating``; a crash leaves it
for the next build to redo.
"""

from __future__ import annotations

from dataclasses import replace

from factory.core.models import Instance, Status
from factory.grading.fail_to_pass import validate
from factory.pipeline.build import BuildSession
from factory.store import Store


def unconfirmed(store: Store, runs_after: int, only: list[str] | None = None) -> list[str]:
    """Valid instances (or those in ``only``, if valid) with fewer than ``runs_after`` stored after-runs."""
    return store.valid_with_fewer_runs(runs_after, only)


def confirm(instance_id: str, session: BuildSession) -> Instance:
    """Validate ``instance_id`` again with the session's run counts and store the verdict."""
    ctx = session.ctx
    store = ctx.store
    inst = store.instance(instance_id)
    if inst.status is not Status.VALID or not inst.image:
        return inst
    candidate = store.candidate(instance_id)
    inst.status = Status.VALIDATING
    store.save_instance(inst)
    log_dir = replace(ctx, log_dir=ctx.log_dir / instance_id).log_dir / "confirm"
    verdict = validate(ctx.client, candidate, inst.image, inst.eval_script, store, ctx.settings, log_dir)
    inst.status, inst.reason, inst.detail = verdict.status, str(verdict.reason), verdict.detail
    if verdict.status is Status.VALID:
        inst.fail_to_pass, inst.pass_to_pass = verdict.fail_to_pass, verdict.pass_to_pass
    inst.flaky_tests, inst.unstable_tests = verdict.flaky_tests, verdict.unstable_tests
    store.save_instance(inst)
    return inst
