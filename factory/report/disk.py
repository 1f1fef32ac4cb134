"""Disk used by the store's images, asked of the Docker engine when it answers (the store keeps tags, not sizes).

Why apart and optional: the report is built from the store and must work on a machine without an engine
(a laptop reading a copied DuckDB file); there the overview says the engine was not asked. Only images this
store names (env tags, instance images, base images) count: a shared engine holds other projects' too. The
engine reports each image with the layers it shares; an instance image is counted as its size minus its
env image's (label ``issue-factory.env``), which is what it adds on disk.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from factory.store import Store


@dataclass
class Disk:
    asked: bool
    note: str = ""
    kinds: list[dict] = field(default_factory=list)
    """Per kind (base, env, instance): images, engine-reported bytes, bytes it adds on disk."""

    @property
    def total(self) -> int:
        return sum(k["own_bytes"] for k in self.kinds)


def referenced_tags(store: Store) -> set[str]:
    return {r["tag"] for r in store.select(
        "SELECT image_tag AS tag FROM environments WHERE image_tag <> '' UNION SELECT base_image FROM environments"
        " WHERE base_image <> '' UNION SELECT image FROM instances WHERE image <> ''")}


def disk_usage(store: Store, engine: bool = True) -> Disk:
    """Sizes of the store's images per kind, or why they were not asked for."""
    if not engine:
        return Disk(False, "not asked (--no-engine)")
    try:
        from factory.docker.cleanup import our_images
        from factory.docker.runtime import connect

        images = our_images(connect())
    except Exception as exc:  # no engine here: the report is still the store's
        return Disk(False, f"the Docker engine did not answer ({type(exc).__name__})")
    tags = referenced_tags(store)
    mine = [i for i in images if tags.intersection(i.tags)]
    size_of = {t: i.size for i in images for t in i.tags}
    kinds: dict[str, dict] = {}
    for image in mine:
        k = kinds.setdefault(image.kind, {"kind": image.kind, "images": 0, "bytes": 0, "own_bytes": 0})
        k["images"] += 1
        k["bytes"] += image.size
        parent = size_of.get(image.env, 0) if image.kind == "instance" else 0
        k["own_bytes"] += max(0, image.size - parent)
    order = {"base": 0, "env": 1, "instance": 2}
    return Disk(True, "", sorted(kinds.values(), key=lambda k: order.get(k["kind"], 3)))
