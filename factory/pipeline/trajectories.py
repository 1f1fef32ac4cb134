"""Successful repair trajectories as chat-format JSONL for fine-tuning (what SWE-Gym / SWE-smith users train on).

Every conversation the agent held is in the LLM ledger, message by message; a resolved attempt's stages are
cut out of it whole: a call is a conversation's last when no later call of that attempt continues it (its
messages plus its reply are a prefix of none of them). One row per conversation: ``{"messages": [...],
"metadata": {instance, stage, model, configuration}}`` — the system prompt, every observation and every
reply, exactly as the model saw and wrote them. Only ``resolved`` attempts (the harness's word) qualify.
"""

from __future__ import annotations

import json
from pathlib import Path

from factory.store import Store


def _conversations(calls: list[dict]) -> list[tuple[str, list[dict]]]:
    chats = []
    for call in calls:
        if call["status"] not in ("ok", "replayed") or not call["response"]:
            continue
        messages = json.loads(call["request"])["messages"]
        reply = json.loads(call["response"]).get("text", "")
        chats.append((call["role"], [*messages, {"role": "assistant", "content": reply}]))
    return [(role, chat) for n, (role, chat) in enumerate(chats)
            if not any(later[: len(chat)] == chat for _, later in chats[n + 1:])]


def trajectories(store: Store, results: dict[str, list], model_label: str = "") -> list[dict]:
    """Rows for every resolved attempt of ``results`` (``{configuration: [Graded]}``)."""
    rows = []
    for name, graded in results.items():
        for g in graded:
            if g.status != "resolved":
                continue
            for role, chat in _conversations(store.llm_calls(g.attempt.ledger_key)):
                rows.append({"messages": chat, "metadata": {
                    "instance_id": g.attempt.instance_id, "stage": role.removeprefix("repair."),
                    "model": model_label or g.attempt.model, "configuration": name}})
    return rows


def write_jsonl(rows: list[dict], path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return len(rows)
