"""The LLM client for the builder roles (retries, budgets, a $ ledger, record and replay), one job per module.

``settings`` (where to call, prices), ``budget`` (per-instance limits), ``errors``, ``wire`` (reading the
endpoint's answers), ``ledger`` (the replay key), ``session`` (one instance's calls, recorded or replayed)
and ``client`` (HTTP with retries). This face only hands on the names callers import as ``agents.llm.X``;
anything else comes from the module that owns it.
"""

from agents.llm.budget import Budget, BudgetExceeded
from agents.llm.client import LLMClient, client_from_options, describe_llm
from agents.llm.errors import LLMRequestError, LLMUnavailable, ReplayMiss
from agents.llm.session import Reply
from agents.llm.settings import DEFAULT_PRICES, LLMSettings, Price, price_for

__all__ = [
    "DEFAULT_PRICES",
    "Budget",
    "BudgetExceeded",
    "LLMClient",
    "LLMRequestError",
    "LLMSettings",
    "LLMUnavailable",
    "Price",
    "ReplayMiss",
    "Reply",
    "client_from_options",
    "describe_llm",
    "price_for",
]
