"""Which failures are worth retrying, and how long to wait: the seed's error table.

Transient (retried, and counted as breaker failures): HTTP 429 (rate_limited), 502/503/504
(unavailable), timeouts, connection errors. Never retried: 400/401/403 and other 4xx
(client: a retry cannot succeed) and other 5xx (server: counted by the breaker, not retried).
Backoff is exponential with full jitter; a ``Retry-After`` is honoured when it fits the
deadline. Clock, sleep and random are injectable so tests never really wait.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from agentconsole.agent.errors import DependencyError

TRANSIENT = frozenset({"rate_limited", "unavailable", "timeout", "connection"})
BREAKER_FAILURES = TRANSIENT | {"server"}
KINDS = (*sorted(TRANSIENT), "client", "server")


@dataclass(frozen=True)
class Failure:
    kind: str  # rate_limited | unavailable | timeout | connection | client | server
    status: int | None = None
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT


def kind_for_status(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status in (502, 503, 504):
        return "unavailable"
    if status == 408:
        return "timeout"
    return "server" if status >= 500 else "client"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def classify(exc: BaseException) -> Failure | None:
    """The failure kind of ``exc``, or None when it is not a dependency failure we know."""
    if isinstance(exc, DependencyError):
        return Failure(exc.kind, exc.status, exc.retry_after)
    module = type(exc).__module__
    if module.startswith("httpx"):
        return _classify_httpx(exc)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError on 3.11
        return Failure("timeout")
    if isinstance(exc, ConnectionError):
        return Failure("connection")
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
    if isinstance(status, int) and 400 <= status < 600:
        return Failure(kind_for_status(status))
    return None


def _classify_httpx(exc: BaseException) -> Failure | None:
    import httpx

    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        return Failure(kind_for_status(status), status, retry_after)
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout")
    if isinstance(exc, httpx.TransportError):
        return Failure("connection")
    return None


@dataclass
class RetryPolicy:
    """Bounded retries: ``max_attempts`` in all (1 = no retry) within ``deadline`` seconds."""

    max_attempts: int = 4
    base_delay: float = 0.2
    max_delay: float = 5.0
    deadline: float = 30.0
    max_retry_after: float = 30.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int, failure: Failure) -> float:
        """Full jitter: uniform in [0, min(max_delay, base * 2**attempt)], at least Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** (attempt - 1)))
        wait = self.random() * ceiling
        if failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self.max_retry_after))
        return wait

    def next_wait(self, attempt: int, failure: Failure, started: float) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None when we must give up."""
        if not failure.transient or attempt >= self.max_attempts:
            return None
        if failure.retry_after is not None and failure.retry_after > self.max_retry_after:
            return None
        wait = self.delay(attempt, failure)
        if self.clock() - started + wait > self.deadline:
            return None
        return wait


NO_RETRY = RetryPolicy(max_attempts=1)
