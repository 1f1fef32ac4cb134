"""Where each setting's value comes from: built-in default < ``factory.toml`` < environment < flag.

Every stage, flow and command gets its settings from :func:`resolve`, and ``factory config`` shows the
same resolution with the origin of each value, so what ``--help`` promises is what a run uses. Paths in
the file are relative to the file; paths from the environment or a flag are relative to the working
directory. An invalid value is reported in the words of the place it came from (``FACTORY_CPUS='x'``,
``factory.toml: build.cpus``, ``--cpus``) with the fix.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from factory.core.errors import UserError
from factory.core.project import DEFAULT_FILE, Project, read_file
from factory.core.settings import Section, Settings

#: Settings whose file values are paths relative to the file.
FILE_RELATIVE = ("db", "home", "export.out")


@dataclass(frozen=True)
class SettingField:
    """One setting: its dotted key as written in ``factory.toml`` (``build.workers``) and its field."""

    key: str
    info: FieldInfo

    @property
    def env(self) -> list[str]:
        extra = self.info.json_schema_extra
        return list(extra.get("env", [])) if isinstance(extra, dict) else []

    @property
    def description(self) -> str:
        return " ".join((self.info.description or "").split())


def setting_fields(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[SettingField]:
    """Every leaf setting of ``model`` (tables are walked), in declaration order."""
    for name, info in model.model_fields.items():
        key = prefix + (info.alias or name)
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, Section):
            yield from setting_fields(kind, key + ".")
        else:
            yield SettingField(key, info)


def find_config(config: Path | str | None) -> Path | None:
    """The project file to read: ``config`` if given, else ``./factory.toml`` if it exists, else none."""
    if config is not None:
        return Path(config).expanduser().absolute()
    default = Path(DEFAULT_FILE)
    return default.absolute() if default.is_file() else None


def get(data: Mapping[str, Any], key: str) -> Any:
    """The value at dotted ``key`` of nested mappings (KeyError when absent)."""
    for part in key.split("."):
        if not isinstance(data, Mapping):
            raise KeyError(key)
        data = data[part]
    return data


def _put(data: dict, key: str, value: object) -> None:
    *tables, leaf = key.split(".")
    for table in tables:
        data = data.setdefault(table, {}) if isinstance(data.get(table, {}), dict) else {}
    data[leaf] = value


def _parsed(field: SettingField, name: str, value: str) -> object:
    """An environment value as the field takes it: a table (``dict``) is written as JSON in the variable."""
    if getattr(field.info.annotation, "__origin__", None) is not dict:
        return value
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise UserError(f"{name} is not JSON ({exc})", f"set {name} to a JSON object, e.g. "
                        '{"my-model": {"input_per_mtok": 0.2, "output_per_mtok": 0.8}}') from None
    if not isinstance(parsed, dict):
        raise UserError(f"{name} is not a JSON object", f"set {name} to a JSON object of {field.key} entries")
    return parsed


def resolve(
    config: Path | str | None = None,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Project:
    """The project and every setting, layered: defaults < the file ``config`` < ``environ`` < ``flags``.

    ``config`` None means no file (callers that want ``./factory.toml`` pass :func:`find_config`'s answer).
    ``flags`` maps dotted keys to values; None values are flags not given. The result's ``origins`` say
    where each value that is not a default came from.
    """
    environ = os.environ if environ is None else environ
    path = Path(config).expanduser().absolute() if config is not None else None
    raw = read_file(path) if path is not None else {}
    data = copy.deepcopy(raw)
    origins: dict[str, str] = {}
    fields = list(setting_fields())
    for field in fields:
        try:
            value = get(raw, field.key)
        except KeyError:
            continue
        origins[field.key] = path.name if path else DEFAULT_FILE
        if field.key in FILE_RELATIVE and isinstance(value, str):
            _put(data, field.key, str((path.parent / Path(value).expanduser()).absolute()))
    for field in fields:
        for name in field.env:
            value = environ.get(name, "").strip()
            if value and (field.key != "images.ca_bundle" or Path(value).is_file()):
                _put(data, field.key, _parsed(field, name, value))
                origins[field.key] = f"env {name}"
                break
    for key, value in (flags or {}).items():
        if value is not None:
            _put(data, key, value)
            origins[key] = "flag " + (flag_names or {}).get(key, "--" + key.rpartition(".")[2].replace("_", "-"))
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, path, data, origins) from None
    project.path, project.origins = path, origins
    return project


def _explain(exc: ValidationError, path: Path | None, data: dict, origins: dict[str, str]) -> UserError:
    """The first validation error, said where the value came from."""
    first = exc.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    origin = origins.get(key, "")
    try:
        value = get(data, key)
    except KeyError:
        value = None
    if origin.startswith("env "):
        name = origin.removeprefix("env ")
        return UserError(f"{name}={value!r}: {first['msg']}", f"set {name} to a valid value for {key} "
                         "(`factory config` lists every setting with its default), or unset it")
    if origin.startswith("flag "):
        return UserError(f"{origin.removeprefix('flag ')} {value!r}: {first['msg']}", "see the command's --help")
    return UserError(f"{path or DEFAULT_FILE}: {key}: {first['msg']}",
                     "fix that setting; `factory config` lists every setting, and docs/settings.md documents them")


def effective(config: Path | str | None = None) -> Project:
    """What a run in this directory with this environment would use (``./factory.toml`` if present), or
    the built-in defaults when that file cannot be read: ``--help`` must not fail because of a bad file
    (the run itself then says what is wrong)."""
    try:
        return resolve(find_config(config))
    except UserError:
        return Project()


def load(config: Path | str | None = None) -> Project:
    """The project a run here sees: ``config`` (or ``./factory.toml`` when it exists) with the environment."""
    return resolve(find_config(config))
