"""``factory images save`` / ``load``: carry the exact images of a dataset to another Docker engine, without a
registry, and prove on arrival that they are the images the instances were validated in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from factory.cli.common import DbOption, console, open_store, out, project_settings

JsonOption = Annotated[bool, typer.Option("--json", help="Print the manifest's images as JSON.")]


def _print(images: list[dict], as_json: bool, verb: str, where: Path) -> None:
    if as_json:
        out.print_json(json.dumps({"directory": str(where), "images": images}))
        return
    out.print(f"{verb} {len(images)} instance image(s) in {where}")
    for row in images:
        out.print(f"  {row['instance_id']}  {row['image']}  {row['image_id'][:19]}")


def images_save(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write images.tar and manifest.json into.")],
    instance: Annotated[
        list[str] | None,
        typer.Option("--instance", help="Only this instance id (repeatable; default: every valid one)."),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Save the valid instances' images (with the env and base layers they share, once) and a manifest of their
    image IDs. Copy the directory anywhere; `factory images load` checks every digest there.

    Example: factory images save --out dataset-images --json
    Example: factory images save --out one --instance tinyledger__tinyledger-3
    """
    from factory.docker.runtime import connect
    from factory.pipeline import images

    settings = project_settings(db=db)
    with open_store(settings) as store:
        manifest = images.save(store, connect(), out_dir, instance, say=lambda m: console.print(m))
    _print(manifest["images"], as_json, "saved", out_dir)


def images_load(
    directory: Annotated[Path, typer.Argument(help="A directory written by `factory images save`.")],
    as_json: JsonOption = False,
) -> None:
    """Load saved images into this Docker engine, refusing an archive or image whose digest differs from the
    manifest (checked before loading, from the archive, and after, from the engine).

    Example: factory images load dataset-images && factory eval --dataset dataset.jsonl --predictions gold
    """
    from dataclasses import asdict

    from factory.docker.archive import load
    from factory.docker.runtime import connect

    loaded = load(connect(), directory, say=lambda m: console.print(m))
    _print([asdict(s) for s in loaded], as_json, "loaded", directory)
