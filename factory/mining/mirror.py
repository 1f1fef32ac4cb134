"""One host-side bare mirror per source repository (gitpython).

Every later stage reads code from this mirror — build contexts are cut from it — so nothing clones from
the network inside a Docker build, and a repository is fetched once however many candidates it yields.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import git

from factory.core.errors import UserError
from factory.mining.text import utf8_text

_SLUG = re.compile(r"[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repo_slug(source: str, origin_url: str | None = None) -> str:
    """``owner/name`` for a source: from its URL, else the local repo's ``origin``, else ``local/<dir>``."""
    for candidate in (source, origin_url or ""):
        if "://" in candidate or re.match(r"^[\w.-]+@[\w.-]+:", candidate):
            match = _SLUG.search(candidate)
            if match:
                return f"{match.group(1)}/{match.group(2)}"
    name = utf8_text(Path(source.rstrip("/")).name)  # a folder name in Latin-1 bytes must not reach ids
    name = name[:-4] if name.endswith(".git") else name
    return f"local/{name or 'repo'}"


def is_remote(source: str) -> bool:
    return "://" in source or bool(re.match(r"^[\w.-]+@[\w.-]+:", source))


@dataclass
class Mirror:
    source: str
    """What the user gave: a local path or a URL."""
    path: Path
    """The bare mirror on this host."""
    slug: str
    """``owner/name`` used in instance ids."""

    @property
    def repo(self) -> git.Repo:
        return git.Repo(self.path)

    def branches(self) -> list[str]:
        """Branch names in the mirror (the source's branches), sorted."""
        out = self.repo.git.for_each_ref("--format=%(refname:strip=2)", "refs/heads/")
        return sorted(line for line in out.splitlines() if line)

    def default_branch(self) -> str | None:
        """The branch HEAD points to in the source; ``main`` / ``master`` when HEAD names a branch that does
        not exist; None for an empty repository (no branch at all).

        Raises :class:`UserError` naming the branches when HEAD names a missing branch and neither
        ``main`` nor ``master`` exists: which one holds the history is the user's call (``--branch``).
        """
        repo = self.repo
        branches = self.branches()
        source = utf8_text(redact(self.source))
        try:
            name = repo.git.symbolic_ref("HEAD").removeprefix("refs/heads/")
        except git.GitCommandError:  # detached HEAD in the mirror: no name to go by
            name = ""
        if name in branches:
            return name
        if not branches:
            return None
        for usual in ("main", "master"):
            if usual in branches:
                return usual
        raise UserError(
            f"{source} has no default branch: its HEAD does not point to an existing branch "
            f"(branches: {_listing(branches)})",
            f"choose the branch to mine, e.g. `factory mine --git {source} --branch {utf8_text(branches[0])}`, "
            "or point the repository's HEAD at it (`git symbolic-ref HEAD refs/heads/<branch>`)",
        )

    def require_branch(self, name: str) -> str:
        """``name`` if the source has that branch, else a :class:`UserError` listing the ones it has."""
        branches = self.branches()
        if name not in branches:
            raise UserError(
                f"{utf8_text(redact(self.source))} has no branch {name!r} "
                f"({'branches: ' + _listing(branches) if branches else 'it has no branches: empty repository'})",
                "pass --branch with one of the branches listed" if branches else "commit something first",
            )
        return name


def _listing(names: list[str], most: int = 10) -> str:
    shown = ", ".join(utf8_text(n) for n in names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def redact(url: str) -> str:
    """``url`` without a ``user:password@`` part, so credentials never reach the DB, logs or exports."""
    return re.sub(r"(://)[^/@\s]+@", r"\1", url)


def open_mirror(source: str, mirrors_dir: Path, name: str | None = None, fetch: bool = True) -> Mirror:
    """Create or refresh the mirror of ``source`` (a local path or a URL) and return it.

    ``fetch=False`` reuses an existing mirror as it is (the build stage: its commits are already there).
    """
    remote = is_remote(source)
    if not remote:
        local = Path(source).expanduser().resolve()
        if not local.exists():
            raise UserError(f"no such path: {source}", "give an existing git repository path or a clone URL")
        try:
            origin = git.Repo(local).remotes.origin.url if "origin" in git.Repo(local).remotes else None
        except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
            raise UserError(f"{source} is not a git repository", "give the top folder of a git clone") from exc
        source_ref = str(local)
    else:
        origin, source_ref = None, source
    slug = name or repo_slug(source_ref, origin)
    digest = hashlib.sha256(source_ref.encode()).hexdigest()[:8]
    path = mirrors_dir / f"{slug.replace('/', '__')}-{digest}.git"
    if path.exists() and not fetch:
        return Mirror(source=source_ref, path=path, slug=slug)
    try:
        if path.exists():
            repo = git.Repo(path)
            repo.git.fetch("--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*")
            _sync_head(repo)
        else:
            mirrors_dir.mkdir(parents=True, exist_ok=True)
            git.Repo.clone_from(source_ref, path, mirror=True)
    except git.GitCommandError as exc:
        lines = [ln.strip(" '\"") for ln in (exc.stderr or str(exc)).splitlines()]
        fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:"))] or [ln for ln in lines if ln]
        raise UserError(
            redact(f"cannot fetch {source}: {fatal[-1] if fatal else 'git failed'}"),
            "check the URL or path, your network and credentials",
        ) from exc
    # Local paths are kept absolute: a later `factory build` may run from another directory.
    return Mirror(source=source_ref, path=path, slug=slug)


def _sync_head(repo: git.Repo) -> None:
    """Follow a change of the source's default branch."""
    try:
        remote_head = repo.git.ls_remote("--symref", "origin", "HEAD")
    except git.GitCommandError:
        return
    for line in remote_head.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            repo.git.symbolic_ref("HEAD", line[5:].split("\t")[0])


class Snapshot:
    """Read-only view of the mirror at one commit: what the builder's explorer may look at."""

    def __init__(self, mirror: Mirror, sha: str):
        self.mirror = mirror
        self.sha = sha
        self._files: list[str] | None = None
        self._file_set: frozenset[str] = frozenset()

    def files(self) -> list[str]:
        if self._files is None:
            out = self.mirror.repo.git.ls_tree("-r", "--name-only", "-z", self.sha)
            self._files = [f for f in out.split("\0") if f]
            self._file_set = frozenset(self._files)
        return self._files

    def exists(self, path: str) -> bool:
        self.files()
        return path in self._file_set

    def grep(self, text: str, limit: int) -> list[str]:
        """``path:line: text`` of the first line containing ``text`` in each file (one git process)."""
        try:
            out = self.mirror.repo.git.grep("-n", "-I", "-F", "--max-count=1", "-e", text, self.sha)
        except git.GitCommandError:  # exit code 1: no match
            return []
        hits = []
        for line in out.splitlines()[:limit]:
            _, _, rest = line.partition(":")  # drop the "<sha>:" prefix
            path, _, rest = rest.partition(":")
            number, _, content = rest.partition(":")
            hits.append(f"{path}:{number}: {content.strip()[:160]}")
        return hits

    def read(self, path: str, max_bytes: int = 1_000_000) -> str | None:
        """Text of ``path`` at this commit (None if absent); large files are cut at ``max_bytes``."""
        if not self.exists(path):
            return None
        data = self.mirror.repo.git.show(f"{self.sha}:{path}", stdout_as_string=False)
        return data[:max_bytes].decode("utf-8", "replace")

    def archive(self, dest: Path) -> Path:
        """Write the tree at this commit as a tar file (no .git, so no history at all)."""
        dest = dest.absolute()  # git runs inside the mirror, not in our working directory
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.mirror.repo.git.archive("--format=tar", f"--output={dest}", self.sha)
        return dest

    def bundle(self, dest: Path) -> str:
        """Write a git bundle holding this commit and its ancestors only; return the ref it carries.

        Cloning from it gives the repository's past but none of its future (later commits, tags).
        """
        ref = f"refs/heads/factory-base-{self.sha[:12]}-{uuid.uuid4().hex[:8]}"
        repo = self.mirror.repo
        dest = dest.absolute()
        dest.parent.mkdir(parents=True, exist_ok=True)
        repo.git.update_ref(ref, self.sha)
        try:
            repo.git.bundle("create", str(dest), ref)
        finally:
            repo.git.update_ref("-d", ref)
        return ref
