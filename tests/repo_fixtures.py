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
