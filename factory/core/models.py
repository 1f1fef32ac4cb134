"""Records that flow between the stages; one pydantic model per DuckDB table.

Field docstrings are the data dictionary: they say what a value means, so the store, the exporter and
users reading the DB agree on it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class Status(StrEnum):
    """Instance lifecycle (DESIGN §1). Transitions only move forward unless the user asks for a rebuild."""

    MINED = "mined"
    BUILDING = "building"
    BUILT = "built"
    BUILD_FAILED = "build_failed"
    VALIDATING = "validating"
    VALID = "valid"
    REJECTED = "rejected"
    ERROR = "error"


#: Statuses a crashed process may leave behind; they are redone on the next run.
IN_FLIGHT = (Status.BUILDING, Status.VALIDATING)
#: Statuses that need no more work (``factory build`` skips them).
FINAL = (Status.VALID, Status.REJECTED, Status.BUILD_FAILED, Status.ERROR)



def outcome_label(status: Status, reason: str) -> str:
    """How an outcome reads everywhere (CLI, logs, flow results): ``valid``, ``rejected(flaky)``, ``error(oom)``."""
    if status in (Status.REJECTED, Status.ERROR):
        return f"{status.value}({reason})"
    return status.value

class Rejection(StrEnum):
    """Closed set of reasons why a built candidate is not a valid instance. Never retried."""

    FAIL2FAIL = "fail2fail"
    PASS2PASS = "pass2pass"
    PASS2FAIL = "pass2fail"
    ERROR2PASS = "error2pass"
    FLAKY = "flaky"
    NO_TESTS_RAN = "no_tests_ran"
    TEST_PATCH_FAILED = "test_patch_failed"
    GOLD_PATCH_FAILED = "gold_patch_failed"


class BuildFailure(StrEnum):
    """Closed set of reasons why no environment could judge a candidate (status ``build_failed``)."""

    ENV_BUILD = "env_build"
    """The env image did not build (a dependency failed to install, say)."""
    INSTANCE_BUILD = "instance_build"
    """The instance image did not build."""
    ENV_BROKEN = "env_broken"
    """Every recipe tried built, but its runs show the environment broken (the suite could not start, or every
    failure is a third-party import): the verdict would be the environment's, so it is no rejection."""
    ENV_INCOMPLETE = "env_incomplete"
    """The suite was written with what nothing here can fetch — URLs its test configuration installs (pallets/flask
    2021: werkzeug's master archive from GitHub), git submodules (tomlkit's toml-test): a failing verdict from
    the environment without them is no rejection."""


class InfraError(StrEnum):
    """Infrastructure failures: not the candidate's fault, so a later run retries them."""

    TIMEOUT = "timeout"
    DOCKER = "docker"
    OOM = "oom"
    MARKER_MISSING = "marker_missing"
    INTERNAL = "internal"
    """A bug on our side for one candidate (e.g. an eval script of an older grading contract)."""


class TestOutcome(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    SKIPPED = "skipped"


class Candidate(BaseModel):
    """A mined fix: SWE-bench instance fields plus where it came from."""

    instance_id: str
    """``owner__repo-<PR or issue number or short sha>``; unique in the store."""
    repo: str
    """``owner/name``."""
    base_commit: str
    """Full sha the fix applies to (first parent of the fix commit)."""
    fix_commit: str
    """Full sha of the first-parent commit (or merge commit) that holds the fix."""
    patch: str
    """Gold patch: the non-test part of the fix, ``git diff --binary`` format."""
    test_patch: str
    """Test part of the fix (files matched by the test-path rules, new files included)."""
    problem_statement: str
    hints_text: str = ""
    created_at: datetime
    """Commit (or merge) time of the fix."""
    version: str = ""
    """Nearest ``X.Y`` tag reachable from base_commit, empty when the repo has no tags."""
    source: str
    """Where it was mined from: ``git:<path or url>`` or ``github:<owner/repo>``."""
    language: str = "python"
    issue_numbers: list[str] = Field(default_factory=list)
    """Every referenced issue, ``N`` for this repo and ``owner/repo#N`` for others, in text order."""
    pull_number: int | None = None
    test_files: list[str] = Field(default_factory=list)
    """Files touched or added by test_patch: the target tests."""


class Environment(BaseModel):
    """A recipe that builds an env image, keyed by its dependency fingerprint."""

    fingerprint: str
    """Hash of everything that decides the installed dependencies (python version, install commands,
    dependency-file contents). Candidates with the same fingerprint share the env image."""
    repo: str
    language: str = "python"
    python_version: str
    python_reason: str
    """Why the explorer chose this Python version (kept so a surprising choice can be audited)."""
    base_image: str
    install_commands: list[str]
    dockerfile: str
    image_tag: str
    image_id: str = ""
    status: str = "pending"
    """``pending`` | ``built`` | ``failed``."""
    error: str = ""
    """Why the build failed: the tail of the build log (the pip error, say)."""
    log_path: str = ""
    builder: str = "heuristic"
    seconds: float = 0.0
    source_commit: str = ""
    """Commit whose dependency files built this env."""


class Attempt(BaseModel):
    """One builder action (a role doing one thing) and what came of it."""

    instance_id: str
    role: str
    """explorer | environment_manager | test_manager | test_analyst."""
    action: str
    outcome: str
    detail: str = ""
    log_path: str = ""
    tokens: int = 0
    seconds: float = 0.0


class Validation(BaseModel):
    """One container run of the eval script."""

    instance_id: str
    phase: str
    """``before`` (test_patch only) or ``after`` (test_patch + gold patch)."""
    run_index: int
    exit_code: int | None
    """Value of the last ``FACTORY_EXIT_CODE`` marker; None when missing."""
    verdict: str
    """``pass`` | ``fail`` | ``error`` (after the JUnit cross-check)."""
    infra_error: str = ""
    patch_error: str = ""
    """Which patch failed to apply (``test_patch`` | ``gold_patch``), empty if all applied."""
    tests: dict[str, str] = Field(default_factory=dict)
    """Per-test outcome, test id -> passed|failed|error|skipped."""
    seconds: float = 0.0
    timed_out: bool = False
    log_path: str = ""
    log_sha256: str = ""


class Instance(BaseModel):
    """The verdict on a candidate: one row per candidate, status moves forward only."""

    instance_id: str
    status: Status = Status.MINED
    reason: str = ""
    """Rejection or infra-error reason (closed enums above), or why the build failed."""
    fingerprint: str = ""
    image: str = ""
    image_id: str = ""
    """The engine's ID of ``image`` when it was validated (``sha256:`` of its config; empty in stores built before
    it was recorded): exports pin it as ``image_digest``, ``factory images save`` checks against it."""
    eval_script: str = ""
    fail_to_pass: list[str] = Field(default_factory=list)
    pass_to_pass: list[str] = Field(default_factory=list)
    flaky_tests: list[str] = Field(default_factory=list)
    unstable_tests: list[str] = Field(default_factory=list)
    """Test ids present in some but not all identical runs (e.g. parametrized with the current time): not an
    outcome change, so not flaky, but left out of FAIL_TO_PASS / PASS_TO_PASS."""
    detail: str = ""
    """Human explanation of the verdict (kept short)."""
    builder: str = ""
    """Who produced the environment: ``memory`` | ``heuristic`` | ``llm:<model>``."""
    updated_at: datetime | None = None
