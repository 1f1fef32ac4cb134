"""LLM rounds of the builder loop: explorer → environment manager → test manager → run → analyst.

Entered only when memory and heuristics left the environment blamed. Each round changes the recipe
where the analyst's feedback points, runs it for real, and stops on execution evidence (valid, or a
verdict that belongs to the candidate). Bounded by rounds and by the per-instance budget (calls, $,
wall time); an identical build is never run twice (and two in a row end the rounds); the conversation
restarts each call from the recipe and the latest feedback instead of growing without bound.
"""

from __future__ import annotations

import time
from pathlib import Path

from agents.builder import llm_explorer, llm_roles, test_manager
from agents.builder.llm_io import MalformedOutput
from agents.llm import Budget, BudgetExceeded, LLMRequestError
from agents.llm.ledger import steady

EVIDENCE_LINES = 40
REPEAT_LIMIT = 2
"""Recipes in a row that only repeat builds already run (after being told so) before the rounds stop: a
small model that cannot change its answer would otherwise spend every round and call on nothing."""
EVIDENCE_CHARS = 5000


def evidence(builder, trial) -> str:
    """What the analyst may read: exit codes, failing tests and bounded log tails of the last runs."""
    if trial.image == "" and trial.detail:
        return f"The image build failed ({trial.reason}):\n{steady(trial.detail)[-EVIDENCE_CHARS:]}"
    parts = [f"Verdict: {trial.status.value}({trial.reason}) — {trial.detail}"]
    for run in builder.ctx.store.validations(builder.candidate.instance_id):
        bad = sorted(t for t, o in run.tests.items() if o in ("failed", "error"))
        parts.append(f"{run.phase} run {run.run_index}: exit code {run.exit_code}, verdict {run.verdict}, "
                     f"{len(run.tests)} tests, failing: {', '.join(bad[:10]) or 'none'}")
        log = Path(run.log_path).read_text(errors="replace") if run.log_path and Path(run.log_path).exists() else ""
        parts.append(steady("\n".join(log.splitlines()[-EVIDENCE_LINES:])))
    return "\n".join(parts)[-EVIDENCE_CHARS:]


def run_llm_rounds(builder, last):
    ctx, cand, llm = builder.ctx, builder.candidate, builder.ctx.llm
    session = llm.session(cand.instance_id, getattr(ctx, "budget", None) or Budget())
    targets = test_manager.target_tests(cand.test_files, builder.snapshot)
    references = []
    if ctx.pool is not None:
        for entry, score in ctx.pool.similar(cand.language, set(builder.facts.requirements), exclude_repo=cand.repo):
            references.append(f"{entry.repo} (overlap {score:.2f}): {entry.recipe.model_dump_json()}")
    feedback = {"environment_manager": evidence(builder, last), "test_manager": "", "explorer": ""}
    route = "explorer"
    recipe = last.recipe
    facts_text = ""
    repeats = 0
    try:
        for round_no in range(ctx.settings.build.llm_rounds):
            started = time.monotonic()
            if route == "explorer" or not facts_text:
                facts_text, tokens = llm_explorer.explore(session, builder.snapshot, cand, builder.facts,
                                                          feedback["explorer"])
                builder._record("explorer", f"llm round {round_no + 1}: browse", "ok", started, facts_text[:500],
                                tokens=tokens)
                route = "environment_manager"
            started = time.monotonic()
            if route == "environment_manager":
                recipe, tokens = llm_roles.propose_environment(
                    session, cand, facts_text, recipe, feedback["environment_manager"], references)
                builder._record("environment_manager", f"llm round {round_no + 1}: recipe", "ok", started,
                                recipe.model_dump_json()[:500], tokens=tokens)
            started = time.monotonic()
            recipe, tokens = llm_roles.propose_tests(session, cand, recipe, targets, feedback["test_manager"])
            builder._record("test_manager", f"llm round {round_no + 1}: tests", "ok", started,
                            recipe.model_dump_json(include={"test_command", "pre_test_commands", "test_env"}),
                            tokens=tokens)
            trial = builder.attempt(recipe, llm.label)
            if trial is None:
                repeats += 1
                if repeats >= REPEAT_LIMIT:
                    last.detail = (f"{last.detail} (LLM stopped: {repeats} recipes in a row identical to builds "
                                   "already run)")
                    builder._record("test_analyst", "llm repeats", "stopped", time.monotonic(),
                                    f"{repeats} identical recipes in a row")
                    return last
                route = "environment_manager"
                feedback[route] = "Your last recipe was identical to one already run. Change something concrete."
                continue
            repeats = 0
            last = trial
            if trial.valid or not trial.blames_environment():
                return trial
            started = time.monotonic()
            routing, tokens = llm_roles.route(session, cand, f"{trial.status.value}({trial.reason})",
                                              evidence(builder, trial))
            builder._record("test_analyst", f"llm round {round_no + 1}: route", routing.role, started,
                            routing.feedback[:500], tokens=tokens)
            route = routing.role
            feedback[route] = routing.feedback
        last.detail = f"{last.detail} (LLM rounds exhausted: {ctx.settings.build.llm_rounds})"
    except BudgetExceeded as exc:
        last.detail = f"{last.detail} (LLM stopped: budget {exc.reason} reached)"
        builder._record("test_analyst", "llm budget", "stopped", time.monotonic(), exc.reason)
    except MalformedOutput as exc:
        last.detail = f"{last.detail} (LLM stopped: {exc})"
        builder._record("test_analyst", "llm output", "malformed", time.monotonic(), str(exc))
    except LLMRequestError as exc:  # e.g. a prompt over the context length: this instance only
        last.detail = f"{last.detail} (LLM stopped: {exc.what})"
        builder._record("test_analyst", "llm request", "refused", time.monotonic(), exc.what)
    return last
