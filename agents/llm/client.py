"""The OpenAI-compatible chat client shared by a run: :class:`LLMClient`, its retry policy and error mapping.

One client per run talks to any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp server,
LiteLLM) through the official ``openai`` SDK, with the SDK's own retries off so that this module's loop
(honouring ``Retry-After``, an injectable ``sleep`` and the session's wall-time budget) is the only one.
Every failure becomes an :class:`~agents.llm.errors.LLMError` that says what to fix, with the API key
scrubbed from any text bound for the ledger (DESIGN §7). It hands out one
:class:`~agents.llm.session.LLMSession` per instance; :func:`client_from_options` builds one from a build's options.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import openai

from agents.llm.budget import Budget, BudgetExceeded
from agents.llm.errors import LLMRequestError, LLMUnavailable
from agents.llm.session import LLMSession
from agents.llm.settings import LLMSettings
from agents.llm.wire import error_text, retry_after
from factory.core.errors import UserError
from factory.core.settings import Settings
from factory.store import Store

_MAX_BACKOFF = 60.0


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
                        f"the LLM endpoint {settings.base_url} refused the API key ({self._scrub(error_text(exc))})",
                        "set FACTORY_LLM_API_KEY (or OPENAI_API_KEY) to a valid key for this endpoint",
                    ) from None
                if status == 404:
                    raise self._not_found(exc) from None
                if not (status in (408, 409, 429) or status >= 500):
                    raise LLMRequestError(
                        f"the LLM endpoint {settings.base_url} rejected a request for model {settings.model!r} "
                        f"({self._scrub(error_text(exc))})",
                        "shorten the conversation or lower max_tokens; check the server log for details",
                        status=status,
                    ) from None
                last: BaseException = exc
                delay = retry_after(exc)
            except openai.APIConnectionError as exc:  # includes APITimeoutError
                last = exc
                delay = None
            except openai.OpenAIError as exc:  # e.g. a body that is not a chat completion
                raise LLMRequestError(
                    f"the LLM endpoint {settings.base_url} sent an unusable answer ({self._scrub(error_text(exc))})",
                    "check that the server speaks the OpenAI chat-completions API",
                ) from None
            if attempt >= settings.max_retries:
                raise self._exhausted(last, attempt + 1) from None
            if delay is None:
                delay = min(settings.backoff_seconds * (2**attempt), _MAX_BACKOFF)
            if time.monotonic() + delay > deadline:
                raise BudgetExceeded(
                    "max_seconds",
                    f"waiting {delay:.1f}s to retry ({error_text(last)}) would pass the session's wall-time budget",
                )
            retries.append(self._scrub(error_text(last)))
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
            f"({self._scrub(error_text(exc))})",
            "wait and rerun (rate limit or server trouble), lower parallelism, or check the server",
        )

    def _not_found(self, exc: openai.APIStatusError) -> LLMUnavailable:
        settings = self._require_settings()
        text = self._scrub(error_text(exc))
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


def llm_settings_for_build(settings: Settings) -> LLMSettings | None:
    """The endpoint a build calls: ``None`` unless ``build.llm`` is on (``--llm`` or ``[build] llm = true``;
    a model in the environment alone never turns it on). On without a model is a user error, not a silent
    heuristics-only run."""
    if not settings.build.llm:
        return None
    llm = LLMSettings.from_endpoint(settings.llm)
    if llm is None and not settings.build.replay:
        raise UserError("the LLM builder is on (--llm or [build] llm = true) but no model is configured",
                        "set FACTORY_LLM_MODEL (and FACTORY_LLM_BASE_URL for a local server) or [llm] model in "
                        "factory.toml, or build without --llm")
    return llm


def describe_llm(settings: Settings) -> str:
    """One line saying what a build's LLM rounds will call and may spend — model, endpoint host (never the
    key), per-instance budget — printed before the first call; ``""`` when no LLM will be called."""
    options = settings.build
    budget = (f"budget per instance {options.max_llm_calls} call(s), ${options.max_llm_usd:g}, "
              f"{options.max_llm_seconds:g}s; {options.llm_rounds} round(s)")
    if options.replay:
        return f"LLM builder: replaying recorded calls from the ledger, no model is called ({budget})"
    llm = llm_settings_for_build(settings)
    if llm is None:
        return ""
    host = urlsplit(llm.base_url).netloc.rpartition("@")[2] or llm.base_url
    return f"LLM builder on: model {llm.model} at {host}; {budget}"


def client_from_options(store: Store, settings: Settings) -> tuple[LLMClient | None, Budget | None]:
    """The LLM client a build's settings ask for (``build.llm``, ``build.replay``, ``build.max_llm_*``, the
    ``[llm]`` endpoint), with its per-instance budget; ``(None, None)`` when the LLM builder is off (memory +
    heuristics only) — the default (:func:`llm_settings_for_build`)."""
    options = settings.build
    if not options.llm and not options.replay:
        return None, None
    llm = llm_settings_for_build(settings) if options.llm else LLMSettings.from_endpoint(settings.llm)
    budget = Budget(max_calls=options.max_llm_calls, max_usd=options.max_llm_usd, max_seconds=options.max_llm_seconds)
    return LLMClient(llm, store, replay=options.replay), budget
