"""Small pieces shared by tests that build their own Python repositories."""

from __future__ import annotations

from pathlib import Path

from examples.tinyledger import _Git


def pyproject(name: str) -> str:
    """A minimal src-layout setuptools project with a ``test`` extra (pytest): no runtime dependencies, so
    every repository built from it shares one env image with the others."""
    return f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "0.1.0"
requires-python = ">=3.9"

[project.optional-dependencies]
test = ["pytest>=7"]

[tool.setuptools.packages.find]
where = ["src"]
"""


def new_repo(root: Path, slug: str) -> _Git:
    """An empty git repository at ``root`` on branch ``main`` whose origin names ``slug`` (owner/name), with
    the example's fixed-identity, fixed-clock committer."""
    g = _Git(root)
    root.mkdir(parents=True)
    g("init", "-q", "-b", "main")
    g("remote", "add", "origin", f"https://git.example.com/{slug}.git")
    return g


def build_the_fix(repo: Path, work: Path):
    """Mine ``repo`` (one fix expected) and build it as a first-time user would, heuristics only and no memory
    pool: ``(instance, its environment)``. Needs the Docker engine."""
    from factory.core.settings import BuildSettings, Settings
    from factory.mining.git_source import mine_git
    from factory.pipeline.build import build_pending
    from factory.store import Store

    settings = Settings(db_path=work / "factory.duckdb", home=work / "home", build=BuildSettings(memory=False))
    with Store(settings.db_path) as store:
        mined = mine_git(str(repo), store, settings)
        assert len(mined.added) == 1, mined
        (instance_id,) = mined.added
        build_pending(store, settings, only=[instance_id], llm=None)
        inst = store.instance(instance_id)
        return inst, store.environment(inst.fingerprint)
