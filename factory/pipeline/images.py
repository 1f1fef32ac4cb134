"""The store's side of ``factory images save``: which instances' images to carry, and a check that each is
still the image the instance was validated in.

Why here and not in ``factory.docker.archive``: choosing valid instances and their env images is a reading
of the store; the archive module only knows tags and the engine. An image rebuilt under the same tag after
validation (``image_id`` recorded at validation differs from the engine's) is refused, so a saved archive
never pins an image nobody validated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import docker

from factory.core.errors import UserError
from factory.core.models import Status
from factory.docker import archive
from factory.store import Store


def entries(store: Store, only: Iterable[str] | None = None) -> list[tuple[str, str, str, str]]:
    """``(instance_id, image, env_image, image_id recorded at validation)`` of each valid instance (or of
    the ``only`` ones, which must be valid)."""
    wanted = set(only or [])
    rows = []
    for inst in store.instances():
        if wanted and inst.instance_id not in wanted:
            continue
        if inst.status is not Status.VALID or not inst.image:
            if wanted:
                raise UserError(f"{inst.instance_id} is {inst.status.value}, not a valid instance with an image",
                                "save only valid instances (`factory status --list` shows them)")
            continue
        env = store.environment(inst.fingerprint) if inst.fingerprint else None
        rows.append((inst.instance_id, inst.image, env.image_tag if env else "", inst.image_id))
    unknown = sorted(wanted - {r[0] for r in rows})
    if unknown:
        raise UserError(f"no instance {', '.join(unknown)} in {store.path}",
                        "check the id with `factory status --list`")
    return rows


def save(store: Store, client: docker.DockerClient, out_dir: Path, only: Iterable[str] | None = None,
         say: Callable[[str], None] = lambda _: None) -> dict:
    """Save the chosen instances' images (with their env images) into ``out_dir``: see :func:`archive.save`."""
    chosen = entries(store, only)
    for iid, tag, _env, recorded in chosen:
        current = archive.image_id(client, tag)
        if recorded and current and current != recorded:
            raise UserError(f"{tag} of {iid} is {current} now, not the image {recorded} it was validated in",
                            f"validate it again (`factory build --rebuild --instance {iid}`) before saving")
    return archive.save(client, [(iid, tag, env) for iid, tag, env, _ in chosen], out_dir, say)
