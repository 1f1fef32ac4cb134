"""The repair agent: reproduce → localize → patch (several candidates) → select, in one environment.

Each stage is its own short conversation (:func:`~agents.repair.stages.run_stage`) seeded with the issue,
what the earlier stages found, and what the memory recalls for that stage — short prompts suit small models
and keep stages apart. Selection needs no model: every candidate is applied to a clean work tree and judged
by the agent's own evidence — its reproduction script, then the repository's existing tests of the modules
it touched — never by hidden tests. The attempt records everything, including why it stopped early
(a budget, the engine) and why the submitted patch was chosen.
"""

from __future__ import annotations

import re
import shlex

from agents.llm.ledger import steady
from agents.repair.config import RepairConfig
from agents.repair.prompts import render_prompt
from agents.repair.protocols import Environment, Memory, Model, NoMemory, Recall
from agents.repair.records import Attempt, Candidate, Task
from agents.repair.stages import bounded, run_stage
from factory.docker.runtime import EngineError

_PATH = re.compile(r"(?<![\w/.-])([\w.-]+(?:/[\w.-]+)*\.py)\b")


class RepairAgent:
    """``RepairAgent(model, env, memory).run(task)`` → :class:`Attempt` (its ``prediction()`` is the row)."""

    def __init__(self, model: Model, env: Environment, memory: Memory | None = None,
                 config: RepairConfig | None = None, model_name: str = "model"):
        self.model, self.env = model, env
        self.memory = memory or NoMemory()
        self.config = config or RepairConfig()
        self.model_name = model_name

    def run(self, task: Task) -> Attempt:
        attempt = Attempt(instance_id=task.instance_id, config=self.config.name, model=self.model_name)
        try:
            for stage in (self._reproduce, self._localize, self._patch):
                stage(task, attempt)
                stopped = next((s for s in attempt.stages if s.ended in ("budget", "llm_error")), None)
                if stopped is not None:
                    kind = "budget" if stopped.ended == "budget" else "llm"
                    attempt.error = f"{kind}: {stopped.error} (in {stopped.stage})"
                    break
        except EngineError as exc:
            attempt.error = f"engine: {exc}"
            return attempt
        try:
            self._select(attempt)
        except EngineError as exc:
            attempt.error = attempt.error or f"engine: {exc}"
        return attempt

    # ---- stages -----------------------------------------------------------------------------------

    def _recall(self, stage: str, task: Task, extra: str = "") -> Recall:
        if self.config.recall_k == 0:
            return Recall()
        recall = self.memory.recall(stage, f"{task.problem_statement}\n{extra}", task.identities())
        k = self.config.recall_k
        return Recall(recall.cases[:k], recall.insights, recall.keys[:k])

    def _reproduce(self, task: Task, attempt: Attempt) -> None:
        recall = self._recall("reproduce", task)
        prompt = render_prompt("reproduce.j2", task=task, recall=recall, scratch=self.config.scratch)
        attempt.stages.append(run_stage("reproduce", self.model, self.env, self.config, prompt, recall))
        script = f"{self.config.scratch}/reproduce.py"
        attempt.reproduction = self.env.read_file(script) or ""
        if attempt.reproduction:
            result = self.env.execute(f"python {shlex.quote(script)}", timeout=self.config.command_timeout)
            attempt.reproduction_output = steady(bounded(result.output, self.config.observation_chars))
            attempt.reproduction_exit = result.exit_code

    def _localize(self, task: Task, attempt: Attempt) -> None:
        recall = self._recall("localize", task, attempt.reproduction_output)
        prompt = render_prompt("localize.j2", task=task, recall=recall, scratch=self.config.scratch,
                               reproduction_output=attempt.reproduction_output,
                               reproduction_exit=attempt.reproduction_exit)
        log = run_stage("localize", self.model, self.env, self.config, prompt, recall)
        attempt.stages.append(log)
        named = list(dict.fromkeys(p for p in _PATH.findall(log.answer) if not p.startswith("/")))
        if named:  # only files that exist: a small model copies example paths from the prompt
            tracked = set(self.env.execute("git ls-files", timeout=60).output.splitlines())
            attempt.files = [path for path in named if path in tracked]

    def _patch(self, task: Task, attempt: Attempt) -> None:
        leftover = self.env.patch()  # what reproduce / localize changed in the work tree: no candidate's part
        if leftover.strip() and self.env.revert(leftover).exit_code != 0:
            attempt.error = "the work tree could not be reset before the patch stage"
            return
        recall = self._recall("patch", task, "\n".join(attempt.files))
        for number in range(1, self.config.candidates + 1):
            prompt = render_prompt("patch.j2", task=task, recall=recall, scratch=self.config.scratch,
                                   files=attempt.files, reproduction=attempt.reproduction, attempt_no=number)
            log = run_stage("patch", self.model, self.env, self.config, prompt, recall)
            attempt.stages.append(log)
            patch = self.env.patch()  # also when the stage was cut short: the edits made so far count
            if not patch.strip():
                if log.ended in ("budget", "llm_error"):
                    return
                continue
            if all(c.patch != patch for c in attempt.candidates):
                attempt.candidates.append(Candidate(patch=patch))
            if self.env.revert(patch).exit_code != 0:
                attempt.error = "the work tree could not be reset after a candidate; no further candidates"
                return
            if log.ended in ("budget", "llm_error"):
                return

    def _select(self, attempt: Attempt) -> None:
        """Score every candidate on a clean work tree with the agent's own checks; submit the best one."""
        if not attempt.candidates:
            attempt.reason = "no candidate patch"
            return
        script = f"{self.config.scratch}/reproduce.py"
        for candidate in attempt.candidates:
            if self.env.apply(candidate.patch).exit_code != 0:
                candidate.score = -10
                continue
            if attempt.reproduction:
                candidate.reproduction_exit = self.env.execute(
                    f"python {shlex.quote(script)}", timeout=self.config.command_timeout).exit_code
            tests = self._nearby_tests(candidate.patch) if self.config.select_tests else []
            if tests:
                command = "python -m pytest -q -x -p no:cacheprovider " + " ".join(shlex.quote(t) for t in tests)
                candidate.tests_exit = self.env.execute(command, timeout=self.config.command_timeout * 3).exit_code
            candidate.score = (2 if candidate.reproduction_exit == 0 else 0) + (
                {None: 0, 0: 1}.get(candidate.tests_exit, -1))
            self.env.revert(candidate.patch)
        best = max(attempt.candidates, key=lambda c: c.score)  # the first of the best on a tie
        attempt.submitted = best.patch
        n = attempt.candidates.index(best) + 1
        attempt.reason = (f"candidate {n} of {len(attempt.candidates)}: score {best.score} (reproduction exit "
                          f"{best.reproduction_exit}, nearby tests exit {best.tests_exit})")

    def _nearby_tests(self, patch: str) -> list[str]:
        """The repository's test files named after a module the patch changes (``test_<module>.py``)."""
        stems = {path.rsplit("/", 1)[-1].removesuffix(".py") for path in _changed_files(patch)
                 if path.endswith(".py") and "test" not in path.rsplit("/", 1)[-1]}
        if not stems:
            return []
        listed = self.env.execute("git ls-files '*.py'", timeout=60).output.splitlines()
        wanted = {f"test_{stem}.py" for stem in stems} | {f"{stem}_test.py" for stem in stems}
        return [path for path in listed if path.rsplit("/", 1)[-1] in wanted][:10]


def _changed_files(patch: str) -> list[str]:
    return [line.split(" b/", 1)[1] for line in patch.splitlines() if line.startswith("diff --git ")]


