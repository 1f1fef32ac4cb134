"""Reading what an OpenAI-compatible endpoint sends back: the completion, an error's text, a retry hint.

Kept apart from the client's retry policy so the tolerant parsing of servers that are only roughly
OpenAI-compatible (missing usage, ``null`` fields, native tool calls, odd ``Retry-After`` headers) lives in
one place and turns the SDK's objects into plain values the ledger can store.
"""

from __future__ import annotations

import json
import math
import time
from email.utils import parsedate_to_datetime
from typing import Any

import openai

from agents.llm.errors import LLMRequestError

_MAX_RETRY_AFTER = 600.0


def retry_after(exc: openai.APIStatusError) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms``, ``retry-after`` seconds or HTTP date)."""
    headers = exc.response.headers
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError):
                continue
        if math.isfinite(seconds):
            return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
    return None


def error_text(exc: BaseException) -> str:
    """One line for an SDK error: ``HTTP <status>: <server's message>``, else ``<type>: <message>``."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        return f"HTTP {exc.status_code}: {message or exc.message}"
    return f"{type(exc).__name__}: {exc}"


def parse_completion(completion: Any) -> tuple[str, dict[str, Any], str]:
    """Assistant text, the usage block as a plain dict, and the finish reason."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise LLMRequestError(
            "the LLM endpoint answered without any choice", "check the server: it is not OpenAI-compatible enough"
        )
    choice = choices[0]
    text = getattr(choice.message, "content", None) or ""
    calls = getattr(choice.message, "tool_calls", None) or []
    if calls:  # a native tool call, normalised to the text action every role reads
        function = calls[0].function
        try:
            arguments = json.loads(function.arguments or "{}")
        except ValueError:
            arguments = {"raw_arguments": function.arguments}
        text = json.dumps({"tool": function.name, **(arguments if isinstance(arguments, dict) else {})})
    usage_obj = getattr(completion, "usage", None)
    usage: dict[str, Any] = {}
    if usage_obj is not None:
        dumped = usage_obj.model_dump() if hasattr(usage_obj, "model_dump") else dict(usage_obj)
        usage = {k: v for k, v in dumped.items() if v is not None}
    return text, usage, str(getattr(choice, "finish_reason", "") or "")
