"""Names of the images the factory builds: the one place they are made, so every name is one a registry accepts.

Why: an exported image has to be pushable elsewhere. The OCI distribution spec allows path components
``[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*``, but some registries refuse ``__`` or runs of ``-`` (swebench maps
``__`` to ``_1776_`` for that reason), and repository names may hold uppercase letters, dots, underscores or
anything a local git path spells. So every component here keeps to the strict grammar ``[a-z0-9]+((\\.|_|-)
[a-z0-9]+)*``, owner and name are joined with swebench's ``_1776_``, and a name that had to be changed (or
shortened) to fit carries a hash of the original, so two repositories never share an image name.

Names made before this module (``issue-factory/instance.psf__requests:…``) stay valid for the images
already built under them: the store keeps each instance's tag, and nothing here renames an existing image.
"""

from __future__ import annotations

import hashlib
import re

NAMESPACE = "issue-factory"
SEPARATOR = "_1776_"
"""Between owner and name, as swebench's own image names have it (``__`` is refused by some registries)."""
COMPONENT = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")
"""A path component every registry we know accepts (the OCI grammar without ``__`` and ``--``)."""
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
MAX_COMPONENT = 120
"""Docker allows 255 characters for a whole name; one component of at most this leaves room for a host."""


def _clean(part: str) -> str:
    """Lowercase, anything outside ``[a-z0-9._-]`` and every run of separators becomes one ``-``."""
    text = re.sub(r"[^a-z0-9._-]", "-", part.lower())
    text = re.sub(r"[._-]{2,}", "-", text)
    return text.strip("._-")


def repo_slug(repo: str) -> str:
    """``psf/requests`` → ``psf_1776_requests``; ``Acme/My__Lib`` → ``acme_1776_my-lib-<hash>``: one OCI
    component that names ``repo`` (case aside, as GitHub's names are) and no other repository."""
    owner, _, name = repo.strip("/").rpartition("/")
    parts = [_clean(p) or "x" for p in (owner, name) if p] or ["x"]
    slug = SEPARATOR.join(parts)
    exact = all(_clean(p) == p.lower() for p in (owner, name) if p) and SEPARATOR not in repo.lower()
    if exact and len(slug) <= MAX_COMPONENT:
        return slug
    digest = hashlib.sha256(repo.encode()).hexdigest()[:10]
    return f"{slug[:MAX_COMPONENT - 11].rstrip('._-')}-{digest}"


def image_name(kind: str, repo: str) -> str:
    """``issue-factory/<kind>.<repo slug>`` (``kind``: env | instance), without the tag."""
    if not COMPONENT.fullmatch(kind):
        raise ValueError(f"image kind {kind!r} is not a lowercase word")
    return f"{NAMESPACE}/{kind}.{repo_slug(repo)}"


def legacy_slug(repo: str) -> str:
    """The ``owner__name`` part of names made before this module (``factory clean --repo`` still finds them)."""
    return "__".join(re.sub(r"[^a-z0-9._-]+", "-", p.lower()).strip("-._") or "x" for p in repo.split("/"))


def registry_safe(reference: str) -> bool:
    """Whether ``name[:tag]`` keeps to the strict grammar: every path component and the tag."""
    name, _, tag = reference.rpartition(":") if ":" in reference.rsplit("/", 1)[-1] else (reference, "", "")
    return all(COMPONENT.fullmatch(c) for c in name.split("/")) and (not tag or bool(TAG.fullmatch(tag)))
