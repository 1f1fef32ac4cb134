"""Environment manager, test manager and test analyst: their LLM implementations.

Each fills slots of a :class:`Recipe` (never a free-form Dockerfile or eval script), so whatever a
model writes is rendered through our templates and keeps their guarantees. The analyst reads exit
codes, per-test results and a bounded log excerpt, and routes concrete feedback to one role.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from agents.builder.llm_io import ask
from agents.builder.prompts import render_prompt
from factory.core.models import Candidate
from factory.core.recipe import Recipe
from factory.core.settings import DEBIAN_PYTHONS

SYSTEM = "system.j2"


class EnvProposal(BaseModel):
    python_version: str
    system_packages: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    install_commands: list[str]
    installable: bool = True

    @model_validator(mode="after")
    def _fits_a_recipe(self) -> EnvProposal:
        """Recipe rules (known Python, valid apt and variable names) are checked here, so a violation is
        shown back to the model like any malformed reply instead of failing later."""
        Recipe(**self.model_dump())
        return self


class TestProposal(BaseModel):
    test_command: str = ""
    pre_test_commands: list[str] = Field(default_factory=list)
    test_env: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fits_a_recipe(self) -> TestProposal:
        Recipe(python_version="3.11", install_commands=[], **self.model_dump())
        return self


class Routing(BaseModel):
    role: Literal["environment_manager", "test_manager", "explorer"]
    feedback: str


def propose_environment(session, candidate: Candidate, facts_text: str, current: Recipe, feedback: str,
                        references: list[str]) -> tuple[Recipe, int]:
    messages = [
        {"role": "system", "content": render_prompt(SYSTEM)},
        {"role": "user", "content": render_prompt(
            "environment_manager.j2", candidate=candidate, facts=facts_text, current=current.model_dump_json(
                include={"python_version", "system_packages", "env", "install_commands", "installable"}, indent=1),
            feedback=feedback, references=references, pythons=list(DEBIAN_PYTHONS))},
    ]
    proposal, tokens = ask(session, "environment_manager", messages, EnvProposal)
    recipe = Recipe.model_validate({**current.model_dump(), **proposal.model_dump()})
    return recipe, tokens


def propose_tests(session, candidate: Candidate, recipe: Recipe, targets: list[str], feedback: str
                  ) -> tuple[Recipe, int]:
    messages = [
        {"role": "system", "content": render_prompt(SYSTEM)},
        {"role": "user", "content": render_prompt(
            "test_manager.j2", candidate=candidate, targets=targets, recipe=recipe, feedback=feedback)},
    ]
    proposal, tokens = ask(session, "test_manager", messages, TestProposal)
    return Recipe.model_validate({**recipe.model_dump(), **proposal.model_dump()}), tokens


def route(session, candidate: Candidate, outcome: str, evidence: str) -> tuple[Routing, int]:
    messages = [
        {"role": "system", "content": render_prompt(SYSTEM)},
        {"role": "user", "content": render_prompt(
            "test_analyst.j2", candidate=candidate, outcome=outcome, evidence=evidence)},
    ]
    return ask(session, "test_analyst", messages, Routing)
