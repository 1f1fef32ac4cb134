"""The typed schema of an exported dataset row: one table that the parquet writer, the dataset card and
``docs/dataset.md`` all come from.

Why it exists: JSONL carries no types, so each reader guesses — pandas reads ``python_version`` "3.10" as
the float 3.1 and a nullable ``pull_number`` as float/NaN, Hugging Face ``datasets`` types an empty
``flaky_tests`` list as ``list<null>`` and turns ``created_at`` into a timestamp. A parquet file with this
schema (and the Hugging Face layout around it) gives every reader the same, documented types. The row
*values* come from :func:`factory.harness.dataset.instance_records`; :func:`check_fields` makes a row
field that this table does not type an error, so a new field cannot silently vanish from parquet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    """One feature: ``kind`` is ``string`` | ``int64`` | ``list<string>`` | ``struct`` (with ``fields``)."""

    name: str
    kind: str
    doc: str
    fields: tuple[Column, ...] = ()
    nullable: bool = False
    """Only ``pull_number`` may be null; every other value is present (an empty string or list if unknown)."""


def _s(name: str, doc: str) -> Column:
    return Column(name, "string", doc)


def _ls(name: str, doc: str) -> Column:
    return Column(name, "list<string>", doc)


COLUMNS: tuple[Column, ...] = (
    _s("repo", "`owner/name` of the repository."),
    _s("instance_id", "`owner__repo-N`: unique in the dataset."),
    _s("base_commit", "The commit the task starts from (40 hex digits)."),
    _s("patch", "The gold patch (source files only)."),
    _s("test_patch", "The patch adding or changing the tests that judge the task."),
    _s("problem_statement", "The issue text the task gives a solver."),
    _s("hints_text", "Comments on the issue before the fix (may be empty)."),
    _s("created_at", "When the fix was made: ISO 8601 with a UTC offset (`2024-03-01T09:00:00+00:00`), kept a "
                     "string as in SWE-bench's own data, so no reader turns it into its own timestamp type."),
    _s("version", "The release line of the repository at base_commit (nearest `X.Y` tag; `0.0` when none is "
                  "reachable: swebench up to 4.x keys its specs by it)."),
    _s("environment_setup_commit", "The commit whose dependencies the shared env image installed."),
    _ls("FAIL_TO_PASS", "pytest node ids that fail before the gold patch and pass after it."),
    _ls("PASS_TO_PASS", "pytest node ids that pass before and after."),
    _ls("issue_numbers", "Issues the fix resolves (`12`, or `owner/repo#12` for another repository)."),
    Column("pull_number", "int64", "The pull request of the fix; null for a candidate mined from git history.",
           nullable=True),
    _s("language", "Language of the repository (`python`)."),
    _s("source", "Where the candidate was mined from (`github:owner/repo`, `git:<url>`; `git` for a local path, "
                 "which names nothing outside this machine)."),
    _s("status", "Instance status (`valid`; others only with `--all`)."),
    _s("reason", "Rejection or error reason (empty for a valid instance)."),
    _s("image", "Docker image that runs the task (the repository at base_commit, dependencies installed)."),
    _s("image_name", "The same image, under the name mini-swe-agent's SWE-bench runner reads."),
    _s("image_digest", "The image ID (`sha256:` of its config) `image` had when the task was validated: "
                       "`factory images save` / `load` carry that exact image elsewhere and check it (empty "
                       "for instances validated before it was recorded)."),
    _s("log_parser", "The swebench 5.x log parser for the task's test log (`parse_log_pytest_v2`: node ids "
                     "with spaces kept whole)."),
    _s("eval_type", "The swebench 5.x grading mode (`pass_and_fail`: FAIL_TO_PASS and PASS_TO_PASS are judged)."),
    _s("builder", "Who produced the environment: `memory`, `heuristic` or `llm:<model>`."),
    _s("env_image", "The shared env image `image` is built on."),
    _s("python_version", "Python of the image (`3.10`): a string, never a number."),
    _s("dockerfile", "The env image's Dockerfile."),
    _s("eval_script", "The script that grades a run (applies the test patch, runs the target tests)."),
    Column("validation", "struct", "Summary of the validation runs.", fields=(
        Column("runs_before", "int64", "Runs with the test patch only."),
        Column("runs_after", "int64", "Runs with the test patch and the gold patch."),
        _ls("before", "Verdict of each before-run (`fail`, ...)."),
        _ls("after", "Verdict of each after-run (`pass`, ...)."),
        _ls("flaky_tests", "Tests whose outcome changed between runs of one phase."),
        _ls("unstable_tests", "Tests present in some runs of a phase but not all (left out of the lists)."),
    )),
)

NAMES: tuple[str, ...] = tuple(c.name for c in COLUMNS)


def check_fields(records: Iterable[dict[str, Any]], columns: tuple[Column, ...] = COLUMNS, where: str = "") -> None:
    """Raise if a row (or a struct in it) has a field the schema does not type, or lacks one it does: a
    writer given an explicit schema would drop the first silently and fill the second with nulls."""
    names = {c.name for c in columns}
    for record in records:
        if set(record) != names:
            extra, missing = sorted(set(record) - names), sorted(names - set(record))
            label = where or record.get("instance_id", "?")
            raise ValueError(f"export row {label}: fields not in the dataset schema {extra}, missing {missing}"
                             " (factory/harness/dataset_schema.py types every exported field)")
        for column in columns:
            if column.kind == "struct":
                check_fields([record[column.name]], column.fields, f"{record.get('instance_id', '?')}.{column.name}")


def arrow_schema() -> Any:
    """The ``pyarrow`` schema, with pandas metadata that keeps the nullable integers integers (``Int64``) when
    pandas reads the file (without it ``pull_number`` becomes float64 with NaN)."""
    import pyarrow as pa

    def arrow_type(column: Column) -> Any:
        if column.kind == "struct":
            return pa.struct([pa.field(f.name, arrow_type(f), nullable=f.nullable) for f in column.fields])
        if column.kind.startswith("list<"):
            return pa.list_(arrow_type(Column("item", column.kind[5:-1], "")))
        return {"string": pa.string(), "int64": pa.int64()}[column.kind]

    fields = [pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in COLUMNS]
    pandas = {"index_columns": [], "column_indexes": [], "columns": [
        {"name": c.name, "field_name": c.name, "pandas_type": "int64", "numpy_type": "Int64", "metadata": None}
        for c in COLUMNS if c.kind == "int64" and c.nullable
    ]}
    return pa.schema(fields, metadata={"pandas": json.dumps(pandas)})


def hf_features(columns: tuple[Column, ...] = COLUMNS) -> list[dict[str, Any]]:
    """The features as a Hugging Face dataset card lists them (``dataset_info.features``)."""
    out: list[dict[str, Any]] = []
    for c in columns:
        if c.kind == "struct":
            out.append({"name": c.name, "struct": hf_features(c.fields)})
        elif c.kind.startswith("list<"):
            out.append({"name": c.name, "list": c.kind[5:-1]})
        else:
            out.append({"name": c.name, "dtype": c.kind})
    return out


def hf_feature_reprs(columns: tuple[Column, ...] = COLUMNS) -> dict[str, str]:
    """``name -> repr`` of each feature as ``datasets`` 5 prints it (``List(Value('string'))``): what
    ``docs/dataset.md`` shows and the tests compare with a loaded dataset's ``features``."""
    def one(c: Column) -> str:
        if c.kind == "struct":
            return "{" + ", ".join(f"'{f.name}': {one(f)}" for f in c.fields) + "}"
        if c.kind.startswith("list<"):
            return f"List(Value('{c.kind[5:-1]}'))"
        return f"Value('{c.kind}')"

    return {c.name: one(c) for c in columns}


def markdown_table() -> str:
    """The column table of ``docs/dataset.md`` (kept equal to this schema by a test)."""
    lines = ["| column | type | null | meaning |", "|---|---|---|---|"]
    for c in COLUMNS:
        lines.append(f"| `{c.name}` | `{c.kind}` | {'yes' if c.nullable else 'no'} | {c.doc} |")
        for f in c.fields:
            lines.append(f"| `{c.name}.{f.name}` | `{f.kind}` | {'yes' if f.nullable else 'no'} | {f.doc} |")
    return "\n".join(lines) + "\n"
