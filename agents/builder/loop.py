"""The SWE-Builder loop: which recipe to try, in which order, and when to stop.

Order per candidate: proven recipes from the environment memory pool (same dependency fingerprint, then
the same repository nearest in commit date) → the heuristic recipe → LLM rounds (when a model is
configured). Each try renders the recipe (environment manager, test manager), builds the images and
runs fail-to-pass validation (test analyst). The loop stops on execution evidence only: a valid
instance, or a verdict that belongs to the candidate itself (pass2pass, flaky, …) rather than to its
environment. An identical Dockerfile + eval script is never run twice.

A memory recipe was proven on another commit, so only its *valid* verdict is final: otherwise the
heuristic recipe is still tried and its verdict (or the LLM rounds') is the candidate's. When the last
verdict still rests on a broken environment (``Verdict.environment``: the suite could not start, every
failure is a third-party import), the candidate ends ``build_failed(env_broken)`` quoting that evidence:
a rejection — never retried — is never based on a broken environment.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker

from agents.builder import broken_tests, environment_manager, explorer, interpreter, test_analyst, test_manager
from factory.core.models import Attempt, BuildFailure, Candidate, Rejection, Status, TestOutcome
from factory.core.recipe import Recipe, fingerprint
from factory.core.settings import Settings
from factory.grading.classify import Verdict
from factory.grading.fail_to_pass import validate
from factory.mining.mirror import Mirror, Snapshot
from factory.store import Store


@dataclass
class BuildContext:
    """Everything one candidate's build needs besides the candidate itself."""

    client: docker.DockerClient
    store: Store
    settings: Settings
    log_dir: Path
    pool: object | None = None
    """memory_pool.environment.EnvironmentPool, or None with ``--no-memory``."""
    llm: object | None = None
    """agents.llm.LLMClient, or None when no model is configured (the offline default)."""
    budget: object | None = None
    """agents.llm.Budget per instance (calls, $, wall time); None: its defaults."""
    rebuild_failed: bool = False


@dataclass
class Trial:
    """One recipe tried end to end."""

    source: str
    """``memory`` | ``heuristic`` | ``llm:<model>``."""
    recipe: Recipe
    status: Status
    reason: str = ""
    detail: str = ""
    fingerprint: str = ""
    image: str = ""
    eval_script: str = ""
    verdict: Verdict | None = None
    dockerfile: str = ""
    after_tests: dict[str, str] = field(default_factory=dict)
    recipe_id: str = ""

    @property
    def valid(self) -> bool:
        return self.status is Status.VALID

    def blames_environment(self) -> bool:
        """True when another recipe might do better: the failure says more about the environment than
        about the candidate (build failed, nothing ran, only import/collection errors, …)."""
        if self.status is Status.BUILD_FAILED:
            return True
        if self.status is Status.ERROR:
            return self.reason == "marker_missing"
        if self.status is Status.REJECTED and (self.broken_environment() or self.reason in (
                Rejection.ERROR2PASS, Rejection.NO_TESTS_RAN)):
            return True
        if self.status is Status.REJECTED and self.reason == Rejection.FAIL2FAIL:
            outcomes = set(self.after_tests.values())
            return not outcomes or outcomes <= {TestOutcome.ERROR.value, TestOutcome.SKIPPED.value}
        return False

    def broken_environment(self) -> str:
        """The runs' evidence that this recipe's environment is broken ("" when the verdict is the candidate's):
        such a verdict may make the loop try more, but never ends as a rejection."""
        if self.status is not Status.REJECTED or self.verdict is None:
            return ""
        return self.verdict.environment


class Builder:
    """Builds and validates one candidate; every role's action is stored as an Attempt."""

    def __init__(self, ctx: BuildContext, candidate: Candidate, mirror: Mirror,
                 on_validating: Callable[[], None] | None = None):
        self.ctx = ctx
        self.candidate = candidate
        self.snapshot = Snapshot(mirror, candidate.base_commit)
        self.facts = explorer.explore(self.snapshot, ctx.settings.images.default_python,
                                      fixed=Snapshot(mirror, candidate.fix_commit))
        self.base_date = mirror.repo.commit(candidate.base_commit).committed_datetime
        """Date of base_commit: the dependency cut-off and the memory pool's notion of "when"."""
        self.scm_version = environment_manager.scm_version(candidate.version)
        """What a git-versioned project is built as (its release line): part of the env's fingerprint."""
        self.facts = interpreter.dated_facts(self.facts, self.snapshot, self.base_date,
                                             ctx.settings.images.default_python, ctx.settings.build.exclude_newer)
        self.tried: set[str] = set()
        self.on_validating = on_validating
        self._record("explorer", "read setup files", "ok", time.monotonic(),
                     f"python {self.facts.python_version} ({self.facts.python_reason}); "
                     + "; ".join(self.facts.install_commands))

    # ---- bookkeeping ------------------------------------------------------------------------------

    def _record(self, role: str, action: str, outcome: str, started: float, detail: str = "", log: str = "",
                tokens: int = 0) -> None:
        self.ctx.store.add_attempt(Attempt(
            instance_id=self.candidate.instance_id, role=role, action=action, outcome=outcome, detail=detail,
            log_path=log, tokens=tokens, seconds=round(time.monotonic() - started, 3),
        ))

    def _cutoff(self) -> str:
        if not self.ctx.settings.build.exclude_newer:
            return ""
        return environment_manager.exclude_newer_date(self.base_date)

    # ---- one try ----------------------------------------------------------------------------------

    def attempt(self, recipe: Recipe, source: str, python_reason: str = "") -> Trial | None:
        """Render, build and validate ``recipe``; None if this exact build was already tried."""
        cand, ctx = self.candidate, self.ctx
        fp = fingerprint(recipe, self.facts.dependency_files, self._cutoff(), self.scm_version)
        cutoff_date = self.base_date if ctx.settings.build.exclude_newer else None
        started = time.monotonic()
        base_id = test_analyst.base_image_id(ctx.client, recipe.python_version, ctx.settings)
        plan = environment_manager.plan_env(cand, recipe, fp, cutoff_date, base_id)
        eval_script = test_manager.write_eval_script(cand, self.snapshot, recipe)
        key = hashlib.sha256((plan.dockerfile + "\0" + eval_script).encode()).hexdigest()
        if key in self.tried:
            self._record("environment_manager", f"render {source} recipe", "skipped", started,
                         "identical Dockerfile and eval script were already tried")
            return None
        self.tried.add(key)
        self._record("environment_manager", f"render {source} recipe", "ok", started, plan.image_tag)
        self._record("test_manager", "render eval script", "ok", started,
                     "targets: " + " ".join(test_manager.target_tests(cand.test_files, self.snapshot)))
        trial = Trial(source, recipe, Status.BUILD_FAILED, fingerprint=fp, eval_script=eval_script,
                      dockerfile=plan.dockerfile, recipe_id=recipe.recipe_id())

        started = time.monotonic()
        env = test_analyst.build_env(
            ctx.client, cand, recipe, plan, self.snapshot, ctx.store, ctx.settings, ctx.log_dir,
            python_reason=python_reason or (
                self.facts.python_reason if source == "heuristic" else f"chosen by {source}"),
            builder=source, rebuild_failed=ctx.rebuild_failed,
        )
        outcome = "reused" if env.reused and env.ok else ("ok" if env.ok else "failed")
        self._record("test_analyst", "build env image", outcome, started, env.detail or plan.image_tag, env.log_path)
        if not env.ok:
            trial.reason, trial.detail = BuildFailure.ENV_BUILD.value, env.detail
            return trial

        started = time.monotonic()
        inst_plan = environment_manager.plan_instance(cand, recipe, env.image)
        inst = test_analyst.build_instance(ctx.client, inst_plan, self.snapshot, ctx.settings, ctx.log_dir)
        self._record("test_analyst", "build instance image",
                     "reused" if inst.reused else ("ok" if inst.ok else "failed"), started,
                     inst.detail or inst_plan.image_tag, inst.log_path)
        if not inst.ok:
            trial.reason, trial.detail = BuildFailure.INSTANCE_BUILD.value, inst.detail
            return trial

        if self.on_validating:
            self.on_validating()
        started = time.monotonic()
        verdict = validate(ctx.client, cand, inst.image, eval_script, ctx.store, ctx.settings, ctx.log_dir)
        after = [v for v in ctx.store.validations(cand.instance_id) if v.phase == "after"]
        trial.status, trial.reason, trial.detail = verdict.status, str(verdict.reason), verdict.detail
        trial.image, trial.verdict = inst.image, verdict
        trial.after_tests = after[0].tests if after else {}
        self._record("test_analyst", "validate fail2pass",
                     f"{verdict.status.value}({verdict.reason})" if verdict.reason else verdict.status.value,
                     started, verdict.detail, str(ctx.log_dir))
        return trial

    # ---- the order of tries -----------------------------------------------------------------------

    def memory_recipes(self) -> list[tuple[Recipe, str]]:
        """Proven recipes of this repo to try before the heuristic one — minus the heuristic recipe itself.

        A memory entry that builds exactly what the heuristic would (same fingerprint at this commit) adds
        nothing but a label, and that label would depend on which candidate finished first: with parallel
        workers the export would differ from a one-worker run. So it is left to the heuristic try, which
        reuses the same content-hashed image.
        """
        pool = self.ctx.pool
        if pool is None:
            return []
        cutoff = self._cutoff()
        heuristic_fp = fingerprint(self.facts.recipe(), self.facts.dependency_files, cutoff, self.scm_version)
        seen: set[str] = set()
        out = []
        for entry in pool.for_repo(self.candidate.repo, self.base_date):
            if entry.recipe_id in seen:
                continue
            seen.add(entry.recipe_id)
            if fingerprint(entry.recipe, self.facts.dependency_files, cutoff, self.scm_version) != heuristic_fp:
                out.append((entry.recipe, entry.recipe_id))
        return out

    def run(self) -> Trial:
        last: Trial | None = None
        for recipe, recipe_id in self.memory_recipes():
            trial = self.attempt(recipe, "memory")
            if trial is None:
                continue
            last = trial
            if trial.valid:
                break
            if not trial.blames_environment():
                break  # a verdict of its own, but from a recipe of another commit: the heuristic one decides
            self.ctx.pool.record_failure(recipe_id)
        if last is None or not last.valid:
            trial = self.attempt(self.facts.recipe(), "heuristic")
            last = trial or last
        last = self.retry_on_newest_python(last)
        last = self.retry_without_broken_tests(last)
        if last is not None and not last.valid and last.blames_environment() and self.ctx.llm is not None:
            from agents.builder.llm_rounds import run_llm_rounds

            last = run_llm_rounds(self, last)
        assert last is not None  # the heuristic recipe is always tried when memory gave nothing
        if last.valid:
            self.remember(last)
        return self.settle(last)

    def settle(self, trial: Trial) -> Trial:
        """The final outcome of the last trial: a rejection resting on a broken environment (after every
        recipe the loop would try) becomes ``build_failed(env_broken)`` with the evidence, never final; one
        from an environment without what the test configuration installs from URLs, ``env_incomplete``."""
        evidence, reason = trial.broken_environment(), BuildFailure.ENV_BROKEN
        if not evidence and trial.status is Status.REJECTED and self.facts.unreachable and trial.reason not in (
                Rejection.TEST_PATCH_FAILED, Rejection.GOLD_PATCH_FAILED):
            evidence, reason = (f"{len(self.facts.unreachable)} thing(s) the suite was written with cannot be "
                                f"fetched here ({self.facts.unreachable[0]}): it ran without them"), (
                                BuildFailure.ENV_INCOMPLETE)
        if not evidence:
            return trial
        was = f"{trial.status.value}({trial.reason})"
        trial.status, trial.reason = Status.BUILD_FAILED, reason.value
        trial.detail = f"{evidence} (the last recipe, {trial.source}, judged {was}: {trial.detail})"[:2000]
        self._record("test_analyst", "settle verdict", trial.reason, time.monotonic(), trial.detail)
        return trial

    def retry_on_newest_python(self, last: Trial | None) -> Trial | None:
        """``last`` tried again on the newest allowed interpreter when its verdict proves nothing on this one
        (``interpreter.retry_python``: skipped targets, a version-conditional fix). The retry's verdict counts
        unless it blames its environment (the old dependencies do not build there): then ``last`` stands,
        saying so."""
        if last is None:
            return None
        newest = interpreter.newest_python(self.snapshot)
        python = interpreter.retry_python(last.status, last.reason, last.after_tests, last.recipe.python_version,
                                          self.candidate, newest)
        if python is None:
            return last
        why = (f"{last.reason} on Python {last.recipe.python_version} with skipped or version-conditional "
               f"target tests: retried on the newest allowed Python {python}")
        retry = self.attempt(last.recipe.model_copy(update={"python_version": python}), last.source, why)
        if retry is None:
            return last
        if retry.valid or not retry.blames_environment():
            retry.detail = f"{retry.detail} ({why})"
            return retry
        last.detail = f"{last.detail} ({why}, which failed: {retry.reason} {retry.detail[:200]})"
        return last

    def retry_without_broken_tests(self, last: Trial | None) -> Trial | None:
        """``last`` validated once more without the tests this environment fails whatever the fix does
        (:func:`broken_tests.broken_tests`), when it is a ``fail2fail`` that they alone explain. The retry's
        verdict is the candidate's (its runs are the stored ones), saying which tests were left out."""
        if (last is None or last.status is not Status.REJECTED or last.reason != Rejection.FAIL2FAIL
                or last.recipe.test_command or last.recipe.deselect):
            return last
        runs = self.ctx.store.validations(self.candidate.instance_id)
        broken = broken_tests.broken_tests([r.tests for r in runs if r.phase == "before"],
                                           [r.tests for r in runs if r.phase == "after"], self.candidate.test_patch)
        if not broken:
            return last
        retry = self.attempt(last.recipe.model_copy(update={"deselect": broken}), last.source)
        if retry is None:
            return last
        retry.detail = (f"{retry.detail}; {len(broken)} test(s) that fail before and after the fix in this "
                        f"environment left out (e.g. {broken[0]})")
        return retry

    def remember(self, trial: Trial) -> None:
        """Write a recipe to the memory pool — only ever after it passed fail-to-pass."""
        pool = self.ctx.pool
        if pool is None:
            return
        from memory_pool.environment import dependency_names

        pool.record_proof(
            repo=self.candidate.repo, language=self.candidate.language, fingerprint=trial.fingerprint,
            image_tag=self.ctx.store.environment(trial.fingerprint).image_tag,
            recipe=trial.recipe.model_copy(update={"deselect": []}),  # one commit's broken tests are its own
            dockerfile=trial.dockerfile, dependencies=dependency_names(self.facts.requirements),
            commit_date=self.base_date, version=self.candidate.version,
            instance_id=self.candidate.instance_id, builder=trial.source,
        )


def build_and_validate(ctx: BuildContext, candidate: Candidate, mirror: Mirror,
                       on_validating: Callable[[], None] | None = None) -> Trial:
    return Builder(ctx, candidate, mirror, on_validating).run()
