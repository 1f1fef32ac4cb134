"""What every ``factory`` command shares: the consoles, the common options, settings resolution and the
helpers that run a Prefect flow or open the store.

Commands are thin: they parse options, call one library function and print. Heavy modules (docker, the
builder, Prefect) are imported inside the commands that need them, so ``factory --help`` starts fast.
Every default a ``--help`` text shows is the *effective* one (built-in < ``factory.toml`` < environment),
read from :mod:`factory.core.settings` through :func:`factory.core.resolve.resolve` — the same function a
run uses, so the help cannot promise what the run does not do.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from factory.core.errors import UserError
from factory.core.project import Project
from factory.core.resolve import effective, find_config, get, resolve, setting_fields

console = Console(stderr=True)
out = Console()
if not out.is_terminal:  # logs and pipes: wide enough that tables do not fold every cell
    out = Console(width=160)


@cache
def _effective() -> Project:
    return effective()


@cache
def _descriptions() -> dict[str, str]:
    return {f.key: f.description for f in setting_fields()}


def shown(value: object) -> str:
    """A setting's value as ``--help`` and ``factory config`` print it."""
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def effective_value(key: str) -> str:
    """``2 (from factory.toml)``: the value setting ``key`` has here unless a flag says otherwise."""
    project = _effective()
    value = shown(get(project.model_dump(by_alias=True), key))
    return f"{value} (from {project.origins.get(key, 'the built-in default')})"


def default_note(key: str) -> str:
    """``(default: 2, from factory.toml)``: the effective default of setting ``key`` in this directory."""
    project = _effective()
    origin = project.origins.get(key)
    value = shown(get(project.model_dump(by_alias=True), key))
    return f"(default: {value}" + (f", from {origin})" if origin else ")")


def setting_help(key: str, text: str | None = None) -> str:
    """Help text of a flag that sets ``key``: the setting's own docstring (or ``text``) and its effective
    default. Square brackets are escaped for rich (``\\[build]``)."""
    body = text or _descriptions()[key]
    return f"{body} {default_note(key)}".replace("[", "\\[")


DbOption = Annotated[Path | None, typer.Option("--db", help=setting_help("db"))]
HomeOption = Annotated[Path | None, typer.Option("--home", help=setting_help("home"))]
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="Project file (default: ./factory.toml when it exists).")
]


def project_settings(
    config: Path | None = None,
    db: Path | None = None,
    home: Path | None = None,
    flags: Mapping[str, object] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Project:
    """The settings a command runs with: defaults < the project file (``--config`` or ./factory.toml) <
    environment < ``--db`` / ``--home`` and the command's own ``flags`` (dotted keys)."""
    every = {"db": str(db) if db is not None else None, "home": str(home) if home is not None else None,
             **(flags or {})}
    return resolve(find_config(config), flags=every, flag_names=flag_names)


def open_store(settings: Project):
    """The store for a command that writes: it holds the writer lock, so it fails at once (naming the
    holder's PID) while another factory process writes the same file."""
    from factory.store import Store

    return Store(settings.db_path)


@contextmanager
def reading(settings: Project) -> Iterator:
    """The store for a command that only looks (``status``, ``eval-status``, ``export``): read-only, no
    writer lock, so it answers while ``factory build`` runs; the file stays open for the block (one open,
    one consistent view: keep the block to reads). A file that does not exist yet, or that an older factory
    wrote (pending migrations), is created / migrated first when no one is writing it."""
    from factory.store import Store

    if settings.db_path.exists():
        with Store(settings.db_path, read_only=True) as reader, reader.session():
            if not reader.pending_migrations():
                yield reader
                return
    Store(settings.db_path).close()  # StoreLocked (with the holder's PID) if a writer has the file
    with Store(settings.db_path, read_only=True) as reader, reader.session():
        yield reader


@contextmanager
def resumable(command: str):
    """Ctrl-C during long work: say that finished steps are kept and how to resume (exit 130)."""
    try:
        yield
    except KeyboardInterrupt:
        console.print(f"\ninterrupted: every finished step is stored; run `factory {command}` again to resume")
        raise typer.Exit(130) from None


def parse_date(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise UserError(f"{flag} {value!r} is not a date", "use ISO format, e.g. 2024-03-01") from exc


def flow_paths(settings: Project) -> dict[str, str]:
    """The flow parameters that carry the resolved store and home into a flow run."""
    return {"db": str(settings.db_path), "home": str(settings.home)}


def run_flow(flow_fn, on_done=None, watcher=None, **params):
    """Run a Prefect flow in this process, CLI-style: Prefect's console lines off (the UI keeps them), our
    progress on (``watcher``: a :class:`flows.common.Watch`; ``on_done`` alone: told each finished
    instance), and a word about Prefect's temporary server when no ``PREFECT_API_URL`` is set."""
    import os

    from flows.common import Watch, quiet_console, require_api, watch

    require_api()
    quiet_console()
    if not os.environ.get("PREFECT_API_URL"):
        console.print("[dim]no PREFECT_API_URL: using Prefect's temporary local server (set PREFECT_API_URL, e.g. "
                      "from `prefect server start`, to keep runs in the UI and skip its start-up)[/]")
    token = watch.set(watcher or Watch(done=on_done))
    try:
        return flow_fn(**params)
    finally:
        watch.reset(token)
