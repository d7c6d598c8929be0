"""Concurrent identical searches share one computation; nothing is kept afterwards."""
from __future__ import annotations

import threading
import time

import pytest

from booking.slots import SingleFlight


def run_herd(flight: SingleFlight, compute, n: int = 8):
    release, outcomes = threading.Event(), []

    def blocking():
        release.wait(10)
        return compute()

    def call():
        try:
            outcomes.append(flight.do("k", blocking))
        except RuntimeError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while flight.waiting("k") < n - 1:  # every follower has joined the leader's call
        assert time.monotonic() < deadline, "followers never joined"
        time.sleep(0.001)
    release.set()
    for t in threads:
        t.join()
    return outcomes


def test_a_herd_shares_one_computation_and_the_next_call_runs_anew():
    flight, calls = SingleFlight(), []
    outcomes = run_herd(flight, lambda: calls.append(1) or len(calls))
    assert calls == [1] and outcomes == [1] * 8
    assert flight.do("k", lambda: "fresh") == "fresh"


def test_an_error_reaches_every_waiter():
    flight = SingleFlight()

    def fail():
        raise RuntimeError("database unavailable")

    outcomes = run_herd(flight, fail)
    assert len(outcomes) == 8 and all(isinstance(o, RuntimeError) for o in outcomes)
    with pytest.raises(KeyError):
        flight._calls["k"]
