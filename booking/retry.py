"""One retry policy for every call that may fail for a moment: the database, Xendit, Graph and
the channel's own outcome writes. Callers say what is worth retrying; this module says when."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator, Optional, TypeVar

from booking import metrics

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** n`` seconds before repeat n+1, at most ``cap``.

    ``attempts`` counts the first call too; ``None`` retries until the call succeeds (only for
    writes that must land, such as an outcome the lease keeps ours).
    """

    base: float = 0.1
    factor: float = 2.0
    cap: float = 30.0
    attempts: Optional[int] = 3

    def delays(self) -> Iterator[float]:
        """The waits between attempts (one fewer than ``attempts``)."""
        n = 0
        while self.attempts is None or n < self.attempts - 1:
            yield min(self.base * self.factor ** n, self.cap)
            n += 1


def _wait_after(exc: BaseException, delays: Iterator[float],
                retryable: Callable[[BaseException], bool], what: str, attempt: int,
                wait_for: Optional[Callable[[BaseException, float], float]]) -> Optional[float]:
    """How long to wait before the next attempt after ``exc``; None: give up (raise it)."""
    delay = next(delays, None) if retryable(exc) else None
    if delay is None:
        return None
    delay = wait_for(exc, delay) if wait_for else delay
    logger.warning("%s failed (attempt %d), retrying in %.2fs: %s", what, attempt, delay, exc)
    metrics.RETRIES.labels(what.split()[0].lower(), str(min(attempt, 9))).inc()
    return delay


def retry(call: Callable[[], T], retryable: Callable[[BaseException], bool],
          policy: Backoff = Backoff(), sleep: Callable[[float], None] = time.sleep,
          what: str = "call", wait_for: Optional[Callable[[BaseException, float], float]] = None
          ) -> T:
    """``call()``, repeated after the policy's waits while it raises what ``retryable`` accepts;
    the last error is raised as is. ``wait_for(error, planned)`` may lengthen a wait (a
    provider's own backoff advice)."""
    delays, attempt = policy.delays(), 1
    while True:
        try:
            return call()
        except Exception as exc:
            delay = _wait_after(exc, delays, retryable, what, attempt, wait_for)
            if delay is None:
                raise
            sleep(delay)
            attempt += 1


async def retry_async(call: Callable[[], Awaitable[T]], retryable: Callable[[BaseException], bool],
                      policy: Backoff = Backoff(), what: str = "call",
                      wait_for: Optional[Callable[[BaseException, float], float]] = None) -> T:
    """``retry`` for coroutines: the waits are ``asyncio.sleep``, never blocking the loop."""
    delays, attempt = policy.delays(), 1
    while True:
        try:
            return await call()
        except Exception as exc:
            delay = _wait_after(exc, delays, retryable, what, attempt, wait_for)
            if delay is None:
                raise
            await asyncio.sleep(delay)
            attempt += 1
