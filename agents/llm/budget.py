"""Per-instance limits on LLM use: :class:`Budget` and the :class:`BudgetExceeded` a session raises.

Its own module because the builder codes against both (it catches ``BudgetExceeded`` to stop a round and
says which limit ended it) without needing the client, and the limits are plain data a build's options fill in.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from factory.core.settings import BuildSettings

_BUILD = BuildSettings.model_fields  # the defaults' one source: the ``[build] max_llm_*`` settings


class Budget(BaseModel):
    """Per-instance limits; a session refuses the next call once one is reached."""

    max_calls: int = _BUILD["max_llm_calls"].default
    """Chat calls (a call's retries count once)."""
    max_usd: float = _BUILD["max_llm_usd"].default
    """Dollars spent (by the price table)."""
    max_seconds: float = _BUILD["max_llm_seconds"].default
    """Wall-clock seconds since the session started."""


BudgetReason = Literal["max_calls", "max_usd", "max_seconds"]


class BudgetExceeded(Exception):  # noqa: N818 - the name the builder codes against
    """A session's budget is spent; ``reason`` says which limit: ``max_calls`` | ``max_usd`` | ``max_seconds``."""

    def __init__(self, reason: BudgetReason, message: str):
        super().__init__(message)
        self.reason: BudgetReason = reason
