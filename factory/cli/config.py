"""``factory config``: every setting with its effective value and where that value comes from.

The table is read from the settings model itself (:mod:`factory.core.settings`), resolved as a run
resolves it (built-in < ``factory.toml`` < ``FACTORY_*`` < flag), so it is the answer to "what will this
run use, and why". ``factory build --show-config`` prints the same table for one build's flags.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from factory.cli.common import ConfigOption, DbOption, HomeOption, out, project_settings, shown
from factory.core.project import Project
from factory.core.resolve import get, setting_fields


def rows(settings: Project) -> list[dict]:
    """One row per setting: key, value, origin (default / file / env X / flag --x), env vars, description."""
    values = settings.model_dump(by_alias=True, mode="json")
    return [{"key": f.key, "value": get(values, f.key), "origin": settings.origins.get(f.key, "default"),
             "env": f.env, "description": f.description} for f in setting_fields()]


def print_settings(settings: Project, as_json: bool = False) -> None:
    if as_json:
        out.print_json(json.dumps({"config": str(settings.path) if settings.path else None,
                                   "settings": rows(settings)}))
        return
    where = f"project file {settings.path}" if settings.path else "no project file"
    table = Table(title=f"settings ({escape(where)}; built-in < factory.toml < environment < flag)")
    for col in ("setting", "value", "from", "environment variable"):
        table.add_column(col)
    for row in rows(settings):
        origin = row["origin"]
        style = "dim" if origin == "default" else "bold"
        table.add_row(row["key"], escape(shown(row["value"])), f"[{style}]{escape(origin)}[/]",
                      ", ".join(row["env"]))
    out.print(table)


def config(
    config: ConfigOption = None,
    db: DbOption = None,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the settings as JSON.")] = False,
) -> None:
    """Show every setting's effective value and where it comes from (default, factory.toml, env, flag).

    Example: FACTORY_CPUS=0.5 factory config --json
    """
    print_settings(project_settings(config, db, home), as_json)
