"""How a chat call is written down in the ``llm_calls`` ledger: canonical JSON and the replay key.

Shared by the live path (which records) and the replay path (which looks recordings up), so both compute
exactly the same key: the sha256 of the canonical JSON of what decides the answer (model, messages,
temperature, max_tokens). A changed prompt, model or temperature is therefore a new request.
"""

from __future__ import annotations

import hashlib
import json


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_sha(model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
    """The replay key: sha256 of the canonical JSON of what decides the answer."""
    body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()
