"""Native tool calls (optional per model) reach the explorer as the same actions text-only models write."""

from __future__ import annotations

from pathlib import Path

from agents.builder import llm_explorer
from agents.builder.explorer import explore as heuristic_explore
from agents.llm import Budget, LLMClient, LLMSettings
from examples import weatherlib
from factory.mining.git_source import candidate_from_commit
from factory.mining.mirror import Snapshot, open_mirror
from factory.store import Store
from tests.llm_server import ScriptedLLM

SCRIPT = [
    {"tool_call": {"name": "read_file", "arguments": {"path": "ci/deps/test-packages.txt"}}},
    {"tool_call": {"name": "done", "arguments": {"facts": "needs humanize from ci/deps/test-packages.txt"}}},
]


def _setup(tmp_path: Path):
    repo = weatherlib.create(tmp_path / "repo")
    mirror = open_mirror(str(repo), tmp_path / "mirrors")
    head = mirror.repo.commit("refs/heads/main")
    cand = candidate_from_commit(mirror, head, set())
    snapshot = Snapshot(mirror, cand.base_commit)
    return cand, snapshot, heuristic_explore(snapshot), Store(tmp_path / "f.duckdb")


def test_native_tool_calls_drive_the_explorer(tmp_path: Path) -> None:
    cand, snapshot, facts, store = _setup(tmp_path)
    with ScriptedLLM(list(SCRIPT)) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model", native_tools=True), store)
        text, tokens = llm_explorer.explore(client.session(cand.instance_id, Budget()), snapshot, cand, facts)
    assert text == "needs humanize from ci/deps/test-packages.txt"
    assert tokens > 0
    assert [t["function"]["name"] for t in server.requests[0]["tools"]] == ["list_dir", "read_file", "search", "done"]
    # the tool result was fed back: the second request carries the file the first call read
    assert "humanize>=4.0" in server.requests[1]["messages"][-1]["content"]


def test_text_actions_by_default(tmp_path: Path) -> None:
    cand, snapshot, facts, store = _setup(tmp_path)
    script = ['{"tool": "list_dir", "path": "ci"}', '{"tool": "done", "facts": "ci has deps/"}']
    with ScriptedLLM(script) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        text, _ = llm_explorer.explore(client.session(cand.instance_id, Budget()), snapshot, cand, facts)
    assert text == "ci has deps/"
    assert "tools" not in server.requests[0]
    assert server.requests[1]["messages"][-1]["content"].endswith("deps/")


def test_two_actions_in_one_reply_take_the_first_and_a_looping_model_is_stopped(tmp_path: Path) -> None:
    """What a real 0.5B model did when it drove the explorer: two JSON actions in one reply, then the same
    list_dir call again and again. The first action is taken; a repeat is answered, not run again; the third
    identical call ends the exploration with that reason (before the step budget)."""
    cand, snapshot, facts, store = _setup(tmp_path)
    again = '{"tool": "list_dir", "path": "ci"}'
    script = ['{"tool": "list_dir", "path": "ci"}\n{"tool": "read_file", "path": "setup.py"}', again, again]
    with ScriptedLLM(script) as server:
        client = LLMClient(LLMSettings(base_url=server.url, model="test-model"), store)
        text, _ = llm_explorer.explore(client.session(cand.instance_id, Budget()), snapshot, cand, facts)
    assert text == "(explorer stopped: the same list_dir call 3 times in a row)"
    assert len(server.requests) == 3
    assert server.requests[1]["messages"][-1]["content"].startswith("Result of list_dir:")
    assert "exactly this call 2 times in a row" in server.requests[2]["messages"][-1]["content"]
