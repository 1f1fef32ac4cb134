"""``factory images save`` / ``load``: the instance images of a dataset as one archive plus a manifest of digests.

Why: an exported row names an image that exists only on the engine that built it (its base is a local
tag bootstrapped offline, its Dockerfile copies a repository bundle that is not shipped), so the row's
``dockerfile`` cannot rebuild it elsewhere and there may be no registry to push to. ``docker save`` of the
images themselves is exact: one archive holds every instance image *and* the env and base layers they
share, once (instance images of one repo share an env image; all share the base), so it is the smallest
faithful copy. ``manifest.json`` pins each instance's tag to its image ID (the sha256 of the image config,
the same ``image_digest`` the export rows carry) and the archive to its sha256, and ``load`` refuses an
archive or image that does not match — before loading (archive hash, config digests read from the tar)
and after (the engine's ID of every tag).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import docker
from docker.errors import APIError, ImageNotFound

from factory.core.errors import UserError

FORMAT = "issue-factory-images/1"
MANIFEST = "manifest.json"
ARCHIVE = "images.tar"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class SavedImage:
    """One instance's image as the manifest lists it."""

    instance_id: str
    image: str
    image_id: str
    """The engine's image ID (``sha256:`` of the image config): what ``image_digest`` in an export row pins."""
    env_image: str = ""
    env_image_id: str = ""


def image_id(client: docker.DockerClient, tag: str) -> str:
    """The engine's ID of ``tag`` (``sha256:…``), or ``""`` when there is no such image."""
    try:
        return client.images.get(tag).id
    except ImageNotFound:
        return ""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def save(client: docker.DockerClient, entries: Iterable[tuple[str, str, str]], out_dir: Path,
         say: Callable[[str], None] = lambda _: None) -> dict:
    """``docker save`` the images of ``(instance_id, image, env_image)`` into ``out_dir/images.tar`` and
    write ``out_dir/manifest.json``; returns the manifest. A missing image is an error naming the instance."""
    saved = []
    for iid, tag, env_tag in entries:
        iid_image = image_id(client, tag)
        if not iid_image:
            raise UserError(f"the image {tag} of {iid} is not on this Docker engine",
                            f"rebuild it (`factory build --rebuild --instance {iid}`) or leave it out (--instance)")
        saved.append(SavedImage(iid, tag, iid_image, env_tag, image_id(client, env_tag) if env_tag else ""))
    if not saved:
        raise UserError("there is no valid instance to save", "run `factory build` first, or check --instance")
    names = sorted({s.image for s in saved} | {s.env_image for s in saved if s.env_image_id})
    out_dir.mkdir(parents=True, exist_ok=True)
    archive, partial = out_dir / ARCHIVE, out_dir / f".{ARCHIVE}.partial"
    say(f"saving {len(names)} image(s) to {archive}")
    digest, size = hashlib.sha256(), 0
    try:
        # One ``/images/get`` call for every name: the engine writes each shared layer once.
        response = client.api._get(client.api._url("/images/get"), params={"names": names}, stream=True)
        with open(partial, "wb") as fh:
            for chunk in client.api._stream_raw_result(response, _CHUNK, False):
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    except (APIError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise UserError(f"could not save images to {archive}: {exc}", "check free disk space and the engine") from exc
    os.replace(partial, archive)
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "archive": {"file": ARCHIVE, "sha256": digest.hexdigest(), "bytes": size},
        "images": [asdict(s) for s in sorted(saved, key=lambda s: s.instance_id)],
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> tuple[dict, list[SavedImage]]:
    """The manifest of a saved directory, checked for shape; anything off is an error naming the file."""
    path = Path(directory) / MANIFEST
    fix = "save the images again with `factory images save --out DIR`"
    if not path.is_file():
        raise UserError(f"{path} not found (not a directory written by `factory images save`?)", fix)
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        if manifest.get("format") != FORMAT:
            raise ValueError(f"format is {manifest.get('format')!r}, not {FORMAT!r}")
        archive = manifest["archive"]
        if not isinstance(archive.get("file"), str) or Path(archive["file"]).name != archive["file"]:
            raise ValueError(f"archive file {archive.get('file')!r} is not a file name in the directory")
        images = [SavedImage(**row) for row in manifest["images"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{path} is not a valid image manifest ({exc})", fix) from exc
    for s in images:
        if not s.image_id.startswith("sha256:") or len(s.image_id) != 71:
            raise UserError(f"{path}: the image ID of {s.instance_id} ({s.image_id!r}) is not sha256:<64 hex>", fix)
    return manifest, images


def archive_config_ids(archive: Path) -> dict[str, str]:
    """``tag -> image ID`` as the archive itself says: the sha256 of each image's config blob, named by the
    ``docker save`` manifest inside it (legacy ``<hex>.json`` and OCI ``blobs/sha256/<hex>`` layouts alike)."""
    ids: dict[str, str] = {}
    try:
        with tarfile.open(archive, "r:") as tar:
            entries = json.load(tar.extractfile("manifest.json"))
            for entry in entries:
                config = tar.extractfile(entry["Config"])
                digest = hashlib.sha256()
                while chunk := config.read(_CHUNK):
                    digest.update(chunk)
                for tag in entry.get("RepoTags") or []:
                    ids[tag] = f"sha256:{digest.hexdigest()}"
    except (tarfile.TarError, KeyError, TypeError, AttributeError, ValueError, OSError) as exc:
        raise UserError(f"{archive} is not a readable `docker save` archive ({exc})",
                        "save the images again with `factory images save --out DIR`") from exc
    return ids


def verify(directory: Path) -> tuple[Path, list[SavedImage]]:
    """Check a saved directory without an engine: the archive's sha256 and size, and every instance and env
    image's ID against the config digests inside it. Returns the archive and the manifest's images."""
    manifest, images = read_manifest(directory)
    archive = Path(directory) / manifest["archive"]["file"]
    fix = "copy the directory again from where it was saved, or save the images again"
    if not archive.is_file():
        raise UserError(f"{archive} (named by {Path(directory) / MANIFEST}) not found", fix)
    if archive.stat().st_size != manifest["archive"].get("bytes") or _sha256(archive) != manifest["archive"].get(
            "sha256"):
        raise UserError(f"{archive} does not match its sha256 in {Path(directory) / MANIFEST} (changed or truncated)",
                        fix)
    inside = archive_config_ids(archive)
    for s in images:
        for tag, expected in ((s.image, s.image_id), (s.env_image, s.env_image_id)):
            if expected and inside.get(tag) != expected:
                raise UserError(f"{archive}: {tag} ({s.instance_id}) has ID {inside.get(tag) or 'none'}, "
                                f"but {MANIFEST} says {expected}", fix)
    return archive, images


def load(client: docker.DockerClient, directory: Path, say: Callable[[str], None] = lambda _: None
         ) -> list[SavedImage]:
    """Verify (:func:`verify`), ``docker load`` the archive, then check the engine's ID of every tag."""
    archive, images = verify(directory)
    say(f"loading {archive}")
    try:
        with open(archive, "rb") as fh:
            client.images.load(fh)
    except (APIError, docker.errors.ImageLoadError) as exc:
        raise UserError(f"the Docker engine refused {archive}: {exc}", "save the images again and retry") from exc
    for s in images:
        for tag, expected in ((s.image, s.image_id), (s.env_image, s.env_image_id)):
            got = image_id(client, tag) if expected else ""
            if got != expected:
                raise UserError(f"after loading {archive}, {tag} ({s.instance_id}) is {got or 'missing'}, "
                                f"not {expected} as {Path(directory) / MANIFEST} says",
                                "remove the conflicting tag (`docker rmi`) and load again")
    return images
