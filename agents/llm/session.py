"""One instance's conversation with the model: :class:`LLMSession` keeps its budget, its totals and its ledger.

Every call, successful or not, is written to the ``llm_calls`` table (role, instance, tokens, $, seconds,
the request and the response); that table is also the replay log, so in replay mode the session answers
from the recorded responses instead of the network, and budgets replay as they were spent. The HTTP side
(retries, error mapping) stays in :mod:`agents.llm.client`; this module only sees it through
:class:`SessionClient`, so the two do not import each other.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agents.llm.budget import Budget, BudgetExceeded
from agents.llm.errors import LLMError, ReplayMiss
from agents.llm.ledger import canonical_json, request_sha
from agents.llm.settings import LLMSettings, price_for
from agents.llm.wire import parse_completion
from factory.store import Store


@dataclass
class Reply:
    """One assistant answer with what it cost."""

    text: str
    tokens_in: int
    tokens_out: int
    tokens_cached: int
    usd: float
    seconds: float
    replayed: bool
    request_sha: str = ""


class SessionClient(Protocol):
    """What a session uses of its :class:`~agents.llm.client.LLMClient`."""

    settings: LLMSettings | None
    store: Store
    replay: bool

    def _require_settings(self) -> LLMSettings: ...

    def _complete(self, payload: dict[str, Any], retries: list[str], deadline: float) -> Any: ...

    def _scrub(self, text: str) -> str: ...


def _validate_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be a dict with str 'role' and 'content', got {m!r}")
        out.append({str(k): v for k, v in m.items()})
    return out


class LLMSession:
    """One instance's conversation budget and running totals (one session per instance and build)."""

    def __init__(self, client: SessionClient, instance_id: str, budget: Budget):
        self.client = client
        self.instance_id = instance_id
        self.budget = budget
        self.started = time.monotonic()
        self.calls = 0
        self.usd = 0.0
        """Dollars actually spent (replayed calls cost nothing)."""
        self.tokens_in = 0
        self.tokens_out = 0
        self.tokens_cached = 0
        self.seconds = 0.0
        self._budget_usd = 0.0  # spent + what replayed calls cost originally, so budgets replay faithfully
        self._occurrences: dict[str, int] = {}

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def check_budget(self) -> None:
        """Raise :class:`BudgetExceeded` if the next call would go over a limit."""
        b = self.budget
        if self.calls >= b.max_calls:
            raise BudgetExceeded("max_calls", f"{self.instance_id}: {self.calls} LLM calls reached max_calls")
        if self._budget_usd >= b.max_usd:
            raise BudgetExceeded(
                "max_usd", f"{self.instance_id}: ${self._budget_usd:.4f} spent reached max_usd=${b.max_usd:g}"
            )
        if self.elapsed() >= b.max_seconds:
            raise BudgetExceeded(
                "max_seconds", f"{self.instance_id}: {self.elapsed():.0f}s reached max_seconds={b.max_seconds:g}"
            )

    def chat(self, role: str, messages: list[dict[str, str]], tools: list[dict[str, Any]] | None = None) -> Reply:
        """Send ``messages`` (``{"role", "content"}`` dicts) as role ``role``; return the assistant's text.

        ``tools`` (OpenAI function schemas) are sent only when the model is configured for native tool
        calls; a tool call in the answer comes back as the same text action a text-only model would
        write, ``{"tool": <name>, ...arguments}``, so roles handle one format whatever the server.
        """
        messages = _validate_messages(messages)
        self.check_budget()
        client = self.client
        if client.replay:
            return self._replay(role, messages)
        settings = client._require_settings()
        temperature, max_tokens = settings.temperature, settings.max_tokens
        sha = request_sha(settings.model, messages, temperature, max_tokens)
        occurrence = self._occurrences.get(sha, 0)  # ok calls of this same request so far in this session
        request = {
            "model": settings.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
            "occurrence": occurrence,
        }
        payload = {"model": settings.model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
        if tools and settings.native_tools:
            payload["tools"] = tools
            request["tools"] = [t["function"]["name"] for t in tools]
        retries: list[str] = []
        start = time.monotonic()
        self.calls += 1
        try:
            completion = client._complete(payload, retries, self.started + self.budget.max_seconds)
            text, usage, finish = parse_completion(completion)
        except (LLMError, BudgetExceeded) as exc:
            seconds = time.monotonic() - start
            self.seconds += seconds
            client.store.add_llm_call(
                instance_id=self.instance_id, role=role, model=settings.model, request_sha=sha,
                request=canonical_json(request), response="", status="error",
                error=client._scrub(str(exc)), tokens_in=0, tokens_out=0, tokens_cached=0, usd=0.0, seconds=seconds,
            )
            raise
        seconds = time.monotonic() - start
        tokens_in = int(usage.get("prompt_tokens") or 0)
        tokens_out = int(usage.get("completion_tokens") or 0)
        tokens_cached = int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)
        price = price_for(settings.model, settings.prices)
        if price is None and getattr(completion, "model", None):
            price = price_for(str(completion.model), settings.prices)
        usd = price.usd(tokens_in, tokens_out, tokens_cached) if price else 0.0
        response = {"text": text, "usage": usage, "finish_reason": finish}
        if retries:
            response["retries"] = retries
        client.store.add_llm_call(
            instance_id=self.instance_id, role=role, model=settings.model, request_sha=sha,
            request=canonical_json(request), response=canonical_json(response), status="ok", error="",
            tokens_in=tokens_in, tokens_out=tokens_out, tokens_cached=tokens_cached, usd=usd, seconds=seconds,
        )
        self._occurrences[sha] = occurrence + 1
        self._account(tokens_in, tokens_out, tokens_cached, usd, usd, seconds)
        return Reply(text, tokens_in, tokens_out, tokens_cached, usd, seconds, False, sha)

    def _account(self, t_in: int, t_out: int, t_cached: int, usd: float, budget_usd: float, seconds: float) -> None:
        self.tokens_in += t_in
        self.tokens_out += t_out
        self.tokens_cached += t_cached
        self.usd += usd
        self._budget_usd += budget_usd
        self.seconds += seconds

    def _replay(self, role: str, messages: list[dict[str, str]]) -> Reply:
        """Answer from the ledger: the most recent ok response recorded for this request and occurrence."""
        store, settings = self.client.store, self.client.settings
        # Without settings, try every model the ledger knows (most recent first): the sha includes the model.
        models = [settings.model] if settings is not None else store.llm_models()
        temperature = settings.temperature if settings else 0.0
        max_tokens = settings.max_tokens if settings else 4096
        start = time.monotonic()
        tried: list[str] = []
        for model in models:
            sha = request_sha(model, messages, temperature, max_tokens)
            tried.append(sha)
            occurrence = self._occurrences.get(sha, 0)
            rows = store.recorded_responses(sha)
            if not rows:
                continue
            same = [r for r in rows if r["instance_id"] == self.instance_id] or rows
            hits = [r for r in same if json.loads(r["request"]).get("occurrence", 0) == occurrence]
            if not hits:
                raise ReplayMiss(
                    f"--replay: request {sha[:12]} of role {role!r} for {self.instance_id} was recorded "
                    f"{len(same)} time(s), but this run sends it again (occurrence {occurrence + 1})",
                    "rerun without --replay (with a model configured) to record it",
                )
            self._occurrences[sha] = occurrence + 1
            row = hits[-1]  # the most recent recording of this occurrence
            response = json.loads(row["response"])
            seconds = time.monotonic() - start
            request = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens,
                       "occurrence": occurrence, "replay_of": row["id"]}
            self.calls += 1
            store.add_llm_call(
                instance_id=self.instance_id, role=role, model=model, request_sha=sha,
                request=canonical_json(request), response=row["response"], status="replayed", error="",
                tokens_in=row["tokens_in"], tokens_out=row["tokens_out"], tokens_cached=row["tokens_cached"],
                usd=0.0, seconds=seconds,
            )
            self._account(row["tokens_in"], row["tokens_out"], row["tokens_cached"], 0.0, row["usd"], seconds)
            return Reply(str(response.get("text", "")), row["tokens_in"], row["tokens_out"], row["tokens_cached"],
                         0.0, seconds, True, sha)
        shown = ", ".join(s[:12] for s in tried) or "(no model recorded in this database)"
        raise ReplayMiss(
            f"--replay: no recorded response for role {role!r} of {self.instance_id} (request sha {shown})",
            "rerun without --replay (with a model configured) to record it; a changed prompt, model or "
            "temperature makes a new request",
        )
