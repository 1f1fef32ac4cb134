"""Explorer role, LLM implementation: browse the repository at base_commit with bounded tools.

Text actions (one JSON object per reply) work on every OpenAI-compatible server. Tools are read-only
and bounded — list a folder, read a file (size-capped), search names and contents (hit-capped) — and
the number of steps is capped; the result is a short text of setup facts for the other roles.
"""

from __future__ import annotations

import fnmatch
from typing import Literal

from pydantic import BaseModel

from agents.builder.explorer import SetupFacts
from agents.builder.llm_io import ask
from agents.builder.prompts import render_prompt
from factory.core.models import Candidate
from factory.mining.mirror import Snapshot

MAX_STEPS = 8
READ_CAP = 6000
SEARCH_HITS = 30
REPEAT_LIMIT = 3
"""The same action this many times in a row ends the exploration (small models loop on one call)."""


class ExplorerAction(BaseModel):
    tool: Literal["list_dir", "read_file", "search", "done"]
    path: str = "."
    pattern: str = ""
    facts: str = ""
    """With ``done``: the setup facts found (install steps, env vars, system packages, test command)."""


def _tool(name: str, description: str, **params: str) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": {k: {"type": "string", "description": v}
                                                        for k, v in params.items()},
                       "required": list(params)}}}


#: The same tools as native function schemas, for models configured with native tool calls.
TOOLS = [
    _tool("list_dir", "List a folder of the repository", path="folder, '.' for the top"),
    _tool("read_file", "Read a file (cut at a few thousand characters)", path="file path"),
    _tool("search", "Find files by name or glob, and lines containing a text", pattern="text or glob"),
    _tool("done", "Finish with the setup facts found", facts="install steps, env vars, system packages, test command"),
]


def list_dir(snapshot: Snapshot, path: str) -> str:
    prefix = "" if path in (".", "", "/") else path.strip("/") + "/"
    entries = set()
    for f in snapshot.files():
        if f.startswith(prefix):
            rest = f[len(prefix) :]
            entries.add(rest.split("/", 1)[0] + ("/" if "/" in rest else ""))
    return "\n".join(sorted(entries)[:200]) or f"(no such folder: {path})"


def read_file(snapshot: Snapshot, path: str) -> str:
    text = snapshot.read(path.strip("/"), max_bytes=READ_CAP + 1)
    if text is None:
        return f"(no such file: {path})"
    return text[:READ_CAP] + ("\n… (cut)" if len(text) > READ_CAP else "")


def search(snapshot: Snapshot, pattern: str) -> str:
    """File names matching ``pattern`` (glob or substring), then lines containing it (``git grep``)."""
    hits = [f for f in snapshot.files() if fnmatch.fnmatch(f, pattern) or pattern in f][:SEARCH_HITS]
    if pattern and len(hits) < SEARCH_HITS:
        hits += snapshot.grep(pattern, SEARCH_HITS - len(hits))
    return "\n".join(hits) or "(no match)"


def run_tool(snapshot: Snapshot, action: ExplorerAction) -> str:
    if action.tool == "list_dir":
        return list_dir(snapshot, action.path)
    if action.tool == "read_file":
        return read_file(snapshot, action.path)
    return search(snapshot, action.pattern or action.path)


def explore(
    session, snapshot: Snapshot, candidate: Candidate, facts: SetupFacts, feedback: str = ""
) -> tuple[str, int]:
    """Setup facts as text, and the tokens spent."""
    messages = [
        {"role": "system", "content": render_prompt("explorer_system.j2", max_steps=MAX_STEPS)},
        {"role": "user", "content": render_prompt(
            "explorer_task.j2", candidate=candidate, facts=facts, top=list_dir(snapshot, "."), feedback=feedback)},
    ]
    tokens, last, repeats = 0, None, 0
    for _ in range(MAX_STEPS):
        action, spent = ask(session, "explorer", messages, ExplorerAction, tools=TOOLS)
        tokens += spent
        if action.tool == "done":
            return action.facts, tokens
        repeats = repeats + 1 if action == last else 1
        last = action
        said = action.model_dump_json(exclude_defaults=True)
        if repeats >= REPEAT_LIMIT:
            return f"(explorer stopped: the same {action.tool} call {repeats} times in a row)", tokens
        if repeats > 1:
            result = (f"You sent exactly this call {repeats} times in a row; its result is above and will not "
                      f"change. Call another tool, or finish with done. After {REPEAT_LIMIT} identical calls "
                      "the exploration ends.")
        else:
            result = f"Result of {action.tool}:\n{run_tool(snapshot, action)}"
        messages += [{"role": "assistant", "content": said}, {"role": "user", "content": result}]
    return "(explorer ran out of steps)", tokens
