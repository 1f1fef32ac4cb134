"""How a chat call is written down in the ``llm_calls`` ledger: canonical JSON and the replay key.

Shared by the live path (which records) and the replay path (which looks recordings up), so both compute
exactly the same key: the sha256 of the canonical JSON of what decides the answer (model, messages,
temperature, max_tokens). A changed prompt, model or temperature is therefore a new request.
"""

from __future__ import annotations

import hashlib
import json
import re


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_sha(model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
    """The replay key: sha256 of the canonical JSON of what decides the answer."""
    body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


# What changes from run to run in a log without changing what it says: durations ("in 0.03s", pytest
# centres its summary in a rule of "=" whose length follows), transfer rates, container/layer ids.
# What a command printed is part of the next prompt, so it must be steady or --replay would miss on every rerun
# (the builder's evidence, the repair agent's observations).
_VOLATILE = [
    (re.compile(r"^(FACTORY_TEST_SECONDS=)[0-9.]+", re.M), r"\1<t>"),  # the eval script's test-command timing
    (re.compile(r"\b\d+(?:\.\d+)?s\b(?: \(\d+:\d\d:\d\d\))?"), "<t>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?[kMG]i?B/s\b"), "<rate>"),
    (re.compile(r"\b[0-9a-f]{12,64}\b"), "<id>"),
    (re.compile(r"([=_-])\1{2,}"), r"\1\1\1"),
]


def steady(text: str) -> str:
    """``text`` with timings, rates and ids masked, so the same outcome always reads the same."""
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return text
