"""Every Bot API call the bot makes goes through ``RetryingRateLimiter``: flood limits, and retries.

* 429 Too Many Requests (``RetryAfter``): PTB's ``AIORateLimiter`` pauses *all* requests for
  ``retry_after`` seconds and retries (``max_retries``); it also keeps the bot under Telegram's
  flood limits (30 messages/s overall, 20/min per group).
* ``NetworkError`` (dropped or refused connections, timeouts, HTTP 5xx — everything PTB reports
  as NetworkError except ``BadRequest``, which would fail again): retried with exponential
  backoff (0.5 s, 1 s, 2 s, …, at most ``attempts`` tries). ``Forbidden`` (bot blocked),
  ``BadRequest`` and ``InvalidToken`` are not retried.

Duplicates: a request whose connection fails before any response is retried. When the failure
happened before the server processed it (a refused connection, a stale keep-alive connection,
the fake server's "drop" fault) the retry delivers the only copy. When the server *did* process
it and the response was lost (a read timeout, the fake server's "lost_response" fault), the
Bot API has no idempotency key and no way to ask whether a message went out, so the retry sends
a second copy: delivery is at-least-once. We prefer a rare duplicate to a lost answer. Such
ambiguous retries are logged at WARNING. Chat actions ("typing") are sent once, never retried
and not counted against the flood limits.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

# Failures where the request certainly did not reach the server's processing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_UNLIMITED = frozenset({"sendChatAction", "answerCallbackQuery"})
_NO_RETRY = frozenset({"sendChatAction"})


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, NetworkError) and not isinstance(exc, BadRequest)


def _maybe_processed(exc: BaseException) -> bool:
    """True if the server may have acted on the request even though we got no answer."""
    if not isinstance(exc, NetworkError) or isinstance(exc, BadRequest):
        return False
    cause = exc.__cause__
    if isinstance(cause, _NOT_SENT):
        return False
    # An HTTP error response (5xx) means the server answered: it reported a failure.
    return cause is not None or isinstance(exc, TimedOut)


def _seconds(exc: RetryAfter) -> float:
    value = getattr(exc, "_retry_after", None)  # a timedelta; the public attribute warns in v22
    if value is None:
        value = exc.retry_after
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


class RetryingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` + retries of transient network errors and 5xx."""

    def __init__(self, *, attempts: int = 5, base_delay: float = 0.5, max_delay: float = 8.0,
                 flood_limits: bool = True, max_retries: int = 3) -> None:
        if flood_limits:
            super().__init__(max_retries=max_retries)
        else:
            super().__init__(overall_max_rate=0, group_max_rate=0, max_retries=max_retries)
        self.attempts = max(1, attempts)
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.retries = 0  # counters, for tests and logs
        self.ambiguous_retries = 0

    async def process_request(self, callback, args: Any, kwargs: dict[str, Any], endpoint: str,
                              data: dict[str, Any], rate_limit_args: int | None):
        if endpoint in _UNLIMITED:
            call = lambda: callback(*args, **kwargs)  # noqa: E731
        else:
            call = lambda: super(RetryingRateLimiter, self).process_request(  # noqa: E731
                callback, args, kwargs, endpoint, data, rate_limit_args)
        attempts = 1 if endpoint in _NO_RETRY else self.attempts
        delay = self.base_delay
        for attempt in range(1, attempts + 1):
            try:
                return await call()
            except RetryAfter as exc:  # the limiter's own retries are used up
                if attempt == attempts:
                    raise
                wait = _seconds(exc)
                log.warning("%s: flood limit; retrying in %.1f s (attempt %d/%d)", endpoint, wait + 0.1,
                            attempt + 1, attempts)
                await asyncio.sleep(wait + 0.1)
            except NetworkError as exc:
                if not _is_retryable(exc) or attempt == attempts:
                    raise
                self.retries += 1
                if _maybe_processed(exc):
                    self.ambiguous_retries += 1
                    log.warning("%s failed (%s) after it may have been processed; retrying in %.1f s "
                                "(attempt %d/%d): a duplicate is possible", endpoint, exc, delay, attempt + 1, attempts)
                else:
                    log.warning("%s failed (%s); retrying in %.1f s (attempt %d/%d)", endpoint, exc, delay,
                                attempt + 1, attempts)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_delay)
        raise AssertionError("unreachable")
