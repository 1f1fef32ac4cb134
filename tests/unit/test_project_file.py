"""The project file ``factory.toml`` (factory.core.project): defaults, relative paths, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.core.project import Project, Schedules, Source
from factory.core.resolve import load, resolve
from factory.core.settings import BuildSettings, ExportSettings, ValidateSettings
from flows.deployments import DEPLOYMENTS
from flows.mine import source_location

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- finding and reading the file ---------------------------------------------------------------


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = write(tmp_path / "factory.toml", "")
    project = load(path)
    assert project.path == path.absolute()
    assert project.name == "issue-factory"
    assert (project.db_path, project.home, project.db_lock_wait) == (Project().db_path, Project().home, 1800.0)
    assert project.sources == []
    assert project.build == BuildSettings()
    assert project.validate_ == ValidateSettings()
    assert project.export == ExportSettings()
    assert project.schedules == Schedules()
    assert project.model_dump() == Project().model_dump()  # `path` is excluded from the dump


def test_no_file_in_cwd_gives_defaults_without_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    project = load(None)
    assert project.model_dump() == Project().model_dump()
    assert project.path is None
    assert project.root == tmp_path  # defaults are relative to the working directory


def test_none_picks_factory_toml_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "factory.toml", 'name = "from-cwd"\n')
    monkeypatch.chdir(tmp_path)
    project = load(None)
    assert project.name == "from-cwd"
    assert project.path == tmp_path / "factory.toml"
    assert project.path.is_absolute()


def test_str_path_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "p.toml", 'name = "as-string"\n')
    assert load(str(path)).name == "as-string"


# ---- relative paths ---------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project_dir = tmp_path / "project"
    path = write(
        project_dir / "factory.toml",
        'db = "data/f.duckdb"\n'
        'home = "work"\n'
        "[[sources]]\n"
        'git = "repos/lib"\n'
        "[export]\n"
        'out = "out/dataset.jsonl"\n',
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("FACTORY_DB", raising=False)
    monkeypatch.delenv("FACTORY_HOME", raising=False)

    settings = project = load(path)
    assert settings.db_path == project_dir / "data" / "f.duckdb"
    assert settings.home == project_dir / "work"
    assert project.resolve(project.export.out) == project_dir / "out" / "dataset.jsonl"
    assert project.resolve(Path(project.sources[0].git)) == project_dir / "repos" / "lib"
    # The mine flow hands git this location, not one under the working directory.
    assert source_location(project.sources[0], project) == str(project_dir / "repos" / "lib")


def test_relative_file_argument_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "sub" / "factory.toml", 'db = "f.duckdb"\n')
    monkeypatch.chdir(tmp_path)
    project = load("sub/factory.toml")
    assert project.path == tmp_path / "sub" / "factory.toml"
    monkeypatch.chdir(tmp_path.parent)  # a later chdir (a worker's) changes nothing
    assert project.db_path == tmp_path / "sub" / "f.duckdb"


def test_absolute_paths_and_urls_are_kept(tmp_path: Path) -> None:
    db = tmp_path / "abs" / "x.duckdb"
    path = write(
        tmp_path / "p" / "factory.toml",
        f'db = "{db.as_posix()}"\n[[sources]]\ngit = "https://github.com/pallets/click.git"\n',
    )
    project = load(path)
    assert project.db_path == db
    assert source_location(project.sources[0], project) == "https://github.com/pallets/click.git"


def test_environment_beats_file_and_flags_beat_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """defaults < factory.toml < environment < flags, for every setting, with each value's origin."""
    monkeypatch.setenv("FACTORY_DB", str(tmp_path / "env.duckdb"))
    monkeypatch.setenv("FACTORY_CPUS", "0.5")
    monkeypatch.delenv("FACTORY_RUN_TIMEOUT", raising=False)
    path = write(
        tmp_path / "factory.toml",
        'db = "file.duckdb"\n[build]\nruns_before = 2\nruns_after = 4\nmemory = false\nrun_timeout = 77\ncpus = 2\n',
    )
    settings = load(path)
    assert settings.db_path == tmp_path / "env.duckdb"
    assert (settings.build.runs_before, settings.build.runs_after, settings.build.memory,
            settings.build.run_timeout, settings.build.cpus) == (2, 4, False, 77, 0.5)
    assert settings.origins["db"] == "env FACTORY_DB"
    assert settings.origins["build.cpus"] == "env FACTORY_CPUS"
    assert settings.origins["build.run_timeout"] == "factory.toml"
    assert "build.workers" not in settings.origins  # a default
    flagged = resolve(path, flags={"build.runs_after": 9, "build.cpus": 3.0, "db": str(tmp_path / "flag.duckdb")},
                      flag_names={"build.cpus": "--cpus"})
    assert (flagged.build.runs_after, flagged.build.cpus, flagged.db_path) == (9, 3.0, tmp_path / "flag.duckdb")
    assert flagged.origins["build.cpus"] == "flag --cpus"
    # No db in the file and none in the environment: the built-in default, relative to the working directory.
    monkeypatch.delenv("FACTORY_DB")
    monkeypatch.chdir(tmp_path)
    assert load(write(tmp_path / "bare.toml", "")).db_path == tmp_path / "factory.duckdb"


def test_env_values_are_parsed_like_file_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """FACTORY_CPUS=0.5 is as good as --cpus 0.5 (it used to be an error); a bad value names the variable."""
    for value, expected in (("0.5", 0.5), ("2", 2.0)):
        monkeypatch.setenv("FACTORY_CPUS", value)
        assert resolve(None).build.cpus == expected
    for value, expected in (("0", False), ("no", False), ("false", False), ("1", True)):
        monkeypatch.setenv("FACTORY_EXCLUDE_NEWER", value)
        assert resolve(None).build.exclude_newer is expected
    monkeypatch.setenv("FACTORY_CPUS", "lots")
    with pytest.raises(UserError, match="FACTORY_CPUS='lots'") as caught:
        resolve(None)
    assert "build.cpus" in caught.value.fix
    monkeypatch.setenv("FACTORY_CPUS", "1")
    with pytest.raises(UserError, match=r"--cpus -1\.0"):
        resolve(None, flags={"build.cpus": -1.0})


# ---- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        'git = "https://example.com/a.git"\nexample = "tinyledger"\n',  # both
        'name = "acme/lib"\n',  # neither
    ],
    ids=["both", "neither"],
)
def test_source_needs_exactly_one_kind(tmp_path: Path, source: str) -> None:
    path = write(tmp_path / "factory.toml", '[[sources]]\nexample = "tinyledger"\n\n[[sources]]\n' + source)
    with pytest.raises(UserError) as info:
        load(path)
    assert str(path) in info.value.what
    assert "sources.1" in info.value.what  # the second [[sources]] entry is the bad one
    assert "exactly one of" in info.value.what


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[build]\nwokers = 2\n", "build.wokers"),
        ('nmae = "x"\n', "nmae"),
        ('[schedules]\nbiuld = "* * * * *"\n', "schedules.biuld"),
        ('[[sources]]\nexample = "tinyledger"\nlimt = 3\n', "sources.0.limt"),
    ],
)
def test_unknown_keys_are_named(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "factory.toml", text)
    with pytest.raises(UserError) as info:
        load(path)
    assert info.value.what.startswith(f"{path}: {where}: ")
    assert info.value.fix


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "factory.toml", "[build\nworkers = 2\n")
    with pytest.raises(UserError) as info:
        load(path)
    assert str(path) in info.value.what
    assert "not valid TOML" in info.value.what


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(UserError) as info:
        load(path)
    assert str(path) in info.value.what
    assert "does not exist" in info.value.what


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[build]\nworkers = 0\n", "build.workers"),
        ("[build]\nworkers = 65\n", "build.workers"),
        ("[build]\nruns_after = 0\n", "build.runs_after"),
        ("db_lock_wait = -1\n", "db_lock_wait"),
        ('name = "has space"\n', "name"),
        ('[[sources]]\nexample = "tinyledger"\nlimit = 0\n', "sources.0.limit"),
    ],
)
def test_out_of_range_values(tmp_path: Path, text: str, where: str) -> None:
    path = write(tmp_path / "factory.toml", text)
    with pytest.raises(UserError) as info:
        load(path)
    assert info.value.what.startswith(f"{path}: {where}: ")


# ---- schedules and sources ------------------------------------------------------------------------


def test_validate_alias_in_schedules_and_validate_table(tmp_path: Path) -> None:
    path = write(
        tmp_path / "factory.toml",
        '[validate]\nruns_after = 5\n\n[schedules]\nvalidate = "7 * * * *"\npipeline = "0 3 * * 0"\n',
    )
    project = load(path)
    assert project.validate_.runs_after == 5
    assert project.schedules.validate_ == "7 * * * *"
    crons = project.schedules.crons()
    assert crons == {
        "mine": "0 2 * * *",
        "build": "15 * * * *",
        "validate": "7 * * * *",
        "export": "0 6 * * *",
        "pipeline": "0 3 * * 0",
    }


def test_crons_cover_every_deployment_stage() -> None:
    crons = Schedules().crons()
    assert list(crons) == [spec.stage for spec in DEPLOYMENTS]
    assert crons["pipeline"] is None
    assert all(crons[stage] for stage in ("mine", "build", "validate", "export"))


@pytest.mark.parametrize(
    ("source", "label"),
    [
        (Source(git="https://github.com/pallets/click.git"), "click"),
        (Source(git="https://github.com/pallets/click/"), "click"),
        (Source(git="/srv/repos/lib"), "lib"),
        (Source(example="tinyledger"), "tinyledger"),
        (Source(git="https://github.com/pallets/click.git", name="pallets/click"), "pallets/click"),
        (Source(example="tinyledger", name="demo/ledger"), "demo/ledger"),
    ],
)
def test_source_label(source: Source, label: str) -> None:
    assert source.label == label


def test_source_dates_from_toml(tmp_path: Path) -> None:
    path = write(
        tmp_path / "factory.toml",
        '[[sources]]\ngit = "https://github.com/pallets/click"\nsince = 2024-01-01\nuntil = 2024-06-30T12:00:00Z\n',
    )
    source = load(path).sources[0]
    assert (source.since.year, source.since.month, source.since.day) == (2024, 1, 1)
    assert source.until is not None and source.until.hour == 12


def test_repo_factory_toml_loads_with_default_schedules() -> None:
    project = load(REPO_ROOT / "factory.toml")
    assert project.path == REPO_ROOT / "factory.toml"
    assert project.schedules == Schedules()
    assert [s.label for s in project.sources] == ["tinyledger"]


def test_a_git_source_may_name_its_branch_and_only_a_git_source(tmp_path: Path) -> None:
    path = write(tmp_path / "factory.toml", '[[sources]]\ngit = "repo"\nbranch = "dev"\n')
    assert load(path).sources[0].branch == "dev"
    path = write(tmp_path / "bad.toml", '[[sources]]\ngithub = "acme/lib"\nbranch = "dev"\n')
    with pytest.raises(UserError) as info:
        load(path)
    assert "`branch = ...` is for `git = ...` sources" in info.value.what


def test_the_llm_endpoint_is_a_setting_and_its_key_is_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """FACTORY_LLM_* / OPENAI_* are declared in the one model too: `factory config` says where the model and
    the key came from, and prints the key masked (table and JSON alike)."""
    import json

    from factory.cli.config import rows

    for name in ("FACTORY_LLM_API_KEY", "FACTORY_LLM_BASE_URL", "OPENAI_BASE_URL", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-canary-77")
    monkeypatch.setenv("FACTORY_LLM_MODEL", "qwen")
    settings = resolve(None)
    assert (settings.llm.model, settings.llm.api_key.get_secret_value()) == ("qwen", "sk-canary-77")
    assert settings.origins["llm.api_key"] == "env OPENAI_API_KEY"
    assert settings.origins["llm.model"] == "env FACTORY_LLM_MODEL"
    shown_rows = rows(settings)
    assert "sk-canary-77" not in json.dumps(shown_rows) and "sk-canary-77" not in repr(settings)
    assert next(r for r in shown_rows if r["key"] == "llm.api_key")["value"] == "**********"
