"""Relative --db / --home and build-context paths must work: git and Docker run elsewhere."""

from __future__ import annotations

import tarfile
from pathlib import Path

from examples import tinyledger
from factory.core.settings import Settings
from factory.mining.mirror import Snapshot, open_mirror


def test_settings_make_paths_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings(db_path="rel/f.duckdb", home=".factory")
    assert settings.db_path == tmp_path / "rel" / "f.duckdb"
    assert settings.home == tmp_path / ".factory"
    assert settings.mirrors_dir.is_absolute()


def test_snapshot_writes_to_relative_destinations(tmp_path: Path, monkeypatch) -> None:
    repo = tinyledger.create(tmp_path / "repo")
    monkeypatch.chdir(tmp_path)
    mirror = open_mirror("repo", Path("mirrors"))
    head = mirror.repo.git.rev_parse("refs/heads/main")
    snapshot = Snapshot(mirror, head)
    tar_path = snapshot.archive(Path("ctx/source.tar"))
    assert (tmp_path / "ctx" / "source.tar").is_file() and tar_path.is_absolute()
    with tarfile.open(tar_path) as tar:
        assert "pyproject.toml" in tar.getnames()
    snapshot.bundle(Path("ctx/repo.bundle"))
    assert (tmp_path / "ctx" / "repo.bundle").stat().st_size > 0
    assert mirror.source == str(repo.resolve())
