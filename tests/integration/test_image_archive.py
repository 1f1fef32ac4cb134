"""``factory images save`` / ``load`` on the demo's real images: the manifest pins the IDs the export rows
carry, a load brings back a tag with the same image ID, and a tampered manifest is refused.

Only objects this test makes are removed: a re-tagged copy of one instance image (``docker rmi`` of that
tag only untags; the shared image stays for the other tests) and the archives it wrote.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from factory.core.errors import UserError
from factory.docker import archive
from factory.docker.names import registry_safe
from factory.pipeline import images


def test_save_pins_the_exported_digests_and_a_tampered_manifest_is_refused(pipeline, docker_client, tmp_path,
                                                                         run_factory) -> None:
    records = {r["instance_id"]: r for r in pipeline.records()}
    out = tmp_path / "saved"
    try:
        manifest = images.save(pipeline.store, docker_client, out)
        saved = {row["instance_id"]: row for row in manifest["images"]}
        assert sorted(saved) == sorted(records) and len(saved) >= 3
        for iid, row in saved.items():
            assert registry_safe(row["image"]) and registry_safe(row["env_image"])
            assert row["image_id"] == records[iid]["image_digest"] == docker_client.images.get(row["image"]).id
            assert row["env_image"] == records[iid]["env_image"]
        # every instance and env image is in the one archive, shared layers once
        inside = archive.archive_config_ids(out / archive.ARCHIVE)
        assert all(inside[row["image"]] == row["image_id"] for row in saved.values())
        assert archive.verify(out)[1]

        path = out / archive.MANIFEST
        good = path.read_text()
        tampered = json.loads(good)
        victim = tampered["images"][0]
        victim["image_id"] = tampered["images"][-1]["env_image_id"]  # a real ID, of another image
        path.write_text(json.dumps(tampered))
        refused = run_factory("images", "load", str(out))
        assert refused.returncode == 2, refused.output
        assert "manifest.json says" in refused.output and victim["image"] in refused.output
        with pytest.raises(UserError, match="images.tar: .* has ID"):
            archive.load(docker_client, out)
        path.write_text(good)

        one = sorted(saved)[0]
        with pytest.raises(UserError, match="is mined|not a valid instance|no instance"):
            images.entries(pipeline.store, [one, "nobody__nothing-1"])
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_a_removed_tag_comes_back_from_the_archive_with_its_image_id(pipeline, docker_client, tmp_path,
                                                                    run_factory) -> None:
    source = next(r for r in pipeline.records())
    image = docker_client.images.get(source["image"])
    copy_repo, copy_tag = "issue-factory/wt16d-archive-copy", f"p{os.getpid()}"
    copy = f"{copy_repo}:{copy_tag}"
    assert image.tag(copy_repo, copy_tag)
    out = tmp_path / "copy"
    try:
        manifest = archive.save(docker_client, [("copy-of-" + source["instance_id"], copy, "")], out)
        assert manifest["images"][0]["image_id"] == image.id
        docker_client.images.remove(copy)  # only untags our copy: the instance image keeps its own tag
        assert archive.image_id(docker_client, copy) == ""
        loaded = run_factory("images", "load", str(out), "--json")
        assert loaded.returncode == 0, loaded.output
        assert json.loads(loaded.stdout)["images"][0]["image_id"] == image.id
        assert docker_client.images.get(copy).id == image.id == docker_client.images.get(source["image"]).id
    finally:
        if archive.image_id(docker_client, copy):
            docker_client.images.remove(copy)
        shutil.rmtree(out, ignore_errors=True)
