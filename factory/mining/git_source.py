"""Mine candidates from any git repository: first-parent history of the default branch.

A first-parent commit is one unit of change: a merge commit ("Merge pull request #N …") counts as the
whole pull request (diff against its first parent), a plain or squashed commit as itself. A unit is a
candidate when it touches at least one test file and one non-test source file (split rules in
``split.py``) and nothing in it makes a task the factory cannot reproduce or store faithfully: a diff
over ``max_diff_bytes``, a diff that is not UTF-8 text, a file name that is not UTF-8, a submodule
change. Each rejection is a named skip reason. Re-mining skips fix commits the store already has, so it
only adds what is new.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import git

from factory.core.errors import UserError
from factory.core.models import Candidate
from factory.core.settings import Settings
from factory.mining.mirror import Mirror, open_mirror, redact
from factory.mining.refs import parse_references
from factory.mining.split import SplitDiff, split_diff
from factory.mining.text import commit_message, utf8_text
from factory.store import Store

_VERSION = re.compile(r"(\d+\.\d+)")
_MERGE_SUBJECT = re.compile(r"^Merge (pull request|branch|remote-tracking branch)\b", re.I)


@dataclass
class MineReport:
    repo: str
    scanned: int = 0
    added: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    """Why scanned commits are not candidates (``no_test_change``, ``no_source_change``, …)."""
    already_known: int = 0
    branch: str = ""
    """The branch whose first-parent history was scanned (empty for an empty repository)."""


class NotACandidate(Exception):
    """A fix the factory cannot use, with its skip reason (``diff_too_large``, ``non_utf8_diff``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _problem_statement(repo: git.Repo, commit: git.Commit) -> str:
    message = message_of(commit).strip()
    lines = message.splitlines()
    if len(commit.parents) > 1 and lines and _MERGE_SUBJECT.match(lines[0]):
        body = "\n".join(lines[1:]).strip()
        if body:
            return body
        merged = repo.git.log("--format=%B", "--encoding=UTF-8",
                              f"{commit.parents[0].hexsha}..{commit.parents[1].hexsha}", stdout_as_string=False)
        return utf8_text(merged).strip() or message
    return message


def message_of(commit: git.Commit) -> str:
    """The commit's message as valid UTF-8: decoded as its ``encoding`` header says, bad bytes as U+FFFD."""
    return commit_message(commit.repo.odb.stream(commit.binsha).read())


def _version(repo: git.Repo, sha: str) -> str:
    try:
        tag = repo.git.describe("--tags", "--abbrev=0", sha)
    except git.GitCommandError:
        return ""
    match = _VERSION.search(tag)
    return match.group(1) if match else ""


def _instance_id(slug: str, pull: int | None, issues: list[str], sha: str, taken: set[str]) -> str:
    prefix = slug.replace("/", "__")
    local_issue = next((i for i in issues if i.isdigit()), None)
    for suffix in (pull, local_issue, sha[:7]):
        if suffix is not None and f"{prefix}-{suffix}" not in taken:
            return f"{prefix}-{suffix}"
    return f"{prefix}-{sha[:12]}"


def full_diff(repo: git.Repo, base: str, head: str, max_bytes: int | None = None) -> str:
    """``git diff base head`` as a fix's patch: binary hunks, full index lines, renames, fixed prefixes,
    quoted non-ASCII paths (the user's git config cannot change it).

    Raises :class:`NotACandidate` with ``diff_too_large`` when it is longer than ``max_bytes`` (git is
    stopped there, so a multi-GB diff never reaches memory) and ``non_utf8_diff`` when it is not UTF-8.
    """
    cmd = [repo.git.GIT_PYTHON_GIT_EXECUTABLE or "git", "-c", "core.quotePath=true", f"--git-dir={repo.git_dir}",
           "diff", "--binary", "--full-index", "--no-color", "--no-ext-diff", "--no-textconv", "--find-renames",
           "--src-prefix=a/", "--dst-prefix=b/", "--no-relative", base, head]
    # stderr goes to a file, not a pipe: git cannot block on it while we read stdout only so far
    with tempfile.TemporaryFile() as err, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err,
                                                            stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        raw = proc.stdout.read(max_bytes + 1) if max_bytes is not None else proc.stdout.read()
        if max_bytes is not None and len(raw) > max_bytes:
            proc.kill()
            proc.wait()
            raise NotACandidate("diff_too_large")
        if proc.wait() != 0:
            err.seek(0)
            raise git.GitCommandError(cmd, proc.returncode, err.read())
    try:
        diff = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotACandidate("non_utf8_diff") from None
    return diff + "\n" if diff and not diff.endswith("\n") else diff


def unusable(split: SplitDiff) -> str | None:
    """Why a split fix cannot be a candidate, or None: the skip reasons in the order they are checked."""
    if not split.test_files:
        return "no_test_change"
    if not split.source_files:
        return "no_source_change"
    if split.non_utf8_paths:
        return "non_utf8_path"
    if split.submodules:
        return "submodule_change"
    return None


def usable_split(repo: git.Repo, base: str, head: str, max_diff_bytes: int | None) -> SplitDiff | str:
    """The fix ``base..head`` split into patch and test patch, or the skip reason (shared by git and GitHub
    mining: size limit, encoding, test/source files, odd paths)."""
    try:
        split = split_diff(full_diff(repo, base, head, max_diff_bytes))
    except NotACandidate as skip:
        return skip.reason
    return unusable(split) or split


def candidate_from_commit(
    mirror: Mirror, commit: git.Commit, taken: set[str], max_diff_bytes: int | None = None
) -> Candidate | str:
    """The candidate a first-parent commit makes, or the reason it is not one."""
    repo = commit.repo
    if not commit.parents:
        return "root_commit"
    base = commit.parents[0].hexsha
    split = usable_split(repo, base, commit.hexsha, max_diff_bytes)
    if isinstance(split, str):
        return split
    statement = _problem_statement(repo, commit)
    message = message_of(commit)
    refs = parse_references(message if statement in message else f"{message}\n{statement}", mirror.slug)
    iid = _instance_id(mirror.slug, refs.pull_number, refs.issues, commit.hexsha, taken)
    return Candidate(
        instance_id=iid,
        repo=mirror.slug,
        base_commit=base,
        fix_commit=commit.hexsha,
        patch=split.patch,
        test_patch=split.test_patch,
        problem_statement=statement,
        created_at=commit.committed_datetime,
        version=_version(repo, base),
        source=f"git:{utf8_text(redact(mirror.source))}",
        issue_numbers=refs.issues,
        pull_number=refs.pull_number,
        test_files=split.test_files,
    )


def mine_git(
    source: str,
    store: Store,
    settings: Settings,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
    name: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    branch: str | None = None,
) -> MineReport:
    """Mine ``source`` into ``store``; return what was scanned, added and why the rest was skipped.

    ``branch`` (default: the one the source's HEAD names) is the branch whose first-parent history is
    mined. An empty repository is a report with the skip reason ``empty_repository``, not an error.
    """
    mirror = open_mirror(source, settings.mirrors_dir, name)
    report = MineReport(repo=mirror.slug)
    if not mirror.branches():
        report.skipped["empty_repository"] += 1
        return report
    branch = mirror.require_branch(branch) if branch else mirror.default_branch()
    if branch is None:
        report.skipped["empty_repository"] += 1
        return report
    report.branch = branch
    args = ["--first-parent", "--reverse", f"refs/heads/{branch}"]
    if since:
        args.insert(0, f"--since={since.isoformat()}")
    if until:
        args.insert(0, f"--until={until.isoformat()}")
    try:
        repo = mirror.repo  # one Repo (and one cat-file process) for the whole scan
        shas = repo.git.rev_list(*args).split()
    except git.GitCommandError as exc:
        raise UserError(f"cannot read the history of {source}: {exc.stderr.strip()}", "check the repository") from exc
    known = store.known_fix_commits(mirror.slug)
    taken = store.instance_ids()
    new: list[Candidate] = []
    for index, sha in enumerate(shas):
        if progress:
            progress(index + 1, len(shas))
        report.scanned += 1
        if sha in known:
            report.already_known += 1
            continue
        result = candidate_from_commit(mirror, repo.commit(sha), taken, settings.mine.max_diff_bytes)
        if isinstance(result, str):
            report.skipped[result] += 1
            continue
        taken.add(result.instance_id)
        new.append(result)
        if limit is not None and len(new) >= limit:
            break
    report.added = store.add_candidates(new)
    return report
