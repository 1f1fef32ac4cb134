"""Base images (OS + Python toolchain + git + host CA bundle), with or without a registry.

``ensure`` is what every build calls: reuse the local image, else pull ``python:<ver>-slim`` if a
registry answers in time, else ``bootstrap`` offline — debootstrap a Debian minbase with that
release's python3, ``docker import`` it, and add our top layer. Repeated calls cost one image lookup.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import APIError, DockerException

from factory.core.errors import UserError
from factory.core.settings import DEBIAN_PYTHONS, Settings
from factory.core.templates import render
from factory.docker.runtime import build_image, image_exists, image_labels, labels

DEBOOTSTRAP_PACKAGES = [
    "python3", "python3-venv", "python3-pip", "python3-dev", "git", "build-essential", "patch",
    "ca-certificates",
]


def base_tag(python_version: str) -> str:
    return f"issue-factory/python:{python_version}"


def rootfs_tag(suite: str) -> str:
    return f"issue-factory/rootfs:{suite}"


def _ca_bytes(settings: Settings) -> bytes:
    if settings.images.ca_bundle and Path(settings.images.ca_bundle).is_file():
        return Path(settings.images.ca_bundle).read_bytes()
    return b""


def _ca_digest(settings: Settings) -> str:
    return hashlib.sha256(_ca_bytes(settings)).hexdigest()[:16]


def _check_version(python_version: str) -> str:
    if python_version not in DEBIAN_PYTHONS:
        known = ", ".join(DEBIAN_PYTHONS)
        raise UserError(f"no base image recipe for Python {python_version}", f"use one of {known}")
    return DEBIAN_PYTHONS[python_version]


def is_current(client: docker.DockerClient, python_version: str, settings: Settings) -> bool:
    """True if the base image exists and carries today's CA bundle."""
    found = image_labels(client, base_tag(python_version))
    return bool(found) and found.get("issue-factory.ca") == _ca_digest(settings)


def ensure(
    client: docker.DockerClient,
    python_version: str,
    settings: Settings,
    say: Callable[[str], None] = print,
) -> str:
    """Return the base image tag for ``python_version``, making it the cheapest way available."""
    _check_version(python_version)
    tag = base_tag(python_version)
    if is_current(client, python_version, settings):
        return tag
    suite = DEBIAN_PYTHONS[python_version]
    if image_exists(client, rootfs_tag(suite)):
        return _top_layer(client, rootfs_tag(suite), python_version, settings, from_registry=False)
    slim = f"python:{python_version}-slim"
    if image_exists(client, slim) or _pull(client, slim, settings.images.registry_timeout):
        say(f"using {slim} from the registry")
        return _top_layer(client, slim, python_version, settings, from_registry=True)
    say(f"no registry answered; bootstrapping Python {python_version} from Debian {suite} (a few minutes)")
    return bootstrap(client, python_version, settings, say)


def _pull(client: docker.DockerClient, image: str, timeout: float) -> bool:
    """Pull in a thread we stop waiting for after ``timeout`` s (a dead registry can hang a pull)."""
    outcome: list[bool] = []

    def pull() -> None:
        try:
            repo, tag = image.split(":")
            client.images.pull(repo, tag=tag)
            outcome.append(True)
        except (APIError, DockerException, Exception):
            outcome.append(False)

    worker = threading.Thread(target=pull, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(outcome and outcome[0])


def bootstrap(
    client: docker.DockerClient,
    python_version: str,
    settings: Settings,
    say: Callable[[str], None] = print,
) -> str:
    """Build the base image with no registry: debootstrap → ``docker import`` → our top layer."""
    suite = _check_version(python_version)
    if not shutil.which("debootstrap"):
        raise UserError(
            "debootstrap is not installed, and no registry provides python images",
            "install it (`apt-get install debootstrap`, as root) or make a registry reachable",
        )
    work = Path(tempfile.mkdtemp(prefix="factory-rootfs-", dir=_scratch_dir(settings)))
    try:
        target = work / "rootfs"
        cmd = [
            "debootstrap", "--variant=minbase", f"--include={','.join(DEBOOTSTRAP_PACKAGES)}",
            suite, str(target), settings.images.debian_mirror,
        ]
        say(f"$ {' '.join(cmd)}")
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise UserError(
                f"debootstrap of Debian {suite} failed:\n{tail}",
                "check that the Debian mirror is reachable (FACTORY_DEBIAN_MIRROR) and that you are root",
            )
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(target / junk, ignore_errors=True)
            (target / junk).mkdir(parents=True, exist_ok=True)
        tarball = work / "rootfs.tar"
        subprocess.run(["tar", "-C", str(target), "-cf", str(tarball), "."], check=True)
        say(f"importing the root filesystem as {rootfs_tag(suite)}")
        repo, tag = rootfs_tag(suite).split(":")
        client.api.import_image_from_file(
            str(tarball), repository=repo, tag=tag, changes=[f"LABEL {k}={v}" for k, v in labels().items()]
        )
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    return _top_layer(client, rootfs_tag(suite), python_version, settings, from_registry=False)


def _scratch_dir(settings: Settings) -> str:
    path = settings.home / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def _top_layer(
    client: docker.DockerClient, from_image: str, python_version: str, settings: Settings, from_registry: bool
) -> str:
    tag = base_tag(python_version)
    context = Path(tempfile.mkdtemp(prefix="factory-base-", dir=_scratch_dir(settings)))
    try:
        (context / "factory-host-ca.crt").write_bytes(_ca_bytes(settings))
        (context / "Dockerfile").write_text(
            render(
                "base.Dockerfile.j2",
                from_image=from_image,
                python_version=python_version,
                install_toolchain=from_registry,
                python="python3" if not from_registry else "python",
            )
        )
        build_image(
            client,
            context,
            tag,
            extra_labels={"issue-factory.ca": _ca_digest(settings), "issue-factory.python": python_version},
            log_path=settings.home / "logs" / f"base-{python_version}.log",
        )
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return tag
