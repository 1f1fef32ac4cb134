"""The offline demo: mine the built-in example, build + validate it, export, and check every outcome.

The summary compares what the factory concluded for each commit of the example with what
``examples.tinyledger.EXPECTED`` says it must conclude, so the demo is also an end-to-end check.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from examples import tinyledger
from factory.core.models import outcome_label
from factory.store import Store


@dataclass
class DemoRow:
    subject: str
    sha: str
    instance_id: str
    expected: str
    observed: str
    builder: str = ""
    """Who produced the environment: memory | heuristic | llm:<model> (empty for non-candidates)."""

    @property
    def ok(self) -> bool:
        return self.expected == self.observed


def ensure_example(path: Path) -> Path:
    """Create the example repository at ``path`` unless it is already there (built aside and renamed into
    place, so an interrupted demo never leaves half a repository behind)."""
    if (path / ".git").exists():
        return path
    scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(scratch, ignore_errors=True)
    tinyledger.create(scratch)
    shutil.rmtree(path, ignore_errors=True)
    scratch.rename(path)
    return path


def first_parent_subjects(repo: Path) -> list[tuple[str, str]]:
    out = subprocess.run(
        ["git", "log", "--first-parent", "--reverse", "--format=%H%x00%s", "main"],
        cwd=repo, capture_output=True, text=True, check=True,
    ).stdout
    return [tuple(line.split("\0", 1)) for line in out.splitlines()]  # type: ignore[misc]


def summary(store: Store, repo: Path) -> list[DemoRow]:
    by_commit = {c.fix_commit: c.instance_id for c in store.candidates(tinyledger.SLUG)}
    rows = []
    for sha, subject in first_parent_subjects(repo):
        iid = by_commit.get(sha, "")
        observed, builder = "not a candidate", ""
        if iid:
            inst = store.instance(iid)
            observed, builder = outcome_label(inst.status, inst.reason), inst.builder
        rows.append(DemoRow(subject, sha[:7], iid, tinyledger.EXPECTED.get(subject, "?"), observed, builder))
    return rows
