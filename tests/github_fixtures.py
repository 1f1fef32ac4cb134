"""Real git repositories with GitHub-style pull requests, for the GitHub miner's tests (with tests/github_server.py).

A repository here is what the miner fetches from GitHub: a bare repository whose ``main`` has the merge
(or squash) commits of merged pull requests, and ``refs/pull/N/head`` for every pull request, merged or
not. :func:`build_pr_repo` builds one from :class:`PRSpec` s; :func:`build_many` builds a large, varied
one (hundreds of PRs, about 10% of them good candidates). Both return a :class:`BuiltRepo` that knows
each PR's base, head and merge commit and its dates, so :meth:`BuiltRepo.register` can describe the PRs
to a :class:`tests.github_server.FakeGitHub` consistently with the git data.

Why ``git fast-import``: 500 PRs are ~1,500 commits; one ``git commit`` process each takes a minute,
one fast-import stream takes well under a second. Identities and dates are fixed (``GIT_CONFIG_GLOBAL``
is /dev/null, as in ``examples.tinyledger._Git``), so the same specs always give the same shas.
"""

from __future__ import annotations

import os
import subprocess
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from tests.github_server import FakeGitHub, Repo

START = datetime(2024, 1, 1, 9, 0, tzinfo=UTC)
"""Date of the initial commit; every later commit is one :data:`TICK` after the previous one."""
TICK = timedelta(hours=1)
MERGER = ("GitHub", "noreply@github.com")
"""Committer of merge and squash commits, as when a PR is merged on github.com."""

Files = Mapping[str, str | bytes | None]
"""Path -> new content (bytes are written as they are; None deletes the file)."""

_INITIAL: dict[str, str] = {
    "README.md": "# pkg\n\nA package whose history has pull requests.\n",
    "pyproject.toml": ('[project]\nname = "pkg"\nversion = "1.0.0"\nrequires-python = ">=3.9"\n\n'
                       '[tool.setuptools.packages.find]\nwhere = ["src"]\n'),
    "src/pkg/__init__.py": '"""pkg."""\n',
    "src/pkg/core.py": '"""Core helpers."""\n\n\ndef identity(x):\n    return x\n',
    "tests/test_core.py": "from pkg.core import identity\n\n\ndef test_identity():\n    assert identity(3) == 3\n",
}


@dataclass(frozen=True)
class PRSpec:
    """One pull request: a branch of 1–3 commits off the current ``main``, merged or squashed, or not."""

    number: int
    title: str
    commits: Sequence[Files]
    """The files each commit writes (1 to 3 commits)."""
    body: str = ""
    merge: Literal["merge", "squash"] | None = "merge"
    """How it was merged: a merge commit, a squash commit, or None (closed without merging)."""
    messages: Sequence[str] = ()
    """Commit messages (default: the title, then "Address review comments", "Add a regression test")."""
    author: str = "alice"
    author_type: str = "User"
    head_ref: str = ""
    """Branch name (default ``feature/pr-N``)."""
    touched_later: timedelta = timedelta(0)
    """Activity after closing (a comment, a label): ``updated_at`` is ``closed_at`` plus this."""
    kind: str = "custom"
    """What sort of PR it is (build_many's categories), for tests to select by."""
    expected: str = ""
    """The miner's expected outcome: "candidate" or a skip reason of GitHubMineReport.skipped."""

    def __post_init__(self) -> None:
        if not 1 <= len(self.commits) <= 3:
            raise ValueError(f"PR #{self.number}: 1 to 3 commits, not {len(self.commits)}")

    @property
    def branch(self) -> str:
        return self.head_ref or f"feature/pr-{self.number}"

    @classmethod
    def code(cls, number: int, *, title: str | None = None, body: str = "", commits: int = 1,
             merge: Literal["merge", "squash"] | None = "merge", source: bool = True, tests: bool = True,
             **kwargs: object) -> PRSpec:
        """A PR adding ``src/pkg/mod_N.py`` and/or ``tests/test_mod_N.py``; later commits revise them."""
        return cls(number=number, title=title or f"Fix value_{number} for negative input", body=body,
                   commits=_code_commits(number, commits, source=source, tests=tests), merge=merge,
                   **kwargs)  # type: ignore[arg-type]

    @classmethod
    def docs(cls, number: int, *, title: str | None = None, body: str = "", commits: int = 1,
             merge: Literal["merge", "squash"] | None = "merge", **kwargs: object) -> PRSpec:
        """A PR touching only ``docs/topic_N.md``."""
        versions = [{f"docs/topic_{number}.md": f"# Topic {number}\n\n" + "More words.\n" * (k + 1)}
                    for k in range(commits)]
        return cls(number=number, title=title or f"Document topic {number}", body=body, commits=versions,
                   merge=merge, **kwargs)  # type: ignore[arg-type]


def _code_commits(n: int, commits: int, *, source: bool, tests: bool) -> list[dict[str, str]]:
    src = f"src/pkg/mod_{n}.py"
    test = f"tests/test_mod_{n}.py"
    versions: list[dict[str, str]] = []
    first: dict[str, str] = {}
    if source:
        first[src] = f'"""Module {n}."""\n\n\ndef value_{n}(x):\n    return abs(x) + {n}\n'
    if tests:
        first[test] = (f"from pkg.mod_{n} import value_{n}\n\n\ndef test_value_{n}_negative():\n"
                       f"    assert value_{n}(-1) == {n + 1}\n")
    versions.append(first)
    if commits >= 2:
        key = src if source else test
        versions.append({key: first[key] + "\n# reviewed\n"})
    if commits >= 3:
        key = test if tests else src
        versions.append({key: first[key] + "\n# one more case\n"})
    return versions


@dataclass
class BuiltPR:
    """A PR as built: what GitHub's API would say about it, consistent with the repository."""

    spec: PRSpec
    base_sha: str
    head_sha: str
    merge_commit_sha: str | None
    commit_shas: list[str]
    commit_dates: list[datetime]
    created_at: datetime
    closed_at: datetime
    updated_at: datetime
    merged_at: datetime | None

    @property
    def number(self) -> int:
        return self.spec.number

    @property
    def merged(self) -> bool:
        return self.merged_at is not None


@dataclass
class BuiltIssue:
    """An issue to register alongside the PRs (build_many makes one per referenced issue)."""

    number: int
    title: str
    body: str
    created_at: datetime
    comments: list[tuple[str, str, datetime]] = field(default_factory=list)
    """``(login, body, created_at)``."""
    state: str = "closed"
    user_login: str = "bob"


@dataclass
class BuiltRepo:
    path: Path
    """The bare repository: its path is the clone URL to give FakeGitHub."""
    main_sha: str
    prs: list[BuiltPR]
    issues: list[BuiltIssue] = field(default_factory=list)

    def pr(self, number: int) -> BuiltPR:
        return next(p for p in self.prs if p.number == number)

    def expected(self) -> Counter:
        """How many PRs should end as each outcome (PRSpec.expected)."""
        return Counter(p.spec.expected for p in self.prs)

    def register(self, fake: FakeGitHub, full_name: str, *, clone_url: str | None = None) -> Repo:
        """Add the repository, every PR and every issue of :attr:`issues` to ``fake``."""
        repo = fake.add_repo(full_name, clone_url or str(self.path), default_branch="main")
        for pr in self.prs:
            files = {path for commit in pr.spec.commits for path in commit}
            fake.add_pull(
                full_name, pr.number, title=pr.spec.title, body=pr.spec.body, state="closed",
                merged_at=pr.merged_at, created_at=pr.created_at, updated_at=pr.updated_at,
                closed_at=pr.closed_at, base_sha=pr.base_sha, base_ref="main", head_sha=pr.head_sha,
                head_ref=pr.spec.branch, merge_commit_sha=pr.merge_commit_sha, user_login=pr.spec.author,
                user_type=pr.spec.author_type, commits=len(pr.commit_shas), changed_files=len(files),
            )
        for issue in self.issues:
            fake.add_issue(full_name, issue.number, title=issue.title, body=issue.body, state=issue.state,
                           created_at=issue.created_at, comments=list(issue.comments), user_login=issue.user_login)
        return repo


# ---- building ------------------------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def _git(git_dir: Path, *args: str, input: bytes | None = None) -> str:
    out = subprocess.run(["git", f"--git-dir={git_dir}", *args], env=_env(), input=input, capture_output=True,
                         check=False)
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.decode(errors='replace')}")
    return out.stdout.decode()


class _Stream:
    """A ``git fast-import`` stream: commits refer to each other by mark (``:N``)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.marks = 0

    def _data(self, text: str | bytes) -> None:
        raw = text if isinstance(text, bytes) else text.encode()
        self.chunks.append(b"data %d\n%s\n" % (len(raw), raw))

    def commit(self, ref: str, *, author: tuple[str, str], committer: tuple[str, str], when: datetime,
               message: str, parents: Sequence[int], files: Files) -> int:
        self.marks += 1
        stamp = int(when.timestamp())
        self.chunks.append(
            f"commit {ref}\nmark :{self.marks}\nauthor {author[0]} <{author[1]}> {stamp} +0000\n"
            f"committer {committer[0]} <{committer[1]}> {stamp} +0000\n".encode())
        self._data(message)
        for i, parent in enumerate(parents):
            self.chunks.append(f"{'from' if i == 0 else 'merge'} :{parent}\n".encode())
        for path, content in files.items():
            if content is None:
                self.chunks.append(f"D {path}\n".encode())
            else:
                self.chunks.append(f"M 100644 inline {path}\n".encode())
                self._data(content)
        self.chunks.append(b"\n")
        return self.marks

    def reset(self, ref: str, mark: int) -> None:
        self.chunks.append(f"reset {ref}\nfrom :{mark}\n\n".encode())

    def run(self, git_dir: Path) -> dict[int, str]:
        """Import into ``git_dir``; return mark -> sha."""
        marks_file = git_dir / "fast-import.marks"
        _git(git_dir, "fast-import", "--quiet", f"--export-marks={marks_file}", input=b"".join(self.chunks))
        shas = {}
        for line in marks_file.read_text().splitlines():
            mark, sha = line.split()
            shas[int(mark.lstrip(":"))] = sha
        marks_file.unlink()
        return shas


def _default_message(spec: PRSpec, k: int) -> str:
    return spec.title if k == 0 else ("Address review comments", "Add a regression test")[k - 1]


def _identity(login: str, user_type: str) -> tuple[str, str]:
    if user_type == "Bot":
        return login, f"{login}@users.noreply.github.com"
    return login.capitalize(), f"{login}@example.com"


def build_pr_repo(root: Path, prs: Sequence[PRSpec], *, start: datetime = START) -> BuiltRepo:
    """Create the bare repository ``root`` (absent or empty) with ``prs``, in order; see the module doc.

    Each PR branches off ``main`` as it is then; a merged one is merged right after its last commit (a merge
    commit with the PR's head as second parent, or a squash commit with the PR's changes), an unmerged one
    is closed an hour after its last commit. ``refs/pull/N/head`` points at each head; unmerged PRs keep
    their branch, merged ones had it deleted.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if any(root.iterdir()):
        raise FileExistsError(f"{root} is not empty")
    if len({p.number for p in prs}) != len(prs):
        raise ValueError("PR numbers must be unique")
    _git(root, "init", "--quiet", "--bare", "--initial-branch=main")

    stream = _Stream()
    clock = start
    maintainer = ("Maintainer", "maintainer@example.com")
    main = stream.commit("refs/heads/main", author=maintainer, committer=maintainer, when=clock,
                         message="Initial commit\n", parents=[], files=_INITIAL)
    plans: list[tuple[PRSpec, int, list[int], list[datetime], int | None, datetime]] = []
    for spec in prs:
        author = _identity(spec.author, spec.author_type)
        base, parent, marks, dates = main, main, [], []
        messages = [(spec.messages[k] if k < len(spec.messages) else _default_message(spec, k)).rstrip("\n") + "\n"
                    for k in range(len(spec.commits))]
        for files, message in zip(spec.commits, messages, strict=True):
            clock += TICK
            parent = stream.commit(f"refs/pull/{spec.number}/head", author=author, committer=author, when=clock,
                                   message=message, parents=[parent], files=files)
            marks.append(parent)
            dates.append(clock)
        clock += TICK
        changed: dict[str, str | bytes | None] = {}
        for files in spec.commits:
            changed.update(files)
        merged: int | None = None
        if spec.merge == "merge":
            message = f"Merge pull request #{spec.number} from {spec.author}/{spec.branch}\n\n{spec.title}\n"
            merged = stream.commit("refs/heads/main", author=author, committer=MERGER, when=clock, message=message,
                                   parents=[main, parent], files=changed)
        elif spec.merge == "squash":  # GitHub's default: "Title (#N)", then one bullet per commit if several
            message = f"{spec.title} (#{spec.number})\n"
            if len(messages) > 1:
                message += "\n" + "".join(f"* {m.strip()}\n" for m in messages)
            merged = stream.commit("refs/heads/main", author=author, committer=MERGER, when=clock, message=message,
                                   parents=[main], files=changed)
        else:
            stream.reset(f"refs/heads/{spec.branch}", parent)
        if merged is not None:
            main = merged
        plans.append((spec, base, marks, dates, merged, clock))
    shas = stream.run(root)

    built = []
    for spec, base, marks, dates, merged, closed in plans:
        built.append(BuiltPR(
            spec=spec, base_sha=shas[base], head_sha=shas[marks[-1]],
            merge_commit_sha=shas[merged] if merged is not None else None, commit_shas=[shas[m] for m in marks],
            commit_dates=dates, created_at=dates[0] + timedelta(minutes=10), closed_at=closed,
            updated_at=closed + spec.touched_later, merged_at=closed if merged is not None else None,
        ))
    return BuiltRepo(path=root, main_sha=shas[main], prs=built)


_HUMANS = ("alice", "bob", "carol", "dave")

#: build_many's categories, by ``i % 10``: (kind, expected outcome of the miner).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("candidate", "candidate"),            # merged, "Fixes #issue", source + tests
    ("unmerged", "not_merged"),            # closed without merging, source + tests
    ("unmerged_docs", "not_merged"),
    ("no_issue", "no_issue"),              # merged, source + tests, no closing keyword
    ("no_issue_squash", "no_issue"),       # squash-merged: "Title (#N)" names itself, not an issue
    ("docs_only", "no_test_change"),       # merged, "Fixes #issue", only docs
    ("bot", "bot_author"),                 # dependabot[bot], "Fixes #issue", source + tests
    ("source_only", "no_test_change"),     # merged, "Fixes #issue", no test change
    ("tests_only", "no_source_change"),    # merged, "Fixes #issue", only tests
    ("mention", "no_issue"),               # merged, source + tests, "See #issue" (not a closing keyword)
)


def build_many(root: Path, n: int, *, start: datetime = START) -> BuiltRepo:
    """A repository with ``n`` PRs in :data:`CATEGORIES` (``i % 10``), 10% of them candidates.

    PR ``i`` (from 0) is number ``2i + 2`` and may reference issue ``2i + 1`` (GitHub numbers issues and PRs
    in one sequence). Every referenced issue is in :attr:`BuiltRepo.issues`, with one comment before the
    PR's first commit (a hint) and one after its merge (not a hint). Candidates alternate merge and squash
    and have 1–3 commits; every 7th PR had activity weeks after closing, so ``sort=updated`` differs from
    ``sort=created``.
    """
    specs: list[PRSpec] = []
    for i in range(n):
        kind, expected = CATEGORIES[i % 10]
        number, issue = 2 * i + 2, 2 * i + 1
        common = {
            "author": "dependabot[bot]" if kind == "bot" else _HUMANS[i % len(_HUMANS)],
            "author_type": "Bot" if kind == "bot" else "User", "kind": kind, "expected": expected,
            "touched_later": timedelta(days=20) if i % 7 == 3 else timedelta(0),
        }
        commits = 1 + (i // 10) % 3
        fixes = f"Fixes #{issue}."
        if kind == "candidate":
            spec = PRSpec.code(number, body=f"The value was wrong for negative input.\n\n{fixes}", commits=commits,
                               merge="merge" if (i // 10) % 2 == 0 else "squash", **common)
        elif kind == "unmerged":
            spec = PRSpec.code(number, body="An approach we did not take.", merge=None, **common)
        elif kind == "unmerged_docs":
            spec = PRSpec.docs(number, merge=None, **common)
        elif kind == "no_issue":
            spec = PRSpec.code(number, title=f"Refactor value_{number}", commits=commits, **common)
        elif kind == "no_issue_squash":
            spec = PRSpec.code(number, title=f"Speed up value_{number}", merge="squash", **common)
        elif kind == "docs_only":
            spec = PRSpec.docs(number, body=fixes, **common)
        elif kind == "bot":
            spec = PRSpec.code(number, title=f"Bump dependency {number}", body=fixes, **common)
        elif kind == "source_only":
            spec = PRSpec.code(number, body=fixes, tests=False, **common)
        elif kind == "tests_only":
            spec = PRSpec.code(number, title=f"Test value_{number}", body=fixes, source=False, **common)
        else:
            spec = PRSpec.code(number, title=f"Tidy value_{number}", body=f"See #{issue} for context.", **common)
        specs.append(spec)
    built = build_pr_repo(root, specs, start=start)
    for pr in built.prs:
        if pr.spec.kind in ("candidate", "docs_only", "bot", "source_only", "tests_only"):
            issue = pr.number - 1
            first = pr.commit_dates[0]
            built.issues.append(BuiltIssue(
                number=issue, title=f"value_{pr.number} is wrong for negative numbers",
                body=f"value_{pr.number}(-1) returns {pr.number - 1}, expected {pr.number + 1}.",
                created_at=first - timedelta(days=1),
                comments=[("carol", f"The sign is lost in value_{pr.number}.", first - timedelta(hours=2)),
                          ("dave", "Thanks, fixed now.", pr.closed_at + timedelta(hours=1))],
                user_login=_HUMANS[(pr.number // 2) % len(_HUMANS)],
            ))
    return built
