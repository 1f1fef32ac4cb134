"""PyGithub, made polite: every API call goes through :meth:`GitHubAPI.call`, which waits and retries.

Why not PyGithub's own retry: it sleeps with ``time.sleep`` inside urllib3, which a test cannot
observe or speed up, and it does not wait for the primary quota. Here the client is built with
``retry=None`` and one loop decides: wait until the quota resets when ``X-RateLimit-Remaining`` is 0
(before the call, from the last response's headers, without spending a request to ask), honour
``Retry-After`` on secondary limits (403/429), back off on 5xx and dropped connections, and give up
after a bounded number of tries with a message that names the repository and the fix. ``sleep`` and
``clock`` are injectable, so rate-limit waits are tested with a fake clock, not real sleeps.
The token lives only in the PyGithub client: it is never logged, stored or put into a message.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import requests
from github import Auth, Github, GithubException, RateLimitExceededException

from factory.core.errors import UserError

T = TypeVar("T")

DEFAULT_API_URL = "https://api.github.com"
#: GitHub's advice for a secondary limit without ``Retry-After``: wait at least a minute.
SECONDARY_DEFAULT_WAIT = 60.0


@dataclass
class CallStats:
    """What the client did: requests sent, waits for quota or secondary limits, retries."""

    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    waits: list[tuple[str, float]] = field(default_factory=list)


class GitHubAPI:
    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        per_page: int = 100,
        max_tries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        say: Callable[[str], None] | None = None,
        timeout: float = 30.0,
    ):
        self.base_url = (base_url or DEFAULT_API_URL).rstrip("/")
        auth = Auth.Token(token) if token else None
        # retry=None and no fixed pause between requests (PyGithub's default sleeps 0.25 s of real time
        # before every request): waiting is this class's job, on an injectable clock.
        self.gh = Github(base_url=self.base_url, auth=auth, per_page=per_page, retry=None, timeout=int(timeout),
                         seconds_between_requests=None, seconds_between_writes=None)
        self.authenticated = auth is not None
        self.per_page = per_page
        self.max_tries = max_tries
        self.sleep, self.clock, self.say = sleep, clock, say
        self.stats = CallStats()

    @classmethod
    def from_env(cls, **kwargs) -> GitHubAPI:
        """``GITHUB_TOKEN`` (optional: unauthenticated works at 60 requests/hour) and ``GITHUB_API_URL``."""
        return cls(os.environ.get("GITHUB_TOKEN") or None, os.environ.get("GITHUB_API_URL") or None, **kwargs)

    # -- the one door to the API ------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)`` — one API request — with quota waits and bounded retries.

        ``what`` names the request in waits and errors (``pulls page 3 of acme/app``).
        """
        delay = 2.0
        for attempt in range(1, self.max_tries + 1):
            self._wait_for_quota(what)
            self.stats.requests += 1
            try:
                return fn(*args, **kwargs)
            except RateLimitExceededException as exc:
                wait = self._limit_wait(exc)
                reason = "secondary rate limit" if wait is not None else "rate limit"
                wait = wait if wait is not None else self._until_reset(exc.headers or {})
            except GithubException as exc:
                if exc.status == 401:
                    raise UserError(f"GitHub refused the token for {what} (401 Bad credentials)",
                                    "set GITHUB_TOKEN to a valid token, or unset it to work unauthenticated") from None
                if exc.status == 429 or (exc.status == 403 and _retry_after(exc.headers) is not None):
                    wait, reason = _retry_after(exc.headers) or SECONDARY_DEFAULT_WAIT, "secondary rate limit"
                elif exc.status >= 500:
                    wait, reason = delay, f"server error {exc.status}"
                    delay *= 2
                else:
                    raise
            except (requests.ConnectionError, requests.Timeout) as exc:
                wait, reason = delay, f"network error ({type(exc).__name__})"
                delay *= 2
            if attempt == self.max_tries:
                break
            self.stats.retries += 1
            self._wait(wait, f"{reason} on {what}")
        raise UserError(f"GitHub API kept failing for {what} ({self.max_tries} tries)",
                        "check GITHUB_API_URL and the service status, then rerun: mining resumes where it stopped")

    # -- JSON over PyGithub's requester ----------------------------------------------------------------
    # Raw JSON, not PyGithub objects: an object built from a list response is "incomplete", and reading
    # most of its attributes (even ``raw_data``) silently costs one more request per object.

    def get(self, what: str, path: str, params: dict | None = None) -> tuple[object, dict]:
        """``GET path`` (relative to the API root, or a full URL from a ``Link`` header): (JSON, headers)."""
        headers, data = self.call(what, self.gh.requester.requestJsonAndCheck, "GET", path, params)
        return data, headers

    def pages(self, what: str, path: str, params: dict | None = None) -> Iterator[list]:
        """Each page of a list endpoint, following ``Link: <...>; rel="next"`` as GitHub paginates."""
        url: str | None = path
        query = {"per_page": self.per_page, **(params or {})}
        page = 1
        while url:
            data, headers = self.get(f"{what} (page {page})", url, query)
            yield list(data or [])
            url, query, page = _next_link(headers), None, page + 1

    # -- waits --------------------------------------------------------------------------------------

    def _wait_for_quota(self, what: str) -> None:
        remaining, limit = self.gh.requester.rate_limiting
        if limit < 0 or remaining > 0:
            return  # nothing known yet, or quota left
        wait = self.gh.requester.rate_limiting_resettime - self.clock() + 1
        if wait > 0:
            hint = "" if self.authenticated else " (unauthenticated: set GITHUB_TOKEN for 5,000 requests/hour)"
            self._wait(wait, f"rate limit used up{hint}; waiting for the reset before {what}")

    def _limit_wait(self, exc: RateLimitExceededException) -> float | None:
        """Seconds a secondary limit asks for (``Retry-After``), None for the primary quota."""
        headers = exc.headers or {}
        after = _retry_after(headers)
        if after is not None:
            return after
        message = str((exc.data or {}).get("message", "")) if isinstance(exc.data, dict) else ""
        if "secondary" in message.lower():
            return SECONDARY_DEFAULT_WAIT
        return None

    def _until_reset(self, headers: dict) -> float:
        reset = _header(headers, "x-ratelimit-reset")
        if reset is not None:
            return max(float(reset) - self.clock() + 1, 1.0)
        return SECONDARY_DEFAULT_WAIT

    def _wait(self, seconds: float, why: str) -> None:
        self.stats.waits.append((why, seconds))
        self.stats.waited_seconds += seconds
        if self.say:
            self.say(f"GitHub: {why}: waiting {seconds:.0f}s")
        self.sleep(seconds)


def _header(headers: dict | None, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


_NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def _next_link(headers: dict | None) -> str | None:
    match = _NEXT.search(_header(headers, "link") or "")
    return match.group(1) if match else None


def _retry_after(headers: dict | None) -> float | None:
    value = _header(headers, "retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
