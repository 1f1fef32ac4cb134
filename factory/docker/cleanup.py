"""``factory clean``: remove what the factory left on a Docker engine — and nothing else.

Only objects carrying the label ``issue-factory=1`` are ever touched (SWE-Factory prunes every image on
the host; a shared machine cannot afford that). Containers go when they are not running or their
creating process is gone. Env and instance images go when they were last used longer ago than
``--older-than`` (last use: when the store last recorded a build or validation with them, else their
creation time), and with ``--max-image-gb`` the least recently used ones until the rest fits the budget
(sizes as the engine reports them per image, shared layers counted in each: a conservative budget);
base images stay (they are slow to make and shared by everything). An image still used by a container
is skipped, never forced.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import docker
from docker.errors import APIError, NotFound

from factory.docker.names import legacy_slug, repo_slug
from factory.docker.runtime import LABEL, OWNER_LABEL, process_alive


@dataclass
class OurImage:
    id: str
    tags: list[str]
    size: int
    """Bytes the engine reports for the image (layers shared with other images included)."""
    kind: str
    """``base`` | ``env`` | ``instance`` | ``other``."""
    last_used: datetime
    env: str = ""
    """For an instance image: the env image it was built from (label ``issue-factory.env``)."""

    @property
    def name(self) -> str:
        return self.tags[0] if self.tags else self.id[:19]


@dataclass
class CleanReport:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    """Images kept because a container still uses them (or they vanished meanwhile)."""


def _kind(tags: list[str]) -> str:
    for tag in tags:
        name = tag.split(":", 1)[0]
        if name.startswith("issue-factory/env."):
            return "env"
        if name.startswith("issue-factory/instance."):
            return "instance"
        if name.startswith("issue-factory/python"):
            return "base"
    return "other"


def _created(attrs: dict) -> datetime:
    raw = str(attrs.get("Created") or "")
    try:
        return datetime.fromisoformat(raw[:26].rstrip("Z") + "+00:00") if "T" in raw else datetime.fromtimestamp(
            int(raw), UTC)
    except ValueError:
        return datetime.now(UTC)


def _of_repos(image: OurImage, repos: Collection[str]) -> bool:
    slugs = {s for repo in repos for s in (repo_slug(repo), legacy_slug(repo), repo.replace("/", "__").lower())}
    return any(t.split(":", 1)[0].split(".", 1)[-1] in slugs for t in image.tags)


def our_images(client: docker.DockerClient, last_use: dict[str, datetime] | None = None) -> list[OurImage]:
    """Every labelled image; ``last_use`` maps tags to the store's last use of them."""
    found = []
    for image in client.images.list(filters={"label": f"{LABEL}=1"}):
        tags = list(image.tags)
        used = [last_use[t] for t in tags if last_use and t in last_use]
        found.append(OurImage(image.id, tags, int(image.attrs.get("Size") or 0), _kind(tags),
                              max(used) if used else _created(image.attrs),
                              (image.labels or {}).get(f"{LABEL}.env", "")))
    return found


def _eviction_order(images: list[OurImage]) -> list[OurImage]:
    """Least recently used first, where an env image counts as used whenever one of its instance images
    was: its children always come before it (the engine refuses to remove a parent of kept images)."""
    last = {t: i.last_used for i in images for t in i.tags}
    for image in images:
        if image.kind == "instance" and image.env in last:
            last[image.env] = max(last[image.env], image.last_used)
    effective = {i.id: max([last[t] for t in i.tags] or [i.last_used]) for i in images}
    return sorted(images, key=lambda i: (effective[i.id], i.kind != "instance"))


#: A stopped container of ours older than this is a leftover even if its owner is on another host.
STALE_STOPPED = timedelta(hours=1)


def leftover_containers(client: docker.DockerClient, now: datetime | None = None) -> list[dict]:
    """Our containers whose creating process on this host is gone, or that stopped long ago.

    A container of a live process is never a leftover, whatever its state: a run creates its container
    before it starts it, and ``factory clean`` during a build must not pull it away.
    """
    host = socket.gethostname()
    now = now or datetime.now(UTC)
    out = []
    for c in client.api.containers(all=True, filters={"label": f"{LABEL}=1"}):
        owner = (c.get("Labels") or {}).get(OWNER_LABEL, "")
        owner_host, _, pid = owner.partition(":")
        if owner_host == host and pid.isdigit():
            if not process_alive(int(pid)):
                out.append(c)
            continue
        created = datetime.fromtimestamp(int(c.get("Created") or 0), UTC)
        if c.get("State") in ("exited", "dead") and now - created > STALE_STOPPED:
            out.append(c)
    return out


def clean(
    client: docker.DockerClient,
    older_than: timedelta | None = None,
    last_use: dict[str, datetime] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    repos: Collection[str] | None = None,
    max_bytes: int | None = None,
) -> CleanReport:
    """Remove leftover containers, env/instance images unused for ``older_than``, then — with
    ``max_bytes`` — the least recently used ones until the rest fits the budget (``repos``: only these
    repositories' images, ``owner/name``; the budget then counts only them)."""
    report = CleanReport()
    for c in leftover_containers(client):
        name = (c.get("Names") or [c["Id"][:12]])[0].lstrip("/")
        if not dry_run:
            try:
                client.api.remove_container(c["Id"], force=True)
            except NotFound:
                continue
            except APIError as exc:
                report.skipped.append(f"container {name}: {exc.explanation or exc}")
                continue
        report.containers.append(name)
    if older_than is None and max_bytes is None:
        return report
    candidates = [i for i in our_images(client, last_use) if i.kind in ("env", "instance")
                  and (repos is None or _of_repos(i, repos))]
    doomed: list[OurImage] = []
    if older_than is not None:
        cutoff = (now or datetime.now(UTC)) - older_than
        doomed = [i for i in candidates if i.last_used < cutoff]
    if max_bytes is not None:
        kept = _eviction_order([i for i in candidates if i not in doomed])
        total = sum(i.size for i in kept)
        for image in kept:  # least recently used first
            if total <= max_bytes:
                break
            doomed.append(image)
            total -= image.size
    # instances before envs (an env image is the parent of its instance images), oldest first
    for image in sorted(doomed, key=lambda i: (i.kind != "instance", i.last_used)):
        if not dry_run:
            try:
                for tag in image.tags or [image.id]:
                    client.images.remove(tag, noprune=False)
            except NotFound:
                continue
            except APIError as exc:
                report.skipped.append(f"image {image.name}: {exc.explanation or exc}")
                continue
        report.images.append(image.name)
        report.freed_bytes += image.size
    return report


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``30m``, ``12h``, ``7d``, ``2w`` (``0s``: everything) -> timedelta."""
    from factory.core.errors import UserError

    match = _DURATION.match(text.strip().lower())
    if not match:
        raise UserError(f"--older-than {text!r} is not a duration", "use a number and a unit: 30m, 12h, 7d, 2w")
    return timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])
