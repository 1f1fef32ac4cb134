"""The Docker engine's side of the factory: ``factory doctor`` (is everything in place), ``clean``
(what we left behind) and ``images`` (the base images, with or without a registry)."""

from __future__ import annotations

from typing import Annotated

import typer

from factory.cli.common import DbOption, HomeOption, console, out, project_settings, setting_help
from factory.core.errors import UserError

PYTHON_HELP = "Python version: 3.9, 3.11 or 3.13. " + setting_help("images.default_python")


def doctor(db: DbOption = None, home: HomeOption = None) -> None:
    """Check Docker, base image, CA bundle and DB; say what to do for each problem.

    Example: factory doctor
    """
    from factory.pipeline.doctor import run_checks

    settings = project_settings(db=db, home=home)
    ok = True
    for check in run_checks(settings):
        mark = "[green]OK[/]" if check.ok else "[red]FAIL[/]"
        out.print(f"{mark:>20}  {check.name}: {check.detail}")
        if not check.ok:
            ok = False
            out.print(f"{'':>8}  fix: {check.fix}")
    if not ok:
        raise typer.Exit(1)


def clean(
    older_than: Annotated[
        str | None, typer.Option(help="Also remove env/instance images unused for this long: 30m, 12h, 7d, 2w.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    repo: Annotated[str | None, typer.Option(help="Only images of this repository (owner/name).")] = None,
    max_image_gb: Annotated[
        float | None, typer.Option(help="Image budget: evict least recently used env/instance images beyond it.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Remove containers and old images the factory left behind — only objects labelled issue-factory=1.

    Base images are kept; an image a container still uses is skipped. Last use of an image comes from the
    store (builds, verdicts), else its creation time.

    Example: factory clean --older-than 7d --dry-run
    Example: factory clean --max-image-gb 200
    """
    from factory.docker.cleanup import clean as clean_engine
    from factory.docker.cleanup import parse_duration
    from factory.docker.runtime import connect

    age = parse_duration(older_than) if older_than else None
    settings = project_settings(db=db)
    last_use = {}
    if settings.db_path.exists():
        from factory.store import Store

        with Store(settings.db_path, read_only=True) as store:
            last_use = store.image_last_use()
    if max_image_gb is not None and max_image_gb < 0:
        raise UserError(f"--max-image-gb {max_image_gb} is negative", "give a size in GB, e.g. 200")
    budget = int(max_image_gb * 1e9) if max_image_gb is not None else None
    report = clean_engine(connect(), age, last_use, dry_run, repos=[repo] if repo else None, max_bytes=budget)
    verb = "would remove" if dry_run else "removed"
    out.print(f"{verb} {len(report.containers)} container(s), {len(report.images)} image(s) "
              f"({report.freed_bytes / 1e9:.2f} GB)")
    for name in report.containers + report.images:
        out.print(f"  {name}")
    for note in report.skipped:
        out.print(f"  kept: {note}")


def images_bootstrap(
    python: Annotated[str | None, typer.Option(help=PYTHON_HELP)] = None,
    home: HomeOption = None,
) -> None:
    """Build the base image offline: debootstrap → docker import → CA bundle + venv layer.

    Example: factory images bootstrap --python 3.11
    """
    from factory.docker import base_images
    from factory.docker.runtime import connect

    settings = project_settings(home=home)
    python = python or settings.images.default_python
    client = connect()
    if base_images.is_current(client, python, settings):
        out.print(f"{base_images.base_tag(python)} is up to date")
        return
    tag = base_images.bootstrap(client, python, settings, say=lambda m: console.print(m))
    out.print(f"built {tag}")


def images_ensure(
    python: Annotated[str | None, typer.Option(help=PYTHON_HELP)] = None,
    home: HomeOption = None,
) -> None:
    """Make sure the base image exists: reuse, else pull python:<ver>-slim, else bootstrap.

    Example: factory images ensure
    """
    from factory.docker import base_images
    from factory.docker.runtime import connect

    settings = project_settings(home=home)
    python = python or settings.images.default_python
    tag = base_images.ensure(connect(), python, settings, say=lambda m: console.print(m))
    out.print(tag)

