"""The manifest check of ``factory images load``, on archives laid out as ``docker save`` writes them (legacy
``<hex>.json`` configs and OCI ``blobs/sha256/``): a matching directory verifies; a changed manifest, archive
or config, or a missing file, is refused with a message naming the file — before any engine sees it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from factory.core.errors import UserError
from factory.docker import archive

TAG, ENV = "issue-factory/instance.a_1776_b:1", "issue-factory/env.a_1776_b:2"


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def saved_dir(tmp_path: Path, oci: bool = False) -> Path:
    """A directory as ``factory images save`` writes it: images.tar with two images, and manifest.json."""
    configs = {TAG: b'{"config": "instance"}', ENV: b'{"config": "env"}'}
    ids = {t: hashlib.sha256(c).hexdigest() for t, c in configs.items()}
    path = tmp_path / archive.ARCHIVE
    with tarfile.open(path, "w") as tar:
        entries = []
        for tag, config in configs.items():
            name = f"blobs/sha256/{ids[tag]}" if oci else f"{ids[tag]}.json"
            _add(tar, name, config)
            entries.append({"Config": name, "RepoTags": [tag], "Layers": []})
        _add(tar, "manifest.json", json.dumps(entries).encode())
    data = path.read_bytes()
    manifest = {"format": archive.FORMAT, "created_at": "2026-01-01T00:00:00+00:00",
                "archive": {"file": archive.ARCHIVE, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)},
                "images": [{"instance_id": "a__b-1", "image": TAG, "image_id": f"sha256:{ids[TAG]}",
                            "env_image": ENV, "env_image_id": f"sha256:{ids[ENV]}"}]}
    (tmp_path / archive.MANIFEST).write_text(json.dumps(manifest))
    return tmp_path


def _edit_manifest(directory: Path, change) -> None:
    path = directory / archive.MANIFEST
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


@pytest.mark.parametrize("oci", [False, True])
def test_a_saved_directory_verifies(tmp_path: Path, oci: bool) -> None:
    path, images = archive.verify(saved_dir(tmp_path, oci))
    assert path == tmp_path / archive.ARCHIVE
    assert [(i.instance_id, i.image) for i in images] == [("a__b-1", TAG)]
    assert archive.archive_config_ids(path)[TAG] == images[0].image_id


def test_a_manifest_pinning_another_image_is_refused(tmp_path: Path) -> None:
    directory = saved_dir(tmp_path)
    _edit_manifest(directory, lambda m: m["images"][0].update(image_id="sha256:" + "0" * 64))
    with pytest.raises(UserError, match=r"images\.tar: issue-factory/instance\.a_1776_b:1 \(a__b-1\) has ID sha256:"):
        archive.verify(directory)


def test_a_changed_archive_is_refused_naming_it(tmp_path: Path) -> None:
    directory = saved_dir(tmp_path)
    with open(directory / archive.ARCHIVE, "r+b") as fh:
        fh.seek(600)
        fh.write(b"X")
    with pytest.raises(UserError, match="images.tar does not match its sha256"):
        archive.verify(directory)


def test_a_retagged_config_is_refused_even_with_a_fresh_archive_hash(tmp_path: Path) -> None:
    """Someone rebuilt the archive (and fixed its hash) with another image under the tag: the config digest
    inside no longer matches the pinned ID."""
    directory = saved_dir(tmp_path)
    with tarfile.open(directory / archive.ARCHIVE, "w") as tar:
        _add(tar, "other.json", b'{"config": "someone else"}')
        _add(tar, "manifest.json", json.dumps([{"Config": "other.json", "RepoTags": [TAG, ENV]}]).encode())
    data = (directory / archive.ARCHIVE).read_bytes()
    _edit_manifest(directory, lambda m: m["archive"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data)))
    with pytest.raises(UserError, match="but manifest.json says sha256:"):
        archive.verify(directory)


@pytest.mark.parametrize("change, message", [
    (lambda m: m.update(format="something/2"), "not a valid image manifest"),
    (lambda m: m["archive"].update(file="../elsewhere.tar"), "not a file name in the directory"),
    (lambda m: m["images"][0].update(image_id="abc"), "is not sha256:<64 hex>"),
    (lambda m: m["images"][0].pop("image"), "not a valid image manifest"),
])
def test_a_malformed_manifest_is_refused_naming_it(tmp_path: Path, change, message: str) -> None:
    directory = saved_dir(tmp_path)
    _edit_manifest(directory, change)
    with pytest.raises(UserError, match=message) as info:
        archive.verify(directory)
    assert str(directory / archive.MANIFEST) in info.value.what


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="manifest.json not found"):
        archive.verify(tmp_path)
    directory = saved_dir(tmp_path)
    (directory / archive.ARCHIVE).unlink()
    with pytest.raises(UserError, match="images.tar .named by .*manifest.json. not found"):
        archive.verify(directory)


def test_a_file_that_is_no_docker_archive_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.tar"
    path.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(UserError, match="junk.tar is not a readable `docker save` archive"):
        archive.archive_config_ids(path)
