"""Settings shared by every stage, read once from the environment (``FACTORY_*``) and CLI flags.

One pydantic model so that a flow, the CLI and a test all see the same defaults, each documented.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

#: Python versions the offline bootstrap can make, with the Debian release that ships each.
DEBIAN_PYTHONS: dict[str, str] = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}


def _default_ca_bundle() -> str:
    for var in ("FACTORY_CA_BUNDLE", "SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"):
        value = os.environ.get(var)
        if value and Path(value).is_file():
            return value
    fallback = Path("/etc/ssl/certs/ca-certificates.crt")
    return str(fallback) if fallback.is_file() else ""


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as exc:
        from factory.core.errors import UserError

        raise UserError(f"{name}={value!r} is not a whole number", f"set {name} to e.g. {default}") from exc


class Settings(BaseModel):
    db_path: Path = Field(default_factory=lambda: Path(os.environ.get("FACTORY_DB", "factory.duckdb")))
    """The DuckDB file holding every record (``--db`` / ``FACTORY_DB``)."""
    home: Path = Field(default_factory=lambda: Path(os.environ.get("FACTORY_HOME", ".factory")))
    """Work directory: repo mirrors, build contexts and run logs (``FACTORY_HOME``)."""
    runs_before: int = 1
    """Runs of the eval script with the test patch only; all must fail."""
    runs_after: int = 2
    """Runs with test patch + gold patch; all must pass, with identical per-test outcomes."""
    run_timeout: int = Field(default_factory=lambda: _int_env("FACTORY_RUN_TIMEOUT", 600))
    """Seconds one test run may take before its container is killed (→ ``error(timeout)``)."""
    build_timeout: int = 1800
    mem_limit: str = Field(default_factory=lambda: os.environ.get("FACTORY_MEM_LIMIT", "2g"))
    """Memory limit of a test container (swap included); beyond it the run ends as ``error(oom)``."""
    pids_limit: int = Field(default_factory=lambda: _int_env("FACTORY_PIDS_LIMIT", 512))
    """Processes (threads included) a test container may hold: a fork bomb stops here."""
    cpus: float = Field(default_factory=lambda: float(_int_env("FACTORY_CPUS", 1)))
    """CPUs a test container may use, so one run cannot starve the others or the host."""
    ca_bundle: str = Field(default_factory=_default_ca_bundle)
    """Host CA bundle installed into every image so installs work behind TLS-intercepting proxies."""
    registry_timeout: float = 8.0
    """Seconds to wait for a registry before ``images ensure`` falls back to the offline bootstrap."""
    debian_mirror: str = Field(
        default_factory=lambda: os.environ.get("FACTORY_DEBIAN_MIRROR", "http://deb.debian.org/debian")
    )
    default_python: str = "3.11"
    """Preferred Python when a project supports several (the one the host base image usually has)."""
    exclude_newer: bool = Field(
        default_factory=lambda: os.environ.get("FACTORY_EXCLUDE_NEWER", "1").lower() not in ("0", "false", "no")
    )
    """Resolve dependencies as of the base commit's month (uv ``--exclude-newer``), so old commits get
    the packages they were tested with (``--no-exclude-newer`` / ``FACTORY_EXCLUDE_NEWER=0`` to disable)."""
    use_memory: bool = True
    """Try proven recipes from the environment memory pool first (``--no-memory`` to disable)."""
    llm_rounds: int = 3
    """LLM rounds per candidate after memory and heuristics failed (when a model is configured)."""
    max_diff_bytes: int = Field(default_factory=lambda: _int_env("FACTORY_MAX_DIFF_BYTES", 1_000_000), ge=1)
    """Mining skips a fix whose whole diff (patch + test patch, binary hunks included) is longer than this
    many bytes, as ``diff_too_large`` (``factory mine --max-diff-bytes``, ``[mine] max_diff_bytes``)."""
    max_log_excerpt: int = 4000
    """Characters of a failing build/run log kept in the DB (the whole log stays on disk)."""

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
