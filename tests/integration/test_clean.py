"""``factory clean`` and ``factory doctor`` on the real engine: only our labelled objects go, and only
when they are really left over (a live process's container stays, whatever its state)."""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import tarfile

import docker
import pytest

BASE = "issue-factory/python:3.11"


def _image(client, tag: str, labelled: bool) -> str:
    dockerfile = f"FROM {BASE}\n" + ('LABEL issue-factory="1"\n' if labelled else "") + f"RUN echo {tag}\n"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    image, _ = client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
    return image.id


@pytest.fixture
def objects(docker_client):
    """Labelled and unlabelled containers and images of this test only (removed afterwards)."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    made = {
        "dead_owner": docker_client.containers.create(BASE, "true", labels={
            "issue-factory": "1", "issue-factory.owner": f"{host}:{dead.pid}"}),
        "live_owner": docker_client.containers.create(BASE, "true", labels={
            "issue-factory": "1", "issue-factory.owner": f"{host}:{os.getpid()}"}),
        "unlabelled": docker_client.containers.create(BASE, "true"),
    }
    tags = {"env": "issue-factory/env.cleantest__x:1", "instance": "issue-factory/instance.cleantest__x:1",
            "unlabelled": "cleantest-unlabelled:1"}
    _image(docker_client, tags["env"], True)
    _image(docker_client, tags["instance"], True)
    _image(docker_client, tags["unlabelled"], False)
    yield made, tags
    for c in made.values():
        with contextlib.suppress(docker.errors.NotFound):  # the test removed it, as intended
            c.remove(force=True)
    for tag in tags.values():
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(tag, force=True)


def _exists_container(client, c) -> bool:
    try:
        client.containers.get(c.id)
        return True
    except docker.errors.NotFound:
        return False


def _exists_image(client, tag) -> bool:
    return bool(client.images.list(name=tag))


def test_clean_removes_only_our_leftovers(objects, docker_client, run_factory, tmp_path):
    made, tags = objects
    db = str(tmp_path / "none.duckdb")
    dry = run_factory("clean", "--older-than", "0s", "--repo", "cleantest/x", "--dry-run", "--db", db)
    assert dry.returncode == 0, dry.output
    assert made["dead_owner"].name in dry.stdout and tags["env"] in dry.stdout and tags["instance"] in dry.stdout
    assert _exists_container(docker_client, made["dead_owner"]) and _exists_image(docker_client, tags["env"])

    done = run_factory("clean", "--older-than", "0s", "--repo", "cleantest/x", "--db", db)
    assert done.returncode == 0, done.output
    assert not _exists_container(docker_client, made["dead_owner"])
    assert _exists_container(docker_client, made["live_owner"])  # its process lives: never a leftover
    assert _exists_container(docker_client, made["unlabelled"])
    assert not _exists_image(docker_client, tags["env"]) and not _exists_image(docker_client, tags["instance"])
    assert _exists_image(docker_client, tags["unlabelled"]) and _exists_image(docker_client, BASE)


def test_doctor_reports_leftover_containers_and_image_disk(objects, run_factory, tmp_path):
    made, _tags = objects
    done = run_factory("doctor", "--db", str(tmp_path / "none.duckdb"), "--home", str(tmp_path / "home"))
    assert "container(s) left over" in done.stdout and made["dead_owner"].name in done.stdout
    assert made["live_owner"].name not in done.stdout
    assert "issue-factory image(s)" in done.stdout and "GB" in done.stdout


def test_clean_rejects_a_bad_duration(run_factory):
    done = run_factory("clean", "--older-than", "soon")
    assert done.returncode == 2 and "30m, 12h, 7d" in done.stderr and "Traceback" not in done.output


def test_an_image_budget_evicts_the_least_recently_used_images(docker_client, run_factory, tmp_path):
    tags = [f"issue-factory/env.budgettest__x:{n}" for n in (1, 2, 3)]
    try:
        for tag in tags:  # created one after the other: 1 is the least recently used
            _image(docker_client, tag, True)
        sizes = [docker_client.images.get(t).attrs["Size"] for t in tags]
        budget_gb = (sizes[1] + sizes[2]) / 1e9 + 0.001
        done = run_factory("clean", "--repo", "budgettest/x", "--max-image-gb", f"{budget_gb:.6f}",
                           "--db", str(tmp_path / "none.duckdb"))
        assert done.returncode == 0, done.output
        assert [_exists_image(docker_client, t) for t in tags] == [False, True, True]
        assert _exists_image(docker_client, BASE)
    finally:
        for tag in tags:
            with contextlib.suppress(docker.errors.ImageNotFound):
                docker_client.images.remove(tag, force=True)
