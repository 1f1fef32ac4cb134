"""One stage of an attempt as a conversation: ask the model for an action, carry it out in the environment,
show it what happened, until it answers ``done`` or the stage runs out of turns.

Every way a stage can end is recorded (``done``, ``steps``, ``repeated``, ``malformed``, ``no_action``,
``budget``, ``llm_error``), with the turns it had: a budget that runs out or a request the endpoint refuses ends the
stage, never the run, and the agent keeps what the work tree holds. Observations
are bounded (head and tail), so one noisy command cannot fill the context, and steady (durations, rates and
ids masked: :func:`~agents.llm.ledger.steady`), so a rerun with ``--replay`` asks the same questions.
"""

from __future__ import annotations

from agents.llm import BudgetExceeded, LLMRequestError
from agents.llm.ledger import steady
from agents.repair.actions import Action, MalformedAction, RepeatGuard, apply_edits, parse_action
from agents.repair.config import RepairConfig
from agents.repair.prompts import render_prompt
from agents.repair.protocols import Environment, Model, Recall
from agents.repair.records import StageLog, Turn


def bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n[... {len(text) - limit} characters cut ...]\n{text[-half:]}"


def carry_out(action: Action, env: Environment, config: RepairConfig) -> str:
    """Do ``action`` (not ``done``) and say what happened, as the model will read it."""
    if action.kind == "bash":
        result = env.execute(action.body, timeout=config.command_timeout)
        return render_prompt("observation.j2", timed_out=result.timed_out, timeout=config.command_timeout,
                             exit_code=result.exit_code,
                             output=steady(bounded(result.output, config.observation_chars)),
                             ignored=action.ignored)
    if action.kind == "write":
        result = env.write_file(action.path, action.body)
        said = (f"Wrote {action.path} ({action.body.count(chr(10)) + 1} lines)." if result.exit_code == 0
                else f"Could not write {action.path}: {result.output.strip()}")
        return said + _ignored(action)
    text = env.read_file(action.path)
    if text is None:
        return f"There is no file {action.path} (paths are relative to /testbed)." + _ignored(action)
    try:
        new = apply_edits(text, action.edits)
    except MalformedAction as exc:
        return f"{action.path} is unchanged: {exc}." + _ignored(action)
    result = env.write_file(action.path, new)
    if result.exit_code != 0:
        return f"Could not write {action.path}: {result.output.strip()}" + _ignored(action)
    return f"Edited {action.path} ({len(action.edits)} change(s))." + _ignored(action)


def _ignored(action: Action) -> str:
    return f"\n(Only the first of {action.ignored + 1} action blocks was run.)" if action.ignored else ""


def run_stage(stage: str, model: Model, env: Environment, config: RepairConfig, prompt: str,
              recall: Recall | None = None) -> StageLog:
    """Converse until ``done`` or a limit; the log holds every turn, what was recalled and why it ended."""
    recall = recall or Recall()
    log = StageLog(stage=stage, recalled=len(recall.cases) + len(recall.insights), recalled_cases=recall.keys)
    messages = [{"role": "system", "content": render_prompt("system.j2", scratch=config.scratch)},
                {"role": "user", "content": prompt}]
    guard = RepeatGuard(config.repeat_limit)
    malformed = early = 0
    for _ in range(config.steps.get(stage, 8)):
        try:
            reply = model.chat(f"repair.{stage}", messages)
        except BudgetExceeded as exc:  # the turns so far stay in the log; the agent decides what is kept
            log.ended, log.error = "budget", str(exc)
            return log
        except LLMRequestError as exc:  # a request the endpoint refuses (context too long, say): the stage ends;
            # an endpoint that is down (LLMUnavailable) stops the run with its fix instead
            log.ended, log.error = "llm_error", exc.what
            return log
        messages.append({"role": "assistant", "content": reply.text})
        try:
            action = parse_action(reply.text)
        except MalformedAction as exc:
            malformed += 1
            log.turns.append(Turn(action="malformed", detail=str(exc)))
            if malformed >= config.malformed_limit:
                log.ended = "malformed"
                return log
            messages.append({"role": "user", "content": render_prompt("malformed.j2", error=str(exc))})
            continue
        if action.kind == "done" and not any(turn.action in ("bash", "write", "edit") for turn in log.turns):
            # a small model answers "done" to every prompt: a stage ends on evidence, not on a word
            early += 1
            log.turns.append(Turn(action="malformed", detail="done before any action"))
            if early >= config.malformed_limit:
                log.ended = "no_action"
                return log
            messages.append({"role": "user", "content": render_prompt("no_action.j2", scratch=config.scratch)})
            continue
        malformed = 0
        if guard.seen(action) > 1:
            log.turns.append(Turn(action="repeat", detail=f"{action.kind} {action.path or action.body[:80]}"))
            if guard.exhausted:
                log.ended = "repeated"
                return log
            messages.append({"role": "user", "content": render_prompt(
                "repeat.j2", times=guard.repeats, limit=config.repeat_limit)})
            continue
        if action.kind == "done":
            log.answer, log.ended = action.body, "done"
            return log
        observation = carry_out(action, env, config)
        log.turns.append(Turn(action=action.kind, detail=action.path or action.body[:500],
                              observation=bounded(observation, 2000)))
        messages.append({"role": "user", "content": observation})
    log.ended = "steps"
    return log
