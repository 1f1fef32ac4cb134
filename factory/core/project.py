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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factory.core.errors import UserError
from factory.core.github_filters import GitHubFilters
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


class MineOptions(_Strict):
    """How ``mine`` works for every source (``[mine]``; ``factory mine --max-diff-bytes`` overrides it)."""

    max_diff_bytes: int | None = Field(default=None, ge=1)
    """Skip fixes whose diff is longer than this many bytes (``diff_too_large``); unset:
    ``FACTORY_MAX_DIFF_BYTES`` or 1,000,000."""


class BuildOptions(_Strict):
    """How ``build`` (and the build step of ``pipeline``) works; the CLI flags of ``factory build``."""

    workers: int = Field(default=1, ge=1, le=64)
    """Candidates built and validated at once (Docker slots on this engine)."""
    runs_before: int = Field(default=1, ge=1)
    """Runs with the test patch only; all must fail."""
    runs_after: int = Field(default=2, ge=1)
    """Runs with test + gold patch; all must pass identically."""
    run_timeout: int | None = Field(default=None, ge=1)
    """Seconds per test run before the container is killed (default: ``FACTORY_RUN_TIMEOUT`` or 600)."""
    memory: bool = True
    """Try proven recipes from the environment memory pool first."""
    exclude_newer: bool = True
    """Resolve dependencies as of the base commit's month."""
    llm: bool = True
    """Use the LLM builder when ``FACTORY_LLM_MODEL`` (or ``OPENAI_*``) is configured."""
    replay: bool = False
    """Answer LLM calls from the recorded ledger only (no model needed)."""
    llm_rounds: int = Field(default=3, ge=0)
    """LLM rounds per candidate after memory and heuristics."""
    max_llm_calls: int = 40
    max_llm_usd: float = 0.50
    max_llm_seconds: float = 1800.0
    infra_retries: int = Field(default=2, ge=0)
    """How often Prefect retries a candidate that ended in an infrastructure error (never a rejection)."""
    retry_delay: float = Field(default=30.0, ge=0)
    """Seconds before the first retry; each further retry waits twice as long."""
    mem_limit: str | None = None
    """Memory of one test run, Docker syntax (``2g``, ``512m``); beyond it the run ends ``error(oom)``
    (default: ``FACTORY_MEM_LIMIT`` or 2g)."""
    pids_limit: int | None = Field(default=None, ge=16)
    """Processes one test run may hold (a fork bomb stops here; default: ``FACTORY_PIDS_LIMIT`` or 512)."""
    cpus: float | None = Field(default=None, gt=0)
    """CPUs one test run may use (default: ``FACTORY_CPUS`` or 1)."""
    max_image_gb: float | None = Field(default=None, gt=0)
    """After the build, evict our least recently used env/instance images until they fit in this many GB
    (what ``factory clean --max-image-gb`` does); unset: no budget."""

    def sandbox_settings(self) -> dict:
        """The Settings overrides these options make (only the ones that are set)."""
        return {k: v for k, v in {"run_timeout": self.run_timeout, "mem_limit": self.mem_limit,
                                  "pids_limit": self.pids_limit, "cpus": self.cpus}.items() if v is not None}


class ValidateOptions(_Strict):
    """The ``validate`` stage: confirmation runs for instances already found valid."""

    runs_before: int = Field(default=1, ge=1)
    runs_after: int = Field(default=2, ge=1)
    """Valid instances with fewer stored after-runs than this are validated again with these counts
    (raise it, e.g. to 5, to confirm every new instance more strictly than the build's quick check)."""


class ExportOptions(_Strict):
    out: Path = Path("dataset.jsonl")
    """Where the export flow writes the dataset (relative to this file)."""
    include_all: bool = False
    """Also export rejected / failed instances (for analysis, not training)."""


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


class Project(_Strict):
    """Everything ``factory.toml`` says; every field has a default, so an empty file is valid."""

    name: str = Field(default="issue-factory", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    """Deployment name in Prefect (``build/<name>``): give each project or shard its own."""
    db: Path | None = None
    """The DuckDB file (relative to this file); unset: ``FACTORY_DB`` or ``./factory.duckdb``."""
    home: Path | None = None
    """Mirrors, build contexts and logs (relative to this file); unset: ``FACTORY_HOME`` or ``./.factory``."""
    db_lock_wait: float = Field(default=1800.0, ge=0)
    """Seconds a scheduled flow waits for the DuckDB file while another factory process holds it."""
    sources: list[Source] = Field(default_factory=list)
    github: GitHubFilters = Field(default_factory=GitHubFilters)
    """Filters for ``github = ...`` sources (max_files, max_lines, exclude_bots, require_issue_body)."""
    mine: MineOptions = Field(default_factory=MineOptions)
    build: BuildOptions = Field(default_factory=BuildOptions)
    validate_: ValidateOptions = Field(default_factory=ValidateOptions, alias="validate")
    export: ExportOptions = Field(default_factory=ExportOptions)
    schedules: Schedules = Field(default_factory=Schedules)
    path: Path | None = Field(default=None, exclude=True)
    """The file this was read from (None: defaults, relative to the working directory)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @property
    def root(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def resolve(self, path: Path) -> Path:
        return (self.root / path.expanduser()).absolute()

    def settings(self, **overrides: object) -> Settings:
        """Library settings for a stage: the file's store and home, the build options, then overrides."""
        values: dict[str, object] = {
            "runs_before": self.build.runs_before, "runs_after": self.build.runs_after,
            "use_memory": self.build.memory, "exclude_newer": self.build.exclude_newer,
            "llm_rounds": self.build.llm_rounds,
        }
        if self.db is not None:
            values["db_path"] = self.resolve(self.db)
        if self.home is not None:
            values["home"] = self.resolve(self.home)
        if self.build.run_timeout:
            values["run_timeout"] = self.build.run_timeout
        if self.mine.max_diff_bytes:
            values["max_diff_bytes"] = self.mine.max_diff_bytes
        values.update(overrides)
        return Settings(**values)


def load(path: Path | str | None = None) -> Project:
    """Read ``path`` (or ``./factory.toml`` when it exists, else the defaults) with clear errors."""
    if path is None:
        default = Path(DEFAULT_FILE)
        if not default.is_file():
            return Project()
        path = default
    path = Path(path).expanduser().absolute()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"project file {path} does not exist", "pass --config with an existing factory.toml") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read project file {path}: {exc}", "check the file's permissions and encoding") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path} is not valid TOML: {exc}", "fix the line it names (see factory.toml in the "
                        "issue-factory repository for an example)") from exc
    try:
        project = Project.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UserError(f"{path}: {where}: {first['msg']}",
                        "fix that setting; every key is documented in docs/scaling.md and the sample factory.toml"
                        ) from exc
    project.path = path
    return project
