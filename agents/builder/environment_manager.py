"""Environment manager role: turn a recipe into the env and instance Dockerfiles.

Whoever filled the recipe (rules, memory, an LLM), the Dockerfiles come from the templates in
``docker_templates/``: they start from our base image and take source from the build context only.
Image tags are content hashes of what builds them, so an unchanged recipe is reused as is; image names
come from ``factory.docker.names`` (registry-safe).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from packaging.version import InvalidVersion, Version

from factory.core.dependency_policy import EDITABLE_BACKENDS, editable_setuptools, exclude_newer_date, uv_config
from factory.core.models import Candidate
from factory.core.recipe import Recipe
from factory.core.templates import render
from factory.docker.base_images import base_tag
from factory.docker.names import image_name
from factory.grading.contract import TESTER

_PIP_INSTALL = re.compile(r"(^|&&\s*|\|\|\s*|;\s*)(?:python3? -m )?pip3? install\b")


@dataclass
class EnvPlan:
    fingerprint: str
    base_image: str
    dockerfile: str
    image_tag: str


@dataclass
class InstancePlan:
    dockerfile: str
    image_tag: str
    env_image: str = ""
    """The env image it is built FROM (labelled on the instance image, so cleanup evicts children first)."""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def under_drift_control(command: str) -> str:
    """Every ``pip install …`` of a command (``&&`` / ``||`` / ``;`` chains too) run by ``uv pip install …``, so the
    dependency policy (``factory.core.dependency_policy``) applies to it."""
    return _PIP_INSTALL.sub(r"\1uv pip install", command.strip())


def scm_version(version: str) -> str:
    """The version a git-versioned project reports when built from a source copy: the candidate's release
    line (its nearest tag, ``8.2``) when it is a PEP 440 version, else ``0.0.0``."""
    try:
        return str(Version(version)) if version else "0.0.0"
    except InvalidVersion:
        return "0.0.0"


def plan_env(
    candidate: Candidate, recipe: Recipe, fingerprint: str, exclude_newer: datetime | None = None,
    base_id: str = "",
) -> EnvPlan:
    """``base_id`` (the base image's id) is part of the tag: a rebuilt base means new env images."""
    base = base_tag(recipe.python_version)
    cutoff = exclude_newer_date(exclude_newer) if exclude_newer else ""
    commands = [under_drift_control(c) for c in recipe.install_commands] if cutoff else recipe.install_commands
    dockerfile = render(
        "env.Dockerfile.j2",
        repo=candidate.repo,
        python_version=recipe.python_version,
        source_commit=candidate.base_commit,
        fingerprint=fingerprint,
        base_image=base,
        system_packages=recipe.system_packages,
        env=recipe.env,
        exclude_newer=cutoff,
        uv_config=uv_config(recipe.python_version, cutoff) if cutoff else [],
        editable_setuptools=editable_setuptools(recipe.python_version, cutoff) if cutoff else "",
        install_commands=commands,
        project_name=recipe.project_name,
        scm_version=scm_version(candidate.version),
    )
    # The tag hashes the recipe minus its comment lines (which name the commit that happened to build it).
    body = "\n".join(line for line in dockerfile.splitlines() if not line.startswith("#"))
    tag = f"{image_name('env', candidate.repo)}:{_digest(fingerprint, body, base_id)[:20]}"
    return EnvPlan(fingerprint, base, dockerfile, tag)


def plan_instance(candidate: Candidate, recipe: Recipe, env_image: str) -> InstancePlan:
    dockerfile = render(
        "instance.Dockerfile.j2",
        repo=candidate.repo,
        base_commit=candidate.base_commit,
        env_image=env_image,
        installable=recipe.installable,
        run_as_root=recipe.run_as_root,
        tester=TESTER,
        editable_backends=EDITABLE_BACKENDS,
        local_projects=[{"path": p.split("[")[0].rstrip("/"), "spec": p} for p in recipe.local_projects],
    )
    tag = f"{image_name('instance', candidate.repo)}:{_digest(dockerfile)[:20]}"
    return InstancePlan(dockerfile, tag, env_image)
