"""The project file ``factory.toml``: which sources to mine, where the store lives, how and when to run.

Why a file: a factory that runs every night needs one place that says *what* it works on; the Prefect
deployments (``factory serve`` / ``factory deploy``) pass its path to every flow run, and the flows read
it at run time, so adding a source takes effect at the next scheduled run without redeploying.
Relative paths in the file are relative to the file itself, not to wherever a worker happens to start.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from factory.core.errors import UserError
from factory.core.settings import Settings

DEFAULT_FILE = "factory.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    """One repository to mine: a git URL/path, or a built-in example (offline demos and tests)."""

    git: str | None = None
    """Clone URL or local path of a git repository."""
    github: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    """``owner/repo`` on GitHub (``GITHUB_TOKEN`` / ``GITHUB_API_URL`` from the environment)."""
    example: str | None = None
    """Name of a built-in example (``tinyledger``), created under the home directory on first use."""
    name: str | None = None
    """``owner/name`` used in instance ids (default: from the remote URL, or the example's own)."""
    since: datetime | None = None
    """Only fixes committed on/after this date."""
    until: datetime | None = None
    """Only fixes committed before this date."""
    limit: int | None = Field(default=None, ge=1)
    """Stop after this many new candidates per run."""
    branch: str | None = None
    """``git`` sources: the branch to mine (default: the one HEAD names, else main/master)."""

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        if sum(v is not None for v in (self.git, self.github, self.example)) != 1:
            raise ValueError("a source needs exactly one of `git = ...`, `github = ...` or `example = ...`")
        if self.branch is not None and self.git is None:
            raise ValueError("`branch = ...` is for `git = ...` sources (GitHub mines merged pull requests)")
        return self

    @property
    def label(self) -> str:
        """Short name for logs and Prefect task run names."""
        return self.name or self.github or self.example or (
            (self.git or "").rstrip("/").removesuffix(".git").rsplit("/", 1)[-1])


class Schedules(_Strict):
    """Cron schedules of the deployments ``factory serve`` / ``factory deploy`` register."""

    mine: str = "0 2 * * *"
    """Nightly: mine new merged fixes from every source."""
    build: str = "15 * * * *"
    """Hourly: build + validate what is pending."""
    validate_: str = Field(default="45 * * * *", alias="validate")
    """Hourly: confirmation runs for new valid instances."""
    export: str = "0 6 * * *"
    """Daily: write a fresh dataset."""
    pipeline: str | None = None
    """Optional: the whole chain on one schedule (off by default; the stage schedules cover it)."""
    timezone: str = "UTC"

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def crons(self) -> dict[str, str | None]:
        return {"mine": self.mine, "build": self.build, "validate": self.validate_, "export": self.export,
                "pipeline": self.pipeline}


class Project(Settings):
    """Everything ``factory.toml`` says: every setting (:class:`Settings`), plus what to work on and when.
    Every field has a default, so an empty file is valid."""

    name: str = Field(default="issue-factory", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Deployment name in Prefect (build/<name>): give each project or shard its own."""
    sources: list[Source] = Field(default_factory=list)
    """The repositories to mine."""
    schedules: Schedules = Field(default_factory=Schedules)
    """Cron schedules of the deployments."""
    path: Path | None = Field(default=None, exclude=True)
    """The file this was read from (None: defaults, relative to the working directory)."""
    origins: dict[str, str] = Field(default_factory=dict, exclude=True)
    """Where each setting that is not a default came from (dotted key: "factory.toml", "env X", "flag --x")."""

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, path: Path) -> Path:
        return (self.root / path.expanduser()).absolute()


def read_file(path: Path) -> dict:
    """The TOML table of the project file ``path``, with an error that names the file and the fix."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"project file {path} does not exist", "pass --config with an existing factory.toml") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read project file {path}: {exc}", "check the file's permissions and encoding") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}", "fix the line it names (see factory.toml in the "
                        "issue-factory repository for an example)") from exc
