"""Ask a model for a JSON object of a known shape, and insist politely when it answers otherwise.

Models reply in prose, fenced code, or half-JSON; the roles need a validated object. A malformed reply
is shown back to the model with the validation error (bounded retries, each a budgeted call), and
after that the round ends with a recorded reason instead of guessing. A reply identical to the one before
is said to be so (small models repeat themselves).
"""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agents.builder.prompts import render_prompt

Model = TypeVar("Model", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


class MalformedOutput(Exception):
    """The model did not produce a valid object after the allowed retries."""


def extract_json(text: str) -> dict:
    """The first JSON object in ``text``: a fenced block, else the first ``{…}`` that parses on its own (a
    small model often sends two actions in one reply: the first well-formed one is taken, as the repair
    agent does), else the outermost ``{…}``."""
    match = _FENCE.search(text)
    if match:
        value = json.loads(match.group(1))
    else:
        start, end = text.find("{"), text.rfind("}")
        if start == -1 or end <= start:
            raise ValueError("no JSON object found in the reply")
        try:
            value, _ = json.JSONDecoder().raw_decode(text, start)
        except json.JSONDecodeError:
            value = json.loads(text[start : end + 1])
    if not isinstance(value, dict):
        raise ValueError("the JSON value is not an object")
    return value


def ask(
    session, role: str, messages: list[dict[str, str]], schema: type[Model], retries: int = 2,
    tools: list[dict] | None = None,
) -> tuple[Model, int]:
    """Ask until the reply parses as ``schema``; return it and the tokens spent (``tools``: native tool
    schemas for models configured to use them; their calls arrive as the same JSON)."""
    tokens = 0
    history = list(messages)
    previous = None
    for _ in range(retries + 1):
        reply = session.chat(role, history, tools=tools) if tools else session.chat(role, history)
        tokens += reply.tokens_in + reply.tokens_out
        try:
            return schema.model_validate(extract_json(reply.text)), tokens
        except (ValueError, ValidationError) as exc:
            error = str(exc).splitlines()[0] if not isinstance(exc, ValidationError) else _short(exc)
            if reply.text == previous:
                error += " (this reply is identical to your previous one: change it)"
            previous = reply.text
            history += [
                {"role": "assistant", "content": reply.text},
                {"role": "user", "content": render_prompt("malformed.j2", error=error,
                                                          schema=json.dumps(schema.model_json_schema()))},
            ]
    raise MalformedOutput(f"{role}: no valid {schema.__name__} after {retries + 1} replies ({error})")


def _short(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
