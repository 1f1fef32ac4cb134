"""An environment recipe: the slots a builder fills, from which templates render Dockerfile and eval script.

Every builder — heuristic rules, the memory pool, an LLM — produces one of these rather than free-form
files, so the invariants live in the templates and cannot be talked away: images start from our base,
source comes from the build context, the eval script applies the test patch itself, writes JUnit and
prints its own ``FACTORY_EXIT_CODE``. The same recipe re-renders for another commit of the repository.
"""

from __future__ import annotations

import hashlib
import json
import re

from pydantic import BaseModel, Field, field_validator

from factory.core.dependency_policy import POLICY
from factory.core.settings import DEBIAN_PYTHONS

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_APT_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")
_LOCAL_PROJECT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*(\[[A-Za-z0-9._,-]+\])?$")


class Recipe(BaseModel):
    python_version: str
    """One of the versions the base images provide (3.9, 3.11, 3.13)."""
    system_packages: list[str] = Field(default_factory=list)
    """Debian packages installed with apt in the env image (e.g. ``libxml2-dev``)."""
    env: dict[str, str] = Field(default_factory=dict)
    """Environment variables set in the env image (build and test time)."""
    install_commands: list[str]
    """Shell commands run from the source root in the env image, in order."""
    installable: bool = True
    """Whether the repository itself is pip-installed (editable) in the instance image."""
    project_name: str = ""
    """The distribution name of the repository itself: uninstalled again at the end of the env image,
    so a shared env image holds no code of the commit that happened to build it."""
    test_command: str = ""
    """Test command; ``{targets}`` and ``{junit}`` are filled in. Empty: pytest over the target tests."""
    pre_test_commands: list[str] = Field(default_factory=list)
    """Commands run in /testbed after the test patch is applied and before the tests."""
    test_env: dict[str, str] = Field(default_factory=dict)
    """Environment variables exported for the test command only."""
    deselect: list[str] = Field(default_factory=list)
    """Node ids left out of every run (``pytest --deselect``): tests that exist before the test patch and fail
    before and after the gold patch in this environment (a network call in the sandbox, say), found by the
    builder; never a test the test patch adds. Specific to one commit: not kept in the memory pool."""
    local_projects: list[str] = Field(default_factory=list)
    """Other projects inside the repository the test configuration installs (``examples/tutorial[test]``),
    as repository-relative paths with optional extras. They are the commit's code, so the instance image
    installs them (editable, after the repository itself, under the env image's dependency policy); one
    missing at a commit is skipped there, so a recipe reused from another commit stays buildable."""
    run_as_root: bool = False
    """Run the tests as root. Default: the unprivileged user ``factory`` (uid 10001), which owns /testbed;
    only a test suite that must write system paths needs root."""

    @field_validator("python_version")
    @classmethod
    def _known_python(cls, value: str) -> str:
        if value not in DEBIAN_PYTHONS:
            raise ValueError(f"python_version must be one of {', '.join(DEBIAN_PYTHONS)}, not {value!r}")
        return value

    @field_validator("local_projects")
    @classmethod
    def _local_paths(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not _LOCAL_PROJECT.match(p) or ".." in p.split("[")[0].split("/")]
        if bad:
            raise ValueError(f"local project(s) must be paths inside the repository: {', '.join(bad)}")
        return value

    @field_validator("env", "test_env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not _ENV_NAME.match(k)]
        if bad:
            raise ValueError(f"invalid environment variable name(s): {', '.join(bad)}")
        return value

    @field_validator("system_packages")
    @classmethod
    def _apt_names(cls, value: list[str]) -> list[str]:
        bad = [p for p in value if not _APT_NAME.match(p)]
        if bad:
            raise ValueError(f"invalid Debian package name(s): {', '.join(bad)}")
        return value

    def env_part(self) -> dict:
        """What decides the env image (the rest only changes the eval script)."""
        return {
            "python": self.python_version,
            "apt": self.system_packages,
            "env": self.env,
            "install": self.install_commands,
        }

    def recipe_id(self) -> str:
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def fingerprint(recipe: Recipe, dependency_files: dict[str, str], exclude_newer: str = "",
                scm_version: str = "") -> str:
    """Candidates with equal fingerprints share one env image: same recipe, same dependency files, same
    resolution cut-off (``exclude_newer``, empty when drift control is off) under the same dependency policy
    (what is exempt from the cut-off, and the test tooling's own cut-off, which follows from the recipe's
    Python and the cut-off), and the same version a git-versioned project is built as (``scm_version``:
    it decides what a dependency on the project itself resolves to)."""
    payload = {**recipe.env_part(), "files": dependency_files}
    if scm_version:
        payload["scm_version"] = scm_version
    if exclude_newer:
        payload["exclude_newer"] = exclude_newer
        payload["policy"] = POLICY
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
