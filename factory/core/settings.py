"""Every setting of the factory, in one model: its default, its docstring, its ``factory.toml`` key and
its environment variable are declared once, here.

Why one model: a flow, the CLI, a test and the docs must see the same defaults. Before this model they
were written three times (library settings, the project file's build options, the CLI's help strings)
and disagreed. Now ``--help`` texts, ``factory config``, ``factory.toml`` validation and the env-var
overrides are all read from these fields, so they cannot. Where a value comes from is decided in
``factory/core/resolve.py``: defaults < ``factory.toml`` < environment < command-line flags.

The tables mirror ``factory.toml``: top-level keys, then ``[mine]``, ``[build]``, ``[validate]``,
``[images]``, ``[export]`` and ``[github]``. A field's environment variable (if any) is named in its
``json_schema_extra`` with :func:`env`.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

#: Python versions the offline bootstrap can make, with the Debian release that ships each.
DEBIAN_PYTHONS: dict[str, str] = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}

#: The CPython release date of each version in DEBIAN_PYTHONS (x.y.0): a project cannot have supported an
#: interpreter released after its commit, and dependencies resolved as of that commit may not run on it.
PYTHON_RELEASES: dict[str, date] = {"3.9": date(2020, 10, 5), "3.11": date(2022, 10, 24), "3.13": date(2024, 10, 7)}

#: The host CA bundle Debian ships: the default when no CA variable names another one.
DEBIAN_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def env(*names: str) -> dict[str, Any]:
    """Field metadata: the environment variable(s) that override a setting (the first one set wins)."""
    return {"env": list(names)}


class Section(BaseModel):
    """A table of settings: unknown keys are errors, and attribute docstrings become field descriptions
    (what ``--help``, ``factory config`` and the docs print)."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, populate_by_name=True)


class MineSettings(Section):
    """How ``mine`` works for every source (``[mine]``)."""

    max_diff_bytes: int = Field(default=1_000_000, ge=1, json_schema_extra=env("FACTORY_MAX_DIFF_BYTES"))
    """Skip a fix whose whole diff (patch + test patch, binary hunks included) is longer than this many
    bytes, as diff_too_large."""


class BuildSettings(Section):
    """How ``build`` (and the build step of ``pipeline``) works (``[build]``; the flags of ``factory build``)."""

    workers: int = Field(default=1, ge=1, le=64)
    """Candidates built and validated at once (Docker slots on this engine)."""
    runs_before: int = Field(default=1, ge=1)
    """Runs with the test patch only; all must fail."""
    runs_after: int = Field(default=2, ge=1)
    """Runs with test + gold patch; all must pass, with identical per-test outcomes."""
    run_timeout: int = Field(default=600, ge=1, json_schema_extra=env("FACTORY_RUN_TIMEOUT"))
    """Seconds one test run may take before its container is killed (then error(timeout))."""
    build_timeout: int = Field(default=1800, ge=1)
    """Seconds one image build may take."""
    mem_limit: str = Field(default="2g", pattern=r"^\d+(\.\d+)?[bkmgBKMG]?$",
                           json_schema_extra=env("FACTORY_MEM_LIMIT"))
    """Memory of one test run, Docker syntax (2g, 512m), swap included; beyond it the run ends error(oom)."""
    pids_limit: int = Field(default=512, ge=16, json_schema_extra=env("FACTORY_PIDS_LIMIT"))
    """Processes (threads included) one test run may hold: a fork bomb stops here."""
    cpus: float = Field(default=1.0, gt=0, json_schema_extra=env("FACTORY_CPUS"))
    """CPUs one test run may use, so one run cannot starve the others or the host."""
    memory: bool = True
    """Try proven recipes from the environment memory pool first."""
    exclude_newer: bool = Field(default=True, json_schema_extra=env("FACTORY_EXCLUDE_NEWER"))
    """Resolve the project's dependencies as of the day after the base commit (uv --exclude-newer), so old
    commits get the packages they were tested with (pip and uv are not cut off; setuptools, wheel and pytest
    are never older than the interpreter needs)."""
    llm: bool = False
    """Run LLM rounds after memory and heuristics: only when turned on here (factory.toml [build] llm = true)
    or with --llm, never because a model is set in the environment (a cloud endpoint bills per call); needs
    the [llm] model."""
    replay: bool = False
    """Answer LLM calls from the recorded ledger only (no model needed)."""
    llm_rounds: int = Field(default=3, ge=0)
    """LLM rounds per candidate after memory and heuristics failed."""
    max_llm_calls: int = Field(default=40, ge=0)
    """LLM budget per instance: calls."""
    max_llm_usd: float = Field(default=0.50, ge=0)
    """LLM budget per instance: US dollars."""
    max_llm_seconds: float = Field(default=1800.0, ge=0)
    """LLM budget per instance: wall seconds."""
    infra_retries: int = Field(default=2, ge=0)
    """How often Prefect retries a candidate that ended in an infrastructure error (never a rejection)."""
    retry_delay: float = Field(default=30.0, ge=0)
    """Seconds before the first retry; each further retry waits twice as long."""
    max_image_gb: float | None = Field(default=None, gt=0)
    """After the build, evict our least recently used env/instance images until they fit in this many GB
    (unset: no budget)."""
    max_log_excerpt: int = Field(default=4000, ge=100)
    """Characters of a failing build/run log kept in the DB (the whole log stays on disk)."""


class ValidateSettings(Section):
    """The ``validate`` stage: confirmation runs for instances already found valid (``[validate]``)."""

    runs_before: int = Field(default=1, ge=1)
    """Confirmation runs with the test patch only."""
    runs_after: int = Field(default=2, ge=1)
    """Valid instances with fewer stored after-runs than this are validated again with these counts
    (raise it, e.g. to 5, to confirm every new instance more strictly than the build's quick check)."""


class ImageSettings(Section):
    """Base images: registry, offline bootstrap and the CA bundle baked into them (``[images]``)."""

    default_python: str = "3.11"
    """Preferred Python when a project supports several (the one the host base image usually has)."""
    ca_bundle: str = Field(
        default_factory=lambda: str(DEBIAN_CA_BUNDLE) if DEBIAN_CA_BUNDLE.is_file() else "",
        json_schema_extra=env("FACTORY_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"))
    """Host CA bundle installed into every image, so installs work behind TLS-intercepting proxies."""
    registry_timeout: float = Field(default=8.0, ge=0)
    """Seconds to wait for a registry before images ensure falls back to the offline bootstrap."""
    debian_mirror: str = Field(default="http://deb.debian.org/debian", json_schema_extra=env("FACTORY_DEBIAN_MIRROR"))
    """Debian mirror of the offline bootstrap (debootstrap)."""


class GitHubFilters(Section):
    """Which merged pull requests become candidates (besides resolving an issue and touching tests + code)."""

    max_files: int = Field(default=50, ge=1)
    """Pull requests changing more files than this are skipped (huge refactors make poor tasks)."""
    max_lines: int = Field(default=2000, ge=1)
    """Pull requests changing more added + deleted lines than this are skipped."""
    exclude_bots: bool = True
    """Skip pull requests opened by bots (dependabot, renovate, ...)."""
    require_issue_body: bool = True
    """Skip when every resolved issue has an empty body (no problem statement to solve)."""


class LLMEndpoint(Section):
    """Which OpenAI-compatible model the LLM builder roles call (``[llm]``); each variable falls back to its
    ``OPENAI_*`` twin. The builder calls it only when ``[build] llm`` is on (``factory build --llm``)."""

    model: str | None = Field(default=None, json_schema_extra=env("FACTORY_LLM_MODEL", "OPENAI_MODEL"))
    """Model name the endpoint knows; unset: no LLM (even with --llm, which then stops with the fix)."""
    base_url: str = Field(default="https://api.openai.com/v1",
                          json_schema_extra=env("FACTORY_LLM_BASE_URL", "OPENAI_BASE_URL"))
    """Endpoint root including the API version, e.g. http://localhost:8000/v1 (OpenAI, vLLM, Ollama, llama.cpp)."""
    api_key: SecretStr | None = Field(default=None, json_schema_extra=env("FACTORY_LLM_API_KEY", "OPENAI_API_KEY"))
    """Bearer key; never stored, logged, exported or printed (better in the environment than in a file)."""
    timeout: float = Field(default=120.0, gt=0, json_schema_extra=env("FACTORY_LLM_TIMEOUT"))
    """Seconds one HTTP request may take before it counts as a (retryable) timeout."""
    max_retries: int = Field(default=4, ge=0)
    """Retries after the first try on 429, 5xx, timeouts and connection errors."""
    backoff_seconds: float = Field(default=1.0, ge=0)
    """First retry delay; doubles per retry (capped at 60 s) unless the server sends Retry-After."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature; 0 keeps runs as repeatable as the server allows."""
    max_tokens: int = Field(default=4096, ge=1)
    """Upper bound on completion tokens per call."""
    native_tools: bool = Field(default=False, json_schema_extra=env("FACTORY_LLM_NATIVE_TOOLS"))
    """Use native tool calls; off = text actions, which work on every server."""
    prices: dict[str, dict[str, float]] = Field(default_factory=dict, json_schema_extra=env("FACTORY_LLM_PRICES"))
    """USD per million tokens by model, merged over the built-in table: {"my-model": {"input_per_mtok": 0.2,
    "output_per_mtok": 0.8}} (in the environment: that JSON). Unknown models cost $0; tokens are still counted."""


class ExportSettings(Section):
    """The export stage (``[export]``)."""

    out: Path = Path("dataset.jsonl")
    """Where the export flow writes the dataset (in factory.toml: relative to the file)."""
    format: Literal["jsonl", "parquet", "hf"] = "jsonl"
    """`jsonl` (SWE-bench rows, one per line), `parquet` (one file, explicit types) or `hf` (a directory
    `datasets.load_dataset(DIR, split="test")` and mini-swe-agent's `--subset` load); types in docs/dataset.md."""
    include_all: bool = False
    """Also write every instance, rejected and failed too, to a separate NAME.all-instances.jsonl next to the
    dataset, for analysis (the dataset itself holds valid instances only)."""


class Settings(Section):
    """Every setting of a factory run; :class:`factory.core.project.Project` adds what to work on."""

    db_path: Path = Field(default=Path("factory.duckdb"), alias="db", validate_default=True,
                          json_schema_extra=env("FACTORY_DB"))
    """The DuckDB file holding every record (in factory.toml: relative to the file)."""
    home: Path = Field(default=Path(".factory"), validate_default=True, json_schema_extra=env("FACTORY_HOME"))
    """Work directory: repo mirrors, build contexts and run logs (in factory.toml: relative to the file)."""
    db_lock_wait: float = Field(default=1800.0, ge=0)
    """Seconds a scheduled flow waits for the DuckDB file while another factory process holds it."""
    mine: MineSettings = Field(default_factory=MineSettings)
    build: BuildSettings = Field(default_factory=BuildSettings)
    validate_: ValidateSettings = Field(default_factory=ValidateSettings, alias="validate")
    images: ImageSettings = Field(default_factory=ImageSettings)
    llm: LLMEndpoint = Field(default_factory=LLMEndpoint)
    export: ExportSettings = Field(default_factory=ExportSettings)
    github: GitHubFilters = Field(default_factory=GitHubFilters)
    """Filters for github = ... sources (max_files, max_lines, exclude_bots, require_issue_body)."""

    @field_validator("home", "db_path")
    @classmethod
    def _absolute(cls, path: Path) -> Path:
        """Absolute paths: git and Docker run in other working directories than ours."""
        return Path(path).expanduser().absolute()

    @property
    def mirrors_dir(self) -> Path:
        return self.home / "mirrors"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def contexts_dir(self) -> Path:
        return self.home / "contexts"

    def confirming(self) -> Settings:
        """These settings with the ``[validate]`` run counts in place of the build's (the validate stage)."""
        runs = {"runs_before": self.validate_.runs_before, "runs_after": self.validate_.runs_after}
        return self.model_copy(update={"build": self.build.model_copy(update=runs)})
