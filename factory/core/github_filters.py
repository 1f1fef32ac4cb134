"""Which merged pull requests the GitHub source keeps: the knobs of ``[github]`` in factory.toml and of
``factory mine --github`` (a module of its own so the project file can use it without importing PyGithub)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class GitHubFilters(BaseModel):
    """Which merged pull requests become candidates (besides resolving an issue and touching tests + code)."""

    model_config = ConfigDict(extra="forbid")

    max_files: int = Field(default=50, ge=1)
    """Pull requests changing more files than this are skipped (huge refactors make poor tasks)."""
    max_lines: int = Field(default=2000, ge=1)
    """... or more added + deleted lines than this."""
    exclude_bots: bool = True
    """Skip pull requests opened by bots (dependabot, renovate, ...)."""
    require_issue_body: bool = True
    """Skip when every resolved issue has an empty body (no problem statement to solve)."""
