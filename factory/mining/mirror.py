"""One host-side bare mirror per source repository (gitpython).

Every later stage reads code from this mirror — build contexts are cut from it — so nothing clones from
the network inside a Docker build, and a repository is fetched once however many candidates it yields.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import git

from factory.errors import UserError

_SLUG = re.compile(r"[:/]([\w.-]+)/([\w.-]+?)(?:\.git)?/?$")


def repo_slug(source: str, origin_url: str | None = None) -> str:
    """``owner/name`` for a source: from its URL, else the local repo's ``origin``, else ``local/<dir>``."""
    for candidate in (source, origin_url or ""):
        if "://" in candidate or re.match(r"^[\w.-]+@[\w.-]+:", candidate):
            match = _SLUG.search(candidate)
            if match:
                return f"{match.group(1)}/{match.group(2)}"
    name = Path(source.rstrip("/")).name
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

    def default_branch(self) -> str | None:
        """Name of the branch HEAD points to in the source (None for an empty repository)."""
        repo = self.repo
        try:
            ref = repo.git.symbolic_ref("HEAD")
        except git.GitCommandError:
            return None
        name = ref.removeprefix("refs/heads/")
        try:
            repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{name}^{{commit}}")
        except git.GitCommandError:
            branches = [h.name for h in repo.heads]
            for usual in ("main", "master"):
                if usual in branches:
                    return usual
            return branches[0] if branches else None
        return name


def open_mirror(source: str, mirrors_dir: Path, name: str | None = None) -> Mirror:
    """Create or refresh the mirror of ``source`` (a local path or a URL) and return it."""
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
    try:
        if path.exists():
            repo = git.Repo(path)
            repo.git.fetch("--prune", "--tags", "origin", "+refs/heads/*:refs/heads/*")
            _sync_head(repo)
        else:
            mirrors_dir.mkdir(parents=True, exist_ok=True)
            git.Repo.clone_from(source_ref, path, mirror=True)
    except git.GitCommandError as exc:
        detail = (exc.stderr or str(exc)).strip().splitlines()
        raise UserError(
            f"cannot fetch {source}: {detail[-1] if detail else 'git failed'}",
            "check the URL or path, your network and credentials",
        ) from exc
    return Mirror(source=source, path=path, slug=slug)


def _sync_head(repo: git.Repo) -> None:
    """Follow a change of the source's default branch."""
    try:
        remote_head = repo.git.ls_remote("--symref", "origin", "HEAD")
    except git.GitCommandError:
        return
    for line in remote_head.splitlines():
        if line.startswith("ref: ") and line.endswith("\tHEAD"):
            repo.git.symbolic_ref("HEAD", line[5:].split("\t")[0])
