"""OpenAI-compatible chat client for the LLM builder roles: retries, budgets, a $ ledger, record and replay.

One :class:`LLMClient` per run talks to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp
server, LiteLLM) through the official ``openai`` SDK. Each instance gets an :class:`LLMSession` with a
:class:`Budget`; every call, successful or not, is written to the ``llm_calls`` table (role, instance,
tokens, $, seconds, the request and the response), which is also the replay log: with ``replay=True``
the client answers from the recorded responses and never touches the network. API keys never reach the
ledger (DESIGN §7).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import openai
from pydantic import BaseModel, Field, SecretStr

from factory.core.errors import UserError
from factory.store import Store

# ---- prices ------------------------------------------------------------------------------------


class Price(BaseModel):
    """List price of one model in USD per million tokens."""

    input_per_mtok: float
    """Prompt tokens not served from the provider's cache."""
    output_per_mtok: float
    """Completion tokens."""
    cached_per_mtok: float = 0.0
    """Prompt tokens served from the cache; 0 means no separate cache price (billed as input)."""

    def usd(self, tokens_in: int, tokens_out: int, tokens_cached: int = 0) -> float:
        """Cost of one call; ``tokens_in`` includes the cached tokens, as in the OpenAI ``usage`` block."""
        cached = min(max(tokens_cached, 0), tokens_in)
        cached_price = self.cached_per_mtok or self.input_per_mtok
        return ((tokens_in - cached) * self.input_per_mtok + cached * cached_price
                + tokens_out * self.output_per_mtok) / 1_000_000


#: Published list prices (USD / 1M tokens, 2025). Override or extend with ``LLMSettings.prices`` or
#: ``FACTORY_LLM_PRICES``; a model not listed costs $0 (a local server) but its tokens are still counted.
DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00, cached_per_mtok=0.50),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60, cached_per_mtok=0.10),
    "gpt-4.1-nano": Price(input_per_mtok=0.10, output_per_mtok=0.40, cached_per_mtok=0.025),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00, cached_per_mtok=1.25),
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60, cached_per_mtok=0.075),
    "deepseek-chat": Price(input_per_mtok=0.28, output_per_mtok=0.42, cached_per_mtok=0.028),
    "deepseek-reasoner": Price(input_per_mtok=0.28, output_per_mtok=0.42, cached_per_mtok=0.028),
    "gemini-2.5-flash": Price(input_per_mtok=0.30, output_per_mtok=2.50, cached_per_mtok=0.075),
    "gemini-2.5-pro": Price(input_per_mtok=1.25, output_per_mtok=10.00, cached_per_mtok=0.31),
    "claude-sonnet-4": Price(input_per_mtok=3.00, output_per_mtok=15.00, cached_per_mtok=0.30),
}


def price_for(model: str, prices: Mapping[str, Price]) -> Price | None:
    """The price of ``model``: exact name, then without a provider prefix (``openai/gpt-4o-mini``), then
    the longest listed name it starts with (dated snapshots such as ``gpt-4o-mini-2024-07-18``)."""
    for name in (model, model.rsplit("/", 1)[-1]):
        if name in prices:
            return prices[name]
    bare = model.rsplit("/", 1)[-1]
    matches = [name for name in prices if bare.startswith(name + "-")]
    return prices[max(matches, key=len)] if matches else None


# ---- settings, budget, errors -------------------------------------------------------------------


def _env(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return value
    return None


class LLMSettings(BaseModel):
    """Where and how to call the model; :meth:`from_env` reads ``FACTORY_LLM_*`` (falling back to ``OPENAI_*``)."""

    base_url: str
    """Endpoint root including the API version, e.g. ``http://localhost:8000/v1`` (``FACTORY_LLM_BASE_URL``)."""
    model: str
    """Model name the endpoint knows (``FACTORY_LLM_MODEL``)."""
    api_key: SecretStr | None = None
    """Bearer key (``FACTORY_LLM_API_KEY``); never stored, logged or exported. Local servers need none."""
    timeout: float = 120
    """Seconds one HTTP request may take before it counts as a (retryable) timeout."""
    max_retries: int = 4
    """Retries after the first try on 429, 5xx, timeouts and connection errors."""
    backoff_seconds: float = 1.0
    """First retry delay; doubles per retry (capped at 60 s) unless the server sends ``Retry-After``."""
    temperature: float = 0.0
    """Sampling temperature; 0 keeps runs as repeatable as the server allows."""
    max_tokens: int = 4096
    """Upper bound on completion tokens per call."""
    native_tools: bool = False
    """Whether the model supports native tool calls; off = text actions, which work on every server."""
    prices: dict[str, Price] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    """USD per million tokens by model name; unknown models cost $0 (tokens still counted)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """Settings from the environment, or ``None`` when no model is configured (LLM roles then stay off).

        ``FACTORY_LLM_BASE_URL`` / ``FACTORY_LLM_MODEL`` / ``FACTORY_LLM_API_KEY`` each fall back to
        ``OPENAI_BASE_URL`` / ``OPENAI_MODEL`` / ``OPENAI_API_KEY``. Optional: ``FACTORY_LLM_TIMEOUT``
        (seconds) and ``FACTORY_LLM_PRICES`` (JSON ``{"model": {"input_per_mtok": .., "output_per_mtok": ..}}``
        merged over the defaults).
        """
        env = os.environ if environ is None else environ
        model = _env(env, "FACTORY_LLM_MODEL", "OPENAI_MODEL")
        if model is None:
            return None
        base_url = _env(env, "FACTORY_LLM_BASE_URL", "OPENAI_BASE_URL") or "https://api.openai.com/v1"
        key = _env(env, "FACTORY_LLM_API_KEY", "OPENAI_API_KEY")
        values: dict[str, Any] = {"base_url": base_url, "model": model, "api_key": SecretStr(key) if key else None}
        timeout = _env(env, "FACTORY_LLM_TIMEOUT")
        if timeout is not None:
            try:
                values["timeout"] = float(timeout)
            except ValueError as exc:
                raise UserError(
                    f"FACTORY_LLM_TIMEOUT={timeout!r} is not a number of seconds", "set it to e.g. 120"
                ) from exc
        if (_env(env, "FACTORY_LLM_NATIVE_TOOLS") or "").lower() in ("1", "true", "yes"):
            values["native_tools"] = True
        prices_json = _env(env, "FACTORY_LLM_PRICES")
        if prices_json is not None:
            try:
                extra = {name: Price.model_validate(p) for name, p in json.loads(prices_json).items()}
            except (ValueError, AttributeError, TypeError) as exc:
                raise UserError(
                    "FACTORY_LLM_PRICES is not a JSON object of model -> price",
                    'set it like {"my-model": {"input_per_mtok": 0.2, "output_per_mtok": 0.8}}',
                ) from exc
            values["prices"] = {**DEFAULT_PRICES, **extra}
        return cls(**values)


class Budget(BaseModel):
    """Per-instance limits; a session refuses the next call once one is reached."""

    max_calls: int = 40
    """Chat calls (a call's retries count once)."""
    max_usd: float = 0.50
    """Dollars spent (by the price table)."""
    max_seconds: float = 1800.0
    """Wall-clock seconds since the session started."""


BudgetReason = Literal["max_calls", "max_usd", "max_seconds"]


class BudgetExceeded(Exception):  # noqa: N818 - the name the builder codes against
    """A session's budget is spent; ``reason`` says which limit: ``max_calls`` | ``max_usd`` | ``max_seconds``."""

    def __init__(self, reason: BudgetReason, message: str):
        super().__init__(message)
        self.reason: BudgetReason = reason


class LLMError(UserError):
    """Base of the LLM client's user-facing errors."""


class LLMUnavailable(LLMError):  # noqa: N818 - the name the builder codes against
    """The endpoint cannot be used: unreachable, keeps failing, rejects the key, or does not know the model."""


class LLMRequestError(LLMError):
    """The endpoint rejected this request (an HTTP 4xx other than 401/403/404/429, or an unreadable answer)."""

    def __init__(self, what: str, fix: str, status: int | None = None):
        super().__init__(what, fix)
        self.status = status


class ReplayMiss(LLMError):  # noqa: N818 - the name the builder codes against
    """``--replay`` met a request that was never recorded."""


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


# ---- helpers ------------------------------------------------------------------------------------

_MAX_BACKOFF = 60.0
_MAX_RETRY_AFTER = 600.0


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_sha(model: str, messages: list[dict[str, str]], temperature: float, max_tokens: int) -> str:
    """The replay key: sha256 of the canonical JSON of what decides the answer."""
    body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def _retry_after(exc: openai.APIStatusError) -> float | None:
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


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, openai.APIStatusError):
        body = exc.body
        message = body.get("message") if isinstance(body, dict) else None
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        return f"HTTP {exc.status_code}: {message or exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _validate_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise ValueError(f"message {i} must be a dict with str 'role' and 'content', got {m!r}")
        out.append({str(k): v for k, v in m.items()})
    return out


# ---- client and session -------------------------------------------------------------------------


class LLMClient:
    """Shared per run; hands out one :class:`LLMSession` per instance.

    ``settings=None`` is allowed in replay mode (the model name is then taken from the ledger); in live mode
    the first :meth:`LLMSession.chat` raises :class:`LLMUnavailable` saying how to configure a model.
    """

    def __init__(
        self,
        settings: LLMSettings | None,
        store: Store,
        *,
        replay: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.settings = settings
        self.store = store
        self.replay = replay
        self.sleep = sleep
        self._openai: openai.OpenAI | None = None

    @property
    def model(self) -> str:
        if self.settings is not None:
            return self.settings.model
        if self.replay:
            recorded = self.store.llm_models()
            if recorded:
                return recorded[0]
        return "none"

    @property
    def label(self) -> str:
        """What produced an environment built with this client: ``llm:<model>``."""
        return f"llm:{self.model}"

    def session(self, instance_id: str, budget: Budget) -> LLMSession:
        return LLMSession(self, instance_id, budget)

    # -- live calls --

    def _client(self) -> openai.OpenAI:
        settings = self._require_settings()
        if self._openai is None:
            key = settings.api_key.get_secret_value() if settings.api_key else "no-key"
            # max_retries=0: our retry loop (with the injectable sleep and the ledger) is the only one.
            self._openai = openai.OpenAI(
                base_url=settings.base_url, api_key=key, timeout=settings.timeout, max_retries=0
            )
        return self._openai

    def _require_settings(self) -> LLMSettings:
        if self.settings is None:
            raise LLMUnavailable(
                "no LLM model is configured",
                "set FACTORY_LLM_MODEL (and FACTORY_LLM_BASE_URL for a local server, FACTORY_LLM_API_KEY if it "
                "needs one), or rerun with --replay to answer from recorded calls",
            )
        return self.settings

    def _scrub(self, text: str) -> str:
        """Remove the API key from any text bound for the ledger (some servers echo it in 401 messages)."""
        if self.settings is not None and self.settings.api_key is not None:
            key = self.settings.api_key.get_secret_value()
            if key:
                text = text.replace(key, "***")
        return text

    def _complete(self, payload: dict[str, Any], retries: list[str], deadline: float) -> Any:
        """One chat completion with our retry policy; raises :class:`LLMError` / :class:`BudgetExceeded`."""
        settings = self._require_settings()
        client = self._client()
        attempt = 0
        while True:
            try:
                return client.chat.completions.create(**payload)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status in (401, 403):
                    raise LLMUnavailable(
                        f"the LLM endpoint {settings.base_url} refused the API key ({self._scrub(_error_text(exc))})",
                        "set FACTORY_LLM_API_KEY (or OPENAI_API_KEY) to a valid key for this endpoint",
                    ) from None
                if status == 404:
                    raise self._not_found(exc) from None
                if not (status in (408, 409, 429) or status >= 500):
                    raise LLMRequestError(
                        f"the LLM endpoint {settings.base_url} rejected a request for model {settings.model!r} "
                        f"({self._scrub(_error_text(exc))})",
                        "shorten the conversation or lower max_tokens; check the server log for details",
                        status=status,
                    ) from None
                last: BaseException = exc
                delay = _retry_after(exc)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                last = exc
                delay = None
            except openai.OpenAIError as exc:  # e.g. a body that is not a chat completion
                raise LLMRequestError(
                    f"the LLM endpoint {settings.base_url} sent an unusable answer ({self._scrub(_error_text(exc))})",
                    "check that the server speaks the OpenAI chat-completions API",
                ) from None
            if attempt >= settings.max_retries:
                raise self._exhausted(last, attempt + 1) from None
            if delay is None:
                delay = min(settings.backoff_seconds * (2**attempt), _MAX_BACKOFF)
            if time.monotonic() + delay > deadline:
                raise BudgetExceeded(
                    "max_seconds",
                    f"waiting {delay:.1f}s to retry ({_error_text(last)}) would pass the session's wall-time budget",
                )
            retries.append(self._scrub(_error_text(last)))
            self.sleep(delay)
            attempt += 1

    def _exhausted(self, exc: BaseException, tries: int) -> LLMUnavailable:
        settings = self._require_settings()
        url = settings.base_url
        if isinstance(exc, openai.APITimeoutError):
            return LLMUnavailable(
                f"the LLM endpoint {url} did not answer within {settings.timeout:g}s ({tries} tries)",
                "check that the server is not overloaded, or raise FACTORY_LLM_TIMEOUT",
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f": {cause}" if cause else ""
            return LLMUnavailable(
                f"cannot reach the LLM endpoint {url} ({tries} tries{detail})",
                "start the server or fix FACTORY_LLM_BASE_URL",
            )
        return LLMUnavailable(
            f"the LLM endpoint {url} kept failing for model {settings.model!r} after {tries} tries "
            f"({self._scrub(_error_text(exc))})",
            "wait and rerun (rate limit or server trouble), lower parallelism, or check the server",
        )

    def _not_found(self, exc: openai.APIStatusError) -> LLMUnavailable:
        settings = self._require_settings()
        text = self._scrub(_error_text(exc))
        if "model" not in text.lower():
            return LLMUnavailable(
                f"the LLM endpoint {settings.base_url} has no chat completions route ({text})",
                "fix FACTORY_LLM_BASE_URL: it usually ends in /v1",
            )
        known = ""
        try:  # best effort: list what the server does serve
            names = sorted(m.id for m in self._client().models.list())
            if names:
                known = "; it serves: " + ", ".join(names[:10]) + (" …" if len(names) > 10 else "")
        except Exception:  # noqa: BLE001 - the listing is only a hint
            pass
        return LLMUnavailable(
            f"the LLM endpoint {settings.base_url} does not know the model {settings.model!r} ({text}){known}",
            "set FACTORY_LLM_MODEL to a model the server serves",
        )


class LLMSession:
    """One instance's conversation budget and running totals (one session per instance and build)."""

    def __init__(self, client: LLMClient, instance_id: str, budget: Budget):
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
            text, usage, finish = _parse_completion(completion)
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


def _parse_completion(completion: Any) -> tuple[str, dict[str, Any], str]:
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


def client_from_options(store: Store, options: Any) -> tuple[LLMClient | None, Budget | None]:
    """The LLM client a build's options ask for (``llm``, ``replay``, ``max_llm_*``), with its per-instance
    budget; ``(None, None)`` when LLMs are off or no model is configured (memory + heuristics only)."""
    if not options.llm and not options.replay:
        return None, None
    settings = LLMSettings.from_env()
    if settings is None and not options.replay:
        return None, None
    budget = Budget(max_calls=options.max_llm_calls, max_usd=options.max_llm_usd, max_seconds=options.max_llm_seconds)
    return LLMClient(settings, store, replay=options.replay), budget
