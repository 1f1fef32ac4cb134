"""Cleanup fault scenarios on a shared engine: only our labelled leftovers go, doctor sees leaks, and an
image budget on ``factory build`` evicts this project's least recently used images — nothing else.

The objects made here carry repository names of their own (``cleantest/x``, ``acme/budget``), so the
scenarios never touch images other tests or users rely on.
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import tarfile
from pathlib import Path

import docker

from factory.docker.names import repo_slug
from factory.store import Store
from tests.faults import FaultRow, statuses
from tests.repo_fixtures import new_repo, pyproject

BASE = "issue-factory/python:3.11"


def make_image(client: docker.DockerClient, tag: str, labelled: bool) -> str:
    """A tiny image on the base image, with or without our label."""
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


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    return bool(client.images.list(name=tag))


def container_exists(client: docker.DockerClient, container) -> bool:
    try:
        client.containers.get(container.id)
        return True
    except docker.errors.NotFound:
        return False


@contextlib.contextmanager
def leftovers(client: docker.DockerClient):
    """Labelled and unlabelled containers and images, removed again afterwards whatever happened."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = socket.gethostname()
    made = {
        "dead_owner": client.containers.create(BASE, "true", labels={
            "issue-factory": "1", "issue-factory.owner": f"{host}:{dead.pid}"}),
        "live_owner": client.containers.create(BASE, "true", labels={
            "issue-factory": "1", "issue-factory.owner": f"{host}:{os.getpid()}"}),
        "unlabelled": client.containers.create(BASE, "true"),
    }
    tags = {"env": "issue-factory/env.cleantest__x:1", "instance": "issue-factory/instance.cleantest__x:1",
            "unlabelled": "cleantest-unlabelled:1"}
    try:
        make_image(client, tags["env"], True)
        make_image(client, tags["instance"], True)
        make_image(client, tags["unlabelled"], False)
        yield made, tags
    finally:
        for c in made.values():
            with contextlib.suppress(docker.errors.NotFound):
                c.remove(force=True)
        for tag in tags.values():
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.images.remove(tag, force=True)


def _cli(cmd: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "250"})


def clean_and_doctor_rows(workdir: Path, factory_cmd: list[str]) -> list[FaultRow]:
    client = docker.from_env()
    db = str(workdir / "none.duckdb")
    with leftovers(client) as (made, tags):
        doctor = _cli(factory_cmd, workdir, "doctor", "--db", db, "--home", str(workdir / "home"))
        sees = made["dead_owner"].name in doctor.stdout and made["live_owner"].name not in doctor.stdout
        disk = "issue-factory image(s)" in doctor.stdout and "GB" in doctor.stdout
        doctor_row = FaultRow(
            "cleanup: factory doctor on a leaked container", "reports the leak and our image disk",
            ("reports the leak" if sees else "misses the leak") + (" and our image disk" if disk else ", no disk"),
            detail=next((line.strip() for line in doctor.stdout.splitlines() if "left over" in line), "")[:100])

        done = _cli(factory_cmd, workdir, "clean", "--older-than", "0s", "--repo", "cleantest/x", "--db", db)
        gone = {
            "dead-owner container": not container_exists(client, made["dead_owner"]),
            "our env image": not image_exists(client, tags["env"]),
            "our instance image": not image_exists(client, tags["instance"]),
        }
        kept = {
            "live-owner container": container_exists(client, made["live_owner"]),
            "unlabelled container": container_exists(client, made["unlabelled"]),
            "unlabelled image": image_exists(client, tags["unlabelled"]),
            "base image": image_exists(client, BASE),
        }
    observed = ", ".join(
        [f"removed {'+'.join(k for k, v in gone.items() if v) or 'nothing'}"]
        + [f"kept {'+'.join(k for k, v in kept.items() if v) or 'nothing'}"]
        + ([f"exit {done.returncode}"] if done.returncode else []))
    clean_row = FaultRow(
        "cleanup: factory clean --older-than 0s --repo cleantest/x",
        "removed dead-owner container+our env image+our instance image, "
        "kept live-owner container+unlabelled container+unlabelled image+base image",
        observed, detail=done.stdout.strip().splitlines()[-1][:100] if done.stdout.strip() else "")
    return [doctor_row, clean_row]


def _budget_repo(root: Path) -> Path:
    g = new_repo(root, "acme/budget")
    source = "def one():\n    return 1\n"
    g.commit("Initial import", {"pyproject.toml": pyproject("budget"), "src/budget/__init__.py": source,
                                "tests/test_one.py": "from budget import one\n\n\ndef test_one():\n    assert one()\n"})
    for name, value in (("two", 2), ("three", 3), ("four", 4)):
        source += f"\n\ndef {name}():\n    return {value}\n"
        g.commit(f"Add {name}", {"src/budget/__init__.py": source, f"tests/test_{name}.py": (
            f"from budget import {name}\n\n\ndef test_{name}():\n    assert {name}() == {value}\n")})
    return root


def budget_row(workdir: Path, factory_cmd: list[str]) -> FaultRow:
    """Build acme/budget (1 env + 3 instance images), then a build with a budget of the env image plus 1.5
    instance images: the two least recently used instance images must go, nothing of anyone else."""
    scenario = "image budget: factory build --max-image-gb (this project only, LRU first)"
    expected = "evicted the 2 least recently used instance images; kept the newest + env; within budget; " \
               "other images untouched"
    client = docker.from_env()
    repo = _budget_repo(workdir / "budget")
    db, home = workdir / "budget.duckdb", workdir / "budget-home"
    where = ("--db", str(db), "--home", str(home))
    for args in (("mine", "--git", str(repo)), ("build", "--workers", "2")):
        done = _cli(factory_cmd, workdir, *args, *where)
        if done.returncode != 0:
            return FaultRow(scenario, expected, f"`factory {args[0]}` failed: {done.stderr[-200:]}")
    if sorted(statuses(db).values()) != ["valid"] * 3:
        return FaultRow(scenario, expected, f"setup: statuses {statuses(db)}")
    with Store(db, read_only=True) as store:
        last_use = store.image_last_use()
        instances = [i.image for i in store.instances()]
        env = {store.environment(i.fingerprint).image_tag for i in store.instances()}
    (env_tag,) = env
    by_age = sorted(instances, key=lambda t: last_use[t])
    sizes = {t: client.images.get(t).attrs["Size"] for t in [*instances, env_tag]}
    budget = sizes[env_tag] + 1.5 * sizes[by_age[-1]]
    others = {i.id for i in client.images.list(filters={"label": "issue-factory=1"})
              if not any(repo_slug("acme/budget") in t for t in i.tags)}

    done = _cli(factory_cmd, workdir, "build", "--max-image-gb", f"{budget / 1e9:.6f}", *where)
    left = [t for t in [*instances, env_tag] if image_exists(client, t)]
    still_others = {i.id for i in client.images.list(filters={"label": "issue-factory=1"})}
    evicted = {t for t in instances if t not in left}  # a set: the store lists instances in no set order
    parts = [
        "evicted the 2 least recently used instance images" if evicted == set(by_age[:2]) else f"evicted {evicted}",
        "kept the newest + env" if set(left) == {by_age[-1], env_tag} else f"kept {left}",
        "within budget" if sum(sizes[t] for t in left) <= budget else "OVER budget",
        "other images untouched" if others <= still_others else f"{len(others - still_others)} other image(s) gone",
    ]
    return FaultRow(scenario, expected, "; ".join(parts),
                    detail=f"budget {budget / 1e9:.2f} GB, sizes counted per image; exit {done.returncode}; "
                           f"{(done.stdout + done.stderr).strip().splitlines()[0][:80] if done.stdout else ''}")


def cleanup_rows(workdir: Path, factory_cmd: list[str]) -> list[FaultRow]:
    return [*clean_and_doctor_rows(workdir, factory_cmd), budget_row(workdir, factory_cmd)]
