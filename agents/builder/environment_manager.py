"""Environment manager role, heuristic implementation: write the env and instance Dockerfiles.

Both come from templates in ``docker_templates/``. Image tags are content hashes of what builds them,
so an unchanged recipe is reused as is and a changed one gets a new image.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from agents.builder.explorer import SetupFacts
from factory.docker.base_images import base_tag
from factory.models import Candidate
from factory.templates import render


@dataclass
class EnvRecipe:
    fingerprint: str
    base_image: str
    dockerfile: str
    image_tag: str


@dataclass
class InstanceRecipe:
    dockerfile: str
    image_tag: str


def _sep(run: re.Match[str]) -> str:
    """Docker allows ``.``, ``_``, ``__`` or dashes between alphanumerics; any other run becomes ``-``."""
    return run.group() if re.fullmatch(r"[._]|__|-+", run.group()) else "-"


def _image_name(kind: str, repo: str) -> str:
    parts = [re.sub(r"[^a-z0-9._-]+", "-", p) for p in repo.lower().split("/")]
    parts = [re.sub(r"[._-]+", _sep, p).strip("._-") for p in parts]
    slug = "__".join(p for p in parts if p) or "repo"
    return f"issue-factory/{kind}.{slug}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def write_env_recipe(candidate: Candidate, facts: SetupFacts) -> EnvRecipe:
    fingerprint = facts.fingerprint()
    base = base_tag(facts.python_version)
    dockerfile = render(
        "env.Dockerfile.j2",
        repo=candidate.repo,
        python_version=facts.python_version,
        source_commit=candidate.base_commit,
        fingerprint=fingerprint,
        base_image=base,
        install_commands=facts.install_commands,
    )
    # The tag hashes the recipe minus its comment lines (which name the commit that happened to build it).
    recipe = "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    tag = f"{_image_name('env', candidate.repo)}:{_digest(fingerprint, recipe)[:20]}"
    return EnvRecipe(fingerprint, base, dockerfile, tag)


def write_instance_recipe(candidate: Candidate, facts: SetupFacts, env_image: str) -> InstanceRecipe:
    dockerfile = render(
        "instance.Dockerfile.j2",
        repo=candidate.repo,
        base_commit=candidate.base_commit,
        env_image=env_image,
        installable=facts.installable,
    )
    tag = f"{_image_name('instance', candidate.repo)}:{_digest(dockerfile)[:20]}"
    return InstanceRecipe(dockerfile, tag)
