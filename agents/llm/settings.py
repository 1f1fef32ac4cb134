"""Where and how to call the model, and what its tokens cost: :class:`LLMSettings`, :class:`Price`.

Kept apart from the client so the configuration can be validated and tested without any network code.
The variables themselves (``FACTORY_LLM_*`` / ``OPENAI_*``) are declared once, in the settings model's
``[llm]`` table (``factory/core/settings.py``), so ``factory config`` shows where each value came from; the
API key is a :class:`~pydantic.SecretStr` from the moment it is read, so it never reaches a log or the
ledger (DESIGN §7).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field, SecretStr, ValidationError

from factory.core.errors import UserError
from factory.core.resolve import resolve
from factory.core.settings import LLMEndpoint

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


# ---- settings -----------------------------------------------------------------------------------


class LLMSettings(BaseModel):
    """Where and how to call the model: the ``[llm]`` settings (:class:`~factory.core.settings.LLMEndpoint`,
    which declares their ``FACTORY_LLM_*`` / ``OPENAI_*`` variables) with the price table merged in."""

    base_url: str
    """Endpoint root including the API version, e.g. ``http://localhost:8000/v1``."""
    model: str
    """Model name the endpoint knows."""
    api_key: SecretStr | None = None
    """Bearer key; never stored, logged or exported. Local servers need none."""
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
    def from_endpoint(cls, endpoint: LLMEndpoint) -> LLMSettings | None:
        """The client settings of the resolved ``[llm]`` table, or ``None`` when no model is configured (the
        LLM roles then stay off)."""
        if endpoint.model is None:
            return None
        try:
            extra = {name: Price.model_validate(price) for name, price in endpoint.prices.items()}
        except ValidationError as exc:
            raise UserError(f"llm.prices (FACTORY_LLM_PRICES): {exc.errors()[0]['msg']}",
                            'give each model {"input_per_mtok": .., "output_per_mtok": ..}') from None
        return cls(base_url=endpoint.base_url, model=endpoint.model, api_key=endpoint.api_key,
                   timeout=endpoint.timeout, max_retries=endpoint.max_retries,
                   backoff_seconds=endpoint.backoff_seconds, temperature=endpoint.temperature,
                   max_tokens=endpoint.max_tokens, native_tools=endpoint.native_tools,
                   prices={**DEFAULT_PRICES, **extra})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LLMSettings | None:
        """:meth:`from_endpoint` of the ``[llm]`` settings the environment alone gives (no project file)."""
        return cls.from_endpoint(resolve(None, environ=environ).llm)
