"""``factory doctor``: is this machine ready? Each check says OK, or exactly what to do."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from factory.core.errors import UserError
from factory.core.settings import Settings


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _docker(settings: Settings) -> tuple[list[Check], object | None]:
    from factory.docker.runtime import connect, our_containers

    try:
        client = connect()
    except UserError as exc:
        return [Check("docker", False, exc.what, exc.fix)], None
    version = client.version().get("Version", "?")
    checks = [Check("docker", True, f"engine {version} answers")]
    from factory.docker.cleanup import leftover_containers

    running = len(our_containers(client))
    leaked = [(c.get("Names") or [c["Id"][:12]])[0].lstrip("/") for c in leftover_containers(client)]
    checks.append(Check(
        "containers", not leaked,
        f"{len(leaked)} issue-factory container(s) left over: {', '.join(leaked[:10])}" if leaked
        else f"no issue-factory containers left over ({running} in use by running factory processes)",
        "run `factory clean` (only issue-factory containers are touched)",
    ))
    from factory.docker.cleanup import our_images

    images = our_images(client)
    by_kind: dict[str, float] = {}
    for image in images:
        by_kind[image.kind] = by_kind.get(image.kind, 0.0) + image.size / 1e9
    parts = ", ".join(f"{kind} {gb:.1f} GB" for kind, gb in sorted(by_kind.items())) or "none"
    checks.append(Check("images", True, f"{len(images)} issue-factory image(s): {parts} (shared layers counted "
                        "per image)", "`factory clean --older-than 7d` removes env/instance images unused that long"))
    return checks, client


def _base_image(client, settings: Settings) -> Check:
    from factory.docker import base_images

    tag = base_images.base_tag(settings.images.default_python)
    if base_images.is_current(client, settings.images.default_python, settings):
        return Check("base image", True, f"{tag} present, with the current CA bundle")
    return Check("base image", False, f"{tag} missing or built with another CA bundle",
                 "run `factory images ensure` (offline: `factory images bootstrap`)")


def _ca_bundle(settings: Settings) -> Check:
    if not settings.images.ca_bundle:
        return Check("CA bundle", False, "no host CA bundle found",
                     "set FACTORY_CA_BUNDLE (or SSL_CERT_FILE) if installs go through a TLS proxy")
    text = Path(settings.images.ca_bundle).read_text(errors="replace")
    count = text.count("BEGIN CERTIFICATE")
    return Check("CA bundle", count > 0, f"{settings.images.ca_bundle} ({count} certificates)",
                 "point FACTORY_CA_BUNDLE at a PEM file of CA certificates")


def _database(settings: Settings) -> Check:
    from factory.store import Store

    if not settings.db_path.exists():
        parent = settings.db_path.resolve().parent
        while not parent.exists():
            parent = parent.parent
        writable = parent.is_dir() and os.access(parent, os.W_OK)
        return Check("database", writable, f"{settings.db_path} does not exist yet; it will be created on first use"
                     if writable else f"cannot create {settings.db_path}: {parent} is not writable",
                     "pass --db (or FACTORY_DB) pointing to a writable location")
    try:
        with Store(settings.db_path, read_only=True) as store:  # a check must not change the file
            migrations, pending = store.migrations(), store.pending_migrations()
            counts = store.table_counts() if not pending else {}
    except UserError as exc:
        return Check("database", False, exc.what, exc.fix)
    detail = f"{settings.db_path}: migrations {', '.join(migrations)}"
    if pending:
        detail += f"; {', '.join(pending)} will be applied on the next command that writes"
    return Check("database", True, detail + "; " + ", ".join(f"{k} {v}" for k, v in counts.items()))


def _disk(settings: Settings) -> Check:
    path = settings.home if settings.home.exists() else Path(".")
    free_gb = shutil.disk_usage(path).free / 1e9
    return Check("disk", free_gb > 5, f"{free_gb:.1f} GB free at {path.resolve()}", "free disk space (images need GBs)")


def run_checks(settings: Settings) -> list[Check]:
    checks, client = _docker(settings)
    if client is not None:
        checks.append(_base_image(client, settings))
    checks.append(Check(
        "debootstrap", bool(shutil.which("debootstrap")),
        "available for offline base images" if shutil.which("debootstrap") else "not installed",
        "apt-get install debootstrap (only needed when no registry is reachable)",
    ))
    checks += [_ca_bundle(settings), _database(settings), _disk(settings)]
    return checks
