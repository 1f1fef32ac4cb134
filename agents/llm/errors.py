"""The LLM client's user-facing errors, each a :class:`~factory.core.errors.UserError` (what went wrong + the fix).

Separate so callers can tell "the endpoint cannot be used" (:class:`LLMUnavailable`) from "this request was
refused" (:class:`LLMRequestError`) and "replay has no recording" (:class:`ReplayMiss`) without importing
the client or the ``openai`` SDK.
"""

from __future__ import annotations

from factory.core.errors import UserError


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
