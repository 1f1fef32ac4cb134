"""Load an agent's predictions in SWE-bench's format: what the evaluation harness grades.

Accepted as is: ``.jsonl`` (one object a line), ``.json`` holding a list of objects or a dict keyed by
instance id (mini-swe-agent's and SWE-agent's ``preds.json``), and the word ``gold`` (the dataset's own
patches, model ``gold``). Each record has ``instance_id``, ``model_name_or_path`` and ``model_patch``;
an empty or null ``model_patch`` is an *empty* prediction, never run. A malformed record is reported
with its line number and skipped, so one bad line never stops the run; only a file that cannot be read
at all (missing, not JSON) is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from factory.core.errors import UserError

GOLD = "gold"
FIELDS = ("instance_id", "model_name_or_path", "model_patch")


@dataclass(frozen=True)
class Prediction:
    instance_id: str
    model: str
    """``model_name_or_path`` as given (the report directory replaces ``/`` with ``__``)."""
    patch: str | None
    """``model_patch``; None when it was null."""
    line: int = 0
    """Line of the record in its file (0 for ``gold``)."""

    @property
    def empty(self) -> bool:
        """Empty or null patch (whitespace only counts as empty): not run, listed in ``empty_patch_ids``."""
        return not (self.patch or "").strip()


@dataclass
class Predictions:
    items: list[Prediction] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """One line per skipped record: ``<file> line <n>: <what is wrong>``."""
    source: str = ""
    _lines: dict[tuple[str, str], int] = field(default_factory=dict, repr=False)
    """(instance id, model) -> line of the prediction kept."""


def load(source: str | Path, dataset: list[dict] | None = None) -> Predictions:
    """Predictions from ``source`` (a file, or ``gold`` — which needs the ``dataset`` records)."""
    if str(source) == GOLD:
        if dataset is None:
            raise ValueError("gold predictions need the dataset records")
        return Predictions(
            [Prediction(r["instance_id"], GOLD, r.get("patch") or "") for r in dataset], [], GOLD
        )
    path = Path(source)
    if not path.is_file():
        raise UserError(
            f"predictions file {path} not found" + (" (it is a directory)" if path.is_dir() else ""),
            "pass --predictions with your agent's .jsonl / .json / preds.json file, or `gold`",
        )
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read predictions file {path}: {exc}", "pass a UTF-8 JSON or JSONL file") from exc
    loaded = Predictions(source=str(path))
    if path.suffix.lower() != ".json":
        _load_jsonl(text, path, loaded)
        return loaded
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg == "Extra data":  # a .json file that is really JSON Lines (SWE-agent's all_preds.json…)
            _load_jsonl(text, path, loaded)
            return loaded
        raise UserError(
            f"predictions file {path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            "fix the file, or write one prediction per line as .jsonl (bad lines are then skipped one by one)",
        ) from exc
    if not isinstance(data, list | dict):
        raise UserError(
            f"predictions file {path} holds a JSON {type(data).__name__}, not a list or an object",
            "write a list of predictions, or an object keyed by instance id (like preds.json)",
        )
    _load_json(text, path, loaded)
    return loaded


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _load_jsonl(text: str, path: Path, out: Predictions) -> None:
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except json.JSONDecodeError as exc:
            out.problems.append(f"{path.name} line {number}: not JSON ({exc.msg}, column {exc.colno})")
            continue
        _add(record, None, number, path, out)


def _load_json(text: str, path: Path, out: Predictions) -> None:
    """A valid JSON list of records or dict keyed by instance id, walked item by item (with
    ``raw_decode``) so that each record knows the line it starts on."""
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    opener = text[pos]
    closer = "]" if opener == "[" else "}"
    pos = _skip_ws(text, pos + 1)
    while text[pos] != closer:
        key = None
        if opener == "{":
            key, pos = decoder.raw_decode(text, pos)
            pos = _skip_ws(text, _skip_ws(text, pos) + 1)  # past the ':'
        start = pos
        value, pos = decoder.raw_decode(text, pos)
        _add(value, key, _line(text, start), path, out)
        pos = _skip_ws(text, pos)
        if text[pos] == ",":
            pos = _skip_ws(text, pos + 1)


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _add(record: object, key: str | None, line: int, path: Path, out: Predictions) -> None:
    where = f"{path.name} line {line}"
    if not isinstance(record, dict):
        out.problems.append(f"{where}: expected an object with {', '.join(FIELDS)}, got {type(record).__name__}")
        return
    instance_id = record.get("instance_id", key)
    if key is not None and instance_id != key:
        out.problems.append(f"{where}: instance_id {instance_id!r} differs from its key {key!r}")
        return
    missing = [f for f in FIELDS if f not in record and not (f == "instance_id" and key is not None)]
    if missing:
        out.problems.append(f"{where}: missing {', '.join(missing)}")
        return
    model, patch = record["model_name_or_path"], record["model_patch"]
    if not isinstance(instance_id, str) or not instance_id.strip():
        out.problems.append(f"{where}: instance_id must be a non-empty string, got {instance_id!r}")
        return
    if not isinstance(model, str) or not model.strip():
        out.problems.append(f"{where}: model_name_or_path must be a non-empty string, got {model!r}")
        return
    if patch is not None and not isinstance(patch, str):
        out.problems.append(f"{where}: model_patch must be a string or null, got {type(patch).__name__}")
        return
    if model.replace("/", "__") in (".", ".."):
        out.problems.append(f"{where}: model_name_or_path {model!r} cannot name a report directory")
        return
    first = out._lines.get((instance_id, model))
    if first is not None:
        out.problems.append(f"{where}: second prediction for {instance_id} by {model} (first on line {first})")
        return
    out._lines[(instance_id, model)] = line
    out.items.append(Prediction(instance_id, model, patch, line))
