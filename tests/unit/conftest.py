"""Shared helpers for the unit tests: a tiny git driver with a fixed identity and clock."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from factory.core.settings import Settings
from factory.store import Store


class GitRepo:
    """A throw-away work tree; each commit gets the next minute on a fixed clock, so shas are stable."""

    def __init__(self, root: Path, init: bool = True):
        self.root = root
        self.tick = 0
        if init:
            self.root.mkdir(parents=True, exist_ok=True)
            self("init", "-q", "-b", "main")

    def env(self) -> dict[str, str]:
        date = f"2025-01-01T10:{self.tick:02d}:00+00:00"
        return {
            **os.environ,
            "GIT_AUTHOR_NAME": "Test Author",
            "GIT_AUTHOR_EMAIL": "test@example.com",
            "GIT_COMMITTER_NAME": "Test Author",
            "GIT_COMMITTER_EMAIL": "test@example.com",
            "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_DATE": date,
            "GIT_CONFIG_GLOBAL": "/dev/null",
            "GIT_CONFIG_NOSYSTEM": "1",
        }

    def __call__(self, *args: str, input: bytes | None = None) -> bytes:
        out = subprocess.run(
            ["git", *args], cwd=self.root, env=self.env(), input=input, capture_output=True, check=False
        )
        if out.returncode != 0:
            raise AssertionError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
        return out.stdout

    def text(self, *args: str) -> str:
        return self(*args).decode().strip()

    def write(self, files: dict[str, str | bytes | None]) -> None:
        """Write (str or bytes) or delete (None) files, relative to the work tree."""
        for rel, content in files.items():
            path = self.root / rel
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content)

    def commit(self, message: str, files: dict[str, str | bytes | None] | None = None) -> str:
        if files:
            self.write(files)
        self("add", "-A")
        self("commit", "-q", "--allow-empty", "-m", message)
        self.tick += 1
        return self.text("rev-parse", "HEAD")


@pytest.fixture
def make_repo(tmp_path: Path):
    """``make_repo("name")`` -> a fresh :class:`GitRepo` under the test's tmp dir;
    ``make_repo(at=path)`` drives an existing work tree instead."""

    def make(name: str = "repo", *, at: Path | None = None) -> GitRepo:
        return GitRepo(at, init=False) if at is not None else GitRepo(tmp_path / name)

    return make


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with the DB and home in this test's tmp_path."""
    return Settings(db_path=tmp_path / "f.duckdb", home=tmp_path / "home")


@pytest.fixture
def store(settings: Settings):
    with Store(settings.db_path) as s:
        yield s
