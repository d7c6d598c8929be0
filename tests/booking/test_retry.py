"""The one retry policy (booking/retry.py): waits, giving up, what is not retried."""
from __future__ import annotations

import asyncio

import pytest

from booking.retry import Backoff, retry, retry_async


class Flaky:
    """Fails ``times`` times with ``error``, then answers 42."""

    def __init__(self, times: int, error: Exception) -> None:
        self.times, self.error, self.calls = times, error, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.times:
            raise self.error
        return 42


def test_waits_grow_to_the_cap_and_the_last_error_is_raised():
    assert list(Backoff(base=1, factor=2, cap=5, attempts=5).delays()) == [1, 2, 4, 5]
    waits: list[float] = []
    flaky = Flaky(9, TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        retry(flaky, lambda e: isinstance(e, TimeoutError), Backoff(base=1, attempts=3),
              sleep=waits.append)
    assert flaky.calls == 3 and waits == [1, 2]


def test_success_after_retries_and_nothing_retried_that_is_not_retryable():
    waits: list[float] = []
    assert retry(Flaky(2, ConnectionError()), lambda e: True, Backoff(base=0.5, attempts=3),
                 sleep=waits.append) == 42
    assert waits == [0.5, 1.0]
    flaky = Flaky(1, ValueError("bad input"))
    with pytest.raises(ValueError):
        retry(flaky, lambda e: isinstance(e, ConnectionError), sleep=waits.append)
    assert flaky.calls == 1


def test_a_provider_may_lengthen_a_wait_and_coroutines_retry_the_same_way():
    waits: list[float] = []
    assert retry(Flaky(1, ConnectionError()), lambda e: True, Backoff(base=1, attempts=2),
                 sleep=waits.append, wait_for=lambda e, planned: planned * 4) == 42
    assert waits == [4]

    async def main() -> int:
        flaky = Flaky(2, ConnectionError())

        async def call() -> int:
            return flaky()

        return await retry_async(call, lambda e: True, Backoff(base=0.001, attempts=3))

    assert asyncio.run(main()) == 42
